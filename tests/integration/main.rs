//! Integration tests: a real server on an ephemeral 127.0.0.1 port with a temporary data
//! directory, spoken to over WebSocket with the raw LeanCloud protocol.

mod child;
mod client;

mod abuse;
mod blacklist;
mod client_ids;
mod cluster;
mod cluster_routes;
mod compose;
mod conv_info;

mod conversations;
mod edge;
mod errors;
mod hardening_query;
mod history;
mod journal;
mod layers;
mod limits;
mod members;
mod messages;
mod restart;
mod roles;
mod sessions;
mod shared_store;
mod shutup;
mod signatures;
mod socket_edge;
mod store_faults;
mod supervision;
mod tags;
mod temporary;
mod tls;
mod unread;
mod update;
