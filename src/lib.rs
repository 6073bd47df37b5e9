//! xinshi (信使, "messenger"): a self-hosted instant-messaging server that speaks LeanCloud
//! IM's WebSocket protocol, so apps built on LeanCloud's official IM SDKs keep working.
//!
//! # Layout
//!
//! The code follows the shape of a message through the server:
//!
//! - [`gateway`]: the edge. actix-web serves HTTP (server discovery, the SDKs' REST calls)
//!   and the WebSocket; one task per socket decodes frames and writes the socket's outbound
//!   queue. No chat state lives here.
//! - [`protocol`]: the LeanCloud `GenericCommand` schema as hand-written prost types, and
//!   the frame codec ([`protocol::frame`]).
//! - [`session`]: one ractor actor per logged-in client per socket: login, presence, the
//!   `unread` summary, and routing of the client's commands.
//! - [`conversation`]: one actor per active conversation (sequence numbers, durable append,
//!   fan-out, read and delivered marks, membership, settings, roles), plus the `conv/start`,
//!   `conv/query` and `logs` handlers. [`query`] evaluates the Mongo-style `where`
//!   conditions. Actors never wait for the store on their thread, and are supervised
//!   (docs/actors.md: runtimes, ordering, what a crash loses).
//! - [`delivery`]: under the actors: presence, each socket's outbound queue
//!   ([`delivery::outbox`]) and replies by address ([`delivery::Reply`]). Conversations
//!   answer and fan out through it and never hold a socket.
//! - [`store`]: the domain layer over a FoundationDB-shaped key-value engine
//!   ([`store::kv`]: fjall embedded, PostgreSQL, FoundationDB with `--features fdb`), the
//!   node-wide commit pipeline, and the owner epochs that fence a conversation's writes
//!   ([`store::owner`]).
//! - [`services`]: what everything shares below the actors (configuration, clock, store,
//!   presence, tokens, rate limits); [`node`]: the services plus the conversation
//!   directory, as sessions see it; [`server`]: starting and stopping. Imports run one way
//!   (docs/actors.md, "Imports"; checked by `tests/integration/layers.rs`).
//! - [`cluster`]: several nodes over one shared store, connected by ractor_cluster:
//!   membership, one router per node through which everything between nodes goes, and
//!   the placement of conversations on nodes.
//! - [`signature`]: the HMAC-SHA1 operation signatures apps use to authorise logins and
//!   conversation operations.
//! - [`config`], [`error`] (LeanCloud error codes), [`ids`], [`clock`], [`pem`].
//!
//! # The message path
//!
//! `direct` frame → socket task → session actor (size check) → conversation actor
//! (membership, de-duplication by client token, next sequence number) → commit pipeline
//! (merges the appends of all conversations into one fsync'd commit) → conversation actor
//! → `ack` to the sender, then one encoded `direct` push queued on every online session of
//! every member. An `ack` therefore means "stored durably".
//!
//! # Bounds
//!
//! What one client can cost is bounded where it comes in (docs/decisions.md, "Hardening"):
//! frame sizes at the frame header ([`gateway::guard`]); queued bytes per socket, per reply
//! and per node, and stalled queues ([`delivery::outbox`]); rate buckets per client, socket
//! and IP address ([`session::rate`]); the fields of a `direct` ([`session`]); the work of a
//! query ([`query::Budget`]); running conversation actors ([`conversation::Directory`]);
//! logouts remembered in memory ([`session::token`]) and login nonces
//! ([`signature::Nonces`]); in a cluster, bytes queued per link to another node and the size
//! of one message between nodes ([`cluster::link`]). The store's journal is checked when it
//! opens, and a store that fails for good stops the process ([`store`]) rather than leave it
//! up but unable to write.

pub mod clock;
pub mod cluster;
pub mod config;
pub mod conversation;
pub mod delivery;
pub mod error;
pub mod gateway;
pub mod ids;
pub mod node;
pub mod pem;
pub mod protocol;
pub mod query;
pub mod server;
pub mod services;
pub mod session;
pub mod signature;
pub mod store;
