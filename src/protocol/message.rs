//! Message payloads: `DirectCommand`, `AckCommand`, `UnreadTuple`,
//! `UnreadCommand`, `LogItem`, `LogsCommand` (+ `QueryDirection`),
//! `RcpCommand`, `ReadTuple`, `ReadCommand`, `PatchItem`, `PatchCommand`
//! (spec/wire-protocol.md §4.3–4.4).

use bytes::Bytes;

/// Payload of `cmd = direct`: a message being sent or delivered.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DirectCommand {
    /// Text payload (usually TypedMessage JSON).
    #[prost(string, optional, tag = "1")]
    pub msg: Option<String>,
    /// Legacy.
    #[prost(string, optional, tag = "2")]
    pub uid: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub from_peer_id: Option<String>,
    /// Server timestamp of the message, ms.
    #[prost(int64, optional, tag = "4")]
    pub timestamp: Option<i64>,
    /// Delivered from the offline store.
    #[prost(bool, optional, tag = "5")]
    pub offline: Option<bool>,
    /// More offline messages follow.
    #[prost(bool, optional, tag = "6")]
    pub has_more: Option<bool>,
    /// Legacy / directed messages.
    #[prost(string, repeated, tag = "7")]
    pub to_peer_ids: Vec<String>,
    /// Sender wants a delivery receipt.
    #[prost(bool, optional, tag = "10")]
    pub r: Option<bool>,
    #[prost(string, optional, tag = "11")]
    pub cid: Option<String>,
    /// Message id (server to receiver).
    #[prost(string, optional, tag = "12")]
    pub id: Option<String>,
    /// Not stored, not delivered offline, not acked by receivers.
    #[prost(bool, optional, tag = "13")]
    pub transient: Option<bool>,
    /// Client-generated de-duplication token.
    #[prost(string, optional, tag = "14")]
    pub dt: Option<String>,
    /// Legacy.
    #[prost(string, optional, tag = "15")]
    pub room_id: Option<String>,
    /// JSON for the offline push notification.
    #[prost(string, optional, tag = "16")]
    pub push_data: Option<String>,
    /// Held by the server and sent if the sender drops unexpectedly.
    #[prost(bool, optional, tag = "17")]
    pub will: Option<bool>,
    #[prost(int64, optional, tag = "18")]
    pub patch_timestamp: Option<i64>,
    /// Binary payload, instead of `msg`.
    #[prost(bytes = "bytes", optional, tag = "19")]
    pub binary_msg: Option<Bytes>,
    /// Peers @-mentioned.
    #[prost(string, repeated, tag = "20")]
    pub mention_pids: Vec<String>,
    /// @all.
    #[prost(bool, optional, tag = "21")]
    pub mention_all: Option<bool>,
    /// 1 normal, 2 transient (chat room), 3 system, 4 temporary.
    #[prost(int32, optional, tag = "22")]
    pub conv_type: Option<i32>,
}

/// Payload of `cmd = ack`: the server's send result, or a client's receive-ack.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AckCommand {
    /// Set when a send failed.
    #[prost(int32, optional, tag = "1")]
    pub code: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub reason: Option<String>,
    /// Client receive-ack: id of the message received.
    #[prost(string, optional, tag = "3")]
    pub mid: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub cid: Option<String>,
    /// Reply to `direct`: the stored message's timestamp.
    #[prost(int64, optional, tag = "5")]
    pub t: Option<i64>,
    /// Reply to `direct`: the assigned message id.
    #[prost(string, optional, tag = "6")]
    pub uid: Option<String>,
    /// Receive-ack: earliest acknowledged timestamp.
    #[prost(int64, optional, tag = "7")]
    pub fromts: Option<i64>,
    /// Receive-ack: latest acknowledged timestamp.
    #[prost(int64, optional, tag = "8")]
    pub tots: Option<i64>,
    /// Unused by current SDKs.
    #[prost(string, optional, tag = "9")]
    pub r#type: Option<String>,
    /// Acknowledged `data` ids (Android push / LiveQuery).
    #[prost(string, repeated, tag = "10")]
    pub ids: Vec<String>,
    /// Hook-defined code.
    #[prost(int32, optional, tag = "11")]
    pub app_code: Option<i32>,
    /// Hook-defined message.
    #[prost(string, optional, tag = "12")]
    pub app_msg: Option<String>,
}

/// One conversation's unread count plus its last message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UnreadTuple {
    #[prost(string, required, tag = "1")]
    pub cid: String,
    #[prost(int32, required, tag = "2")]
    pub unread: i32,
    #[prost(string, optional, tag = "3")]
    pub mid: Option<String>,
    #[prost(int64, optional, tag = "4")]
    pub timestamp: Option<i64>,
    #[prost(string, optional, tag = "5")]
    pub from: Option<String>,
    /// Text of the last message.
    #[prost(string, optional, tag = "6")]
    pub data: Option<String>,
    #[prost(int64, optional, tag = "7")]
    pub patch_timestamp: Option<i64>,
    /// The client was @-mentioned.
    #[prost(bool, optional, tag = "8")]
    pub mentioned: Option<bool>,
    #[prost(bytes = "bytes", optional, tag = "9")]
    pub binary_msg: Option<Bytes>,
    #[prost(int32, optional, tag = "10")]
    pub conv_type: Option<i32>,
}

/// Payload of `cmd = unread`: the unread summary.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UnreadCommand {
    #[prost(message, repeated, tag = "1")]
    pub convs: Vec<UnreadTuple>,
    /// Sent back later by the client as `last_unread_notif_time`.
    #[prost(int64, optional, tag = "2")]
    pub notif_time: Option<i64>,
}

/// One history entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogItem {
    #[prost(string, optional, tag = "1")]
    pub from: Option<String>,
    /// Message text, or base64 of the binary payload if `bin` is true.
    #[prost(string, optional, tag = "2")]
    pub data: Option<String>,
    #[prost(int64, optional, tag = "3")]
    pub timestamp: Option<i64>,
    #[prost(string, optional, tag = "4")]
    pub msg_id: Option<String>,
    /// Delivery time (one-to-one chats).
    #[prost(int64, optional, tag = "5")]
    pub ack_at: Option<i64>,
    /// Read time (one-to-one chats).
    #[prost(int64, optional, tag = "6")]
    pub read_at: Option<i64>,
    #[prost(int64, optional, tag = "7")]
    pub patch_timestamp: Option<i64>,
    #[prost(bool, optional, tag = "8")]
    pub mention_all: Option<bool>,
    #[prost(string, repeated, tag = "9")]
    pub mention_pids: Vec<String>,
    /// `data` is base64 of a binary payload.
    #[prost(bool, optional, tag = "10")]
    pub bin: Option<bool>,
    #[prost(int32, optional, tag = "11")]
    pub conv_type: Option<i32>,
}

/// Payload of `cmd = logs`: a history query and its reply.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogsCommand {
    #[prost(string, optional, tag = "1")]
    pub cid: Option<String>,
    /// Limit (the JS SDK uses this one).
    #[prost(int32, optional, tag = "2")]
    pub l: Option<i32>,
    #[prost(int32, optional, tag = "3")]
    pub limit: Option<i32>,
    /// Start timestamp.
    #[prost(int64, optional, tag = "4")]
    pub t: Option<i64>,
    /// End timestamp.
    #[prost(int64, optional, tag = "5")]
    pub tt: Option<i64>,
    /// End message id.
    #[prost(string, optional, tag = "6")]
    pub tmid: Option<String>,
    /// Start message id.
    #[prost(string, optional, tag = "7")]
    pub mid: Option<String>,
    #[prost(string, optional, tag = "8")]
    pub checksum: Option<String>,
    #[prost(bool, optional, tag = "9")]
    pub stored: Option<bool>,
    /// A [`QueryDirection`]; unset means `Old` (the proto default), which the
    /// `direction()` accessor returns.
    #[prost(enumeration = "QueryDirection", optional, tag = "10", default = "Old")]
    pub direction: Option<i32>,
    /// Include the start point.
    #[prost(bool, optional, tag = "11")]
    pub t_included: Option<bool>,
    /// Include the end point.
    #[prost(bool, optional, tag = "12")]
    pub tt_included: Option<bool>,
    /// Filter by message type.
    #[prost(int32, optional, tag = "13")]
    pub lctype: Option<i32>,
    /// The reply's entries.
    #[prost(message, repeated, tag = "105")]
    pub logs: Vec<LogItem>,
}

/// History order (`LogsCommand.direction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum QueryDirection {
    /// Newest first (the default).
    Old = 1,
    /// Oldest first.
    New = 2,
}

proto_names!(QueryDirection { Old = "OLD", New = "NEW" });

/// Payload of `cmd = rcp`: a delivery or read receipt.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RcpCommand {
    /// Message id.
    #[prost(string, optional, tag = "1")]
    pub id: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub cid: Option<String>,
    #[prost(int64, optional, tag = "3")]
    pub t: Option<i64>,
    /// True for read receipts, otherwise delivery.
    #[prost(bool, optional, tag = "4")]
    pub read: Option<bool>,
    /// The receiver who acked or read.
    #[prost(string, optional, tag = "5")]
    pub from: Option<String>,
}

/// "Read up to here" for one conversation.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadTuple {
    #[prost(string, required, tag = "1")]
    pub cid: String,
    #[prost(int64, optional, tag = "2")]
    pub timestamp: Option<i64>,
    #[prost(string, optional, tag = "3")]
    pub mid: Option<String>,
}

/// Payload of `cmd = read`: mark conversations read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadCommand {
    #[prost(string, optional, tag = "1")]
    pub cid: Option<String>,
    #[prost(string, repeated, tag = "2")]
    pub cids: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    pub convs: Vec<ReadTuple>,
}

/// One message modification or recall.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PatchItem {
    #[prost(string, optional, tag = "1")]
    pub cid: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub mid: Option<String>,
    /// Original send time.
    #[prost(int64, optional, tag = "3")]
    pub timestamp: Option<i64>,
    #[prost(bool, optional, tag = "4")]
    pub recall: Option<bool>,
    /// New message text.
    #[prost(string, optional, tag = "5")]
    pub data: Option<String>,
    #[prost(int64, optional, tag = "6")]
    pub patch_timestamp: Option<i64>,
    #[prost(string, optional, tag = "7")]
    pub from: Option<String>,
    #[prost(bytes = "bytes", optional, tag = "8")]
    pub binary_msg: Option<Bytes>,
    #[prost(bool, optional, tag = "9")]
    pub mention_all: Option<bool>,
    #[prost(string, repeated, tag = "10")]
    pub mention_pids: Vec<String>,
    /// Set when a hook changed the message (negative codes are built in).
    #[prost(int64, optional, tag = "11")]
    pub patch_code: Option<i64>,
    #[prost(string, optional, tag = "12")]
    pub patch_reason: Option<String>,
}

/// Payload of `cmd = patch`: modifications/recalls.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PatchCommand {
    #[prost(message, repeated, tag = "1")]
    pub patches: Vec<PatchItem>,
    #[prost(int64, optional, tag = "2")]
    pub last_patch_time: Option<i64>,
}
