//! Remaining payloads: `ErrorCommand`, `BlacklistCommand`, `DataCommand`,
//! `RoomCommand`, `PresenceCommand`, `ReportCommand`, `PubsubCommand`
//! (spec/wire-protocol.md §4.4).

use super::{JsonObjectMessage, StatusType};

/// Payload of `cmd = error`, also used for per-member failures (`failed_pids`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ErrorCommand {
    #[prost(int32, required, tag = "1")]
    pub code: i32,
    /// The symbolic error name, e.g. `INVALID_MESSAGING_TARGET`.
    #[prost(string, required, tag = "2")]
    pub reason: String,
    /// Hook-defined code.
    #[prost(int32, optional, tag = "3")]
    pub app_code: Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub detail: Option<String>,
    /// Peer ids the error applies to.
    #[prost(string, repeated, tag = "5")]
    pub pids: Vec<String>,
    /// Hook-defined message.
    #[prost(string, optional, tag = "6")]
    pub app_msg: Option<String>,
}

/// Payload of `cmd = blacklist`: block, unblock, query, check.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BlacklistCommand {
    /// Conversation blocking clients (with `to_pids`).
    #[prost(string, optional, tag = "1")]
    pub src_cid: Option<String>,
    #[prost(string, repeated, tag = "2")]
    pub to_pids: Vec<String>,
    /// Client blocking conversations (with `to_cids`).
    #[prost(string, optional, tag = "3")]
    pub src_pid: Option<String>,
    #[prost(string, repeated, tag = "4")]
    pub to_cids: Vec<String>,
    #[prost(int32, optional, tag = "5")]
    pub limit: Option<i32>,
    /// Paging cursor.
    #[prost(string, optional, tag = "6")]
    pub next: Option<String>,
    #[prost(string, repeated, tag = "8")]
    pub blocked_pids: Vec<String>,
    #[prost(string, repeated, tag = "9")]
    pub blocked_cids: Vec<String>,
    #[prost(string, repeated, tag = "10")]
    pub allowed_pids: Vec<String>,
    #[prost(message, repeated, tag = "11")]
    pub failed_pids: Vec<ErrorCommand>,
    /// Signature timestamp.
    #[prost(int64, optional, tag = "12")]
    pub t: Option<i64>,
    /// Signature nonce.
    #[prost(string, optional, tag = "13")]
    pub n: Option<String>,
    /// Signature.
    #[prost(string, optional, tag = "14")]
    pub s: Option<String>,
}

/// Payload of `cmd = data`: Android push / LiveQuery data.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DataCommand {
    #[prost(string, repeated, tag = "1")]
    pub ids: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    pub msg: Vec<JsonObjectMessage>,
    #[prost(bool, optional, tag = "3")]
    pub offline: Option<bool>,
}

/// Payload of `cmd = room` (legacy chat rooms).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RoomCommand {
    #[prost(string, optional, tag = "1")]
    pub room_id: Option<String>,
    /// Signature.
    #[prost(string, optional, tag = "2")]
    pub s: Option<String>,
    /// Signature timestamp.
    #[prost(int64, optional, tag = "3")]
    pub t: Option<i64>,
    /// Signature nonce.
    #[prost(string, optional, tag = "4")]
    pub n: Option<String>,
    #[prost(bool, optional, tag = "5")]
    pub transient: Option<bool>,
    #[prost(string, repeated, tag = "6")]
    pub room_peer_ids: Vec<String>,
    #[prost(string, optional, tag = "7")]
    pub by_peer_id: Option<String>,
}

/// Payload of `cmd = presence` (unused by current SDKs).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PresenceCommand {
    /// A [`StatusType`].
    #[prost(enumeration = "StatusType", optional, tag = "1")]
    pub status: Option<i32>,
    #[prost(string, repeated, tag = "2")]
    pub session_peer_ids: Vec<String>,
    #[prost(string, optional, tag = "3")]
    pub cid: Option<String>,
}

/// Payload of `cmd = report`, e.g. a device-token upload.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReportCommand {
    #[prost(bool, optional, tag = "1")]
    pub initiative: Option<bool>,
    /// What is reported, e.g. `token`.
    #[prost(string, optional, tag = "2")]
    pub r#type: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub data: Option<String>,
}

/// Payload of `cmd = pubsub` (unused).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PubsubCommand {
    #[prost(string, optional, tag = "1")]
    pub cid: Option<String>,
    #[prost(string, repeated, tag = "2")]
    pub cids: Vec<String>,
    #[prost(string, optional, tag = "3")]
    pub topic: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub subtopic: Option<String>,
    #[prost(string, repeated, tag = "5")]
    pub topics: Vec<String>,
    #[prost(string, repeated, tag = "6")]
    pub subtopics: Vec<String>,
    #[prost(message, optional, tag = "7")]
    pub results: Option<JsonObjectMessage>,
}
