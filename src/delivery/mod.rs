//! Delivery: the layer under the actors that gets frames to sessions.
//!
//! - [`presence`]: which sessions of each client are online on this node, and how to reach
//!   them (their outbox, and a [`SessionControl`](presence::SessionControl) to end them).
//! - [`outbox`]: each socket's outbound queue and the node-wide bounds on them.
//! - [`reply`]: where the answer to one request goes ([`Reply`]): the request's address
//!   (node, session, `i`), resolved here to the session's outbox.
//!
//! - [`remote`]: sessions on other nodes, and the way to them ([`remote::Peers`]) that the
//!   cluster puts in place.
//!
//! Conversations and sessions answer through [`Reply`] and fan out through
//! [`Presence::deliver`](presence::Presence::deliver); neither holds a socket, nor knows
//! whether the session it reaches is on this node or another.

pub mod outbox;
pub mod presence;
pub mod remote;
pub mod reply;

pub use self::reply::{Addr, Reply};
