//! Conversation payloads: `ConvCommand`, `JsonObjectMessage`, `MaxReadTuple`,
//! `ConvMemberInfo` (spec/wire-protocol.md §4.4).

use super::ErrorCommand;

/// Payload of `cmd = conv`: conversation operations and notifications.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConvCommand {
    /// Member ids; which members depends on the op (full list on `start`,
    /// targets on add/remove, who joined/left on notifications, …).
    #[prost(string, repeated, tag = "1")]
    pub m: Vec<String>,
    /// Chat room.
    #[prost(bool, optional, tag = "2")]
    pub transient: Option<bool>,
    /// Reuse an existing conversation with the same members.
    #[prost(bool, optional, tag = "3")]
    pub unique: Option<bool>,
    #[prost(string, optional, tag = "4")]
    pub cid: Option<String>,
    /// Creation time, ISO-8601.
    #[prost(string, optional, tag = "5")]
    pub cdate: Option<String>,
    /// Who performed the operation.
    #[prost(string, optional, tag = "6")]
    pub init_by: Option<String>,
    /// Query sort order, e.g. `-lm,name`.
    #[prost(string, optional, tag = "7")]
    pub sort: Option<String>,
    #[prost(int32, optional, tag = "8")]
    pub limit: Option<i32>,
    #[prost(int32, optional, tag = "9")]
    pub skip: Option<i32>,
    /// Query flags: bit 0 compact (no members), bit 1 with last messages.
    #[prost(int32, optional, tag = "10")]
    pub flag: Option<i32>,
    /// Member count (or online count for chat rooms).
    #[prost(int32, optional, tag = "11")]
    pub count: Option<i32>,
    /// Update time, ISO-8601.
    #[prost(string, optional, tag = "12")]
    pub udate: Option<String>,
    /// Signature timestamp.
    #[prost(int64, optional, tag = "13")]
    pub t: Option<i64>,
    /// Signature nonce.
    #[prost(string, optional, tag = "14")]
    pub n: Option<String>,
    /// Signature.
    #[prost(string, optional, tag = "15")]
    pub s: Option<String>,
    /// Unused.
    #[prost(bool, optional, tag = "16")]
    pub status_sub: Option<bool>,
    /// Unused.
    #[prost(bool, optional, tag = "17")]
    pub status_pub: Option<bool>,
    /// Unused.
    #[prost(int32, optional, tag = "18")]
    pub status_ttl: Option<i32>,
    /// Id of a unique conversation.
    #[prost(string, optional, tag = "19")]
    pub unique_id: Option<String>,
    /// Target of `member_info_update`.
    #[prost(string, optional, tag = "20")]
    pub target_client_id: Option<String>,
    #[prost(int64, optional, tag = "21")]
    pub max_read_timestamp: Option<i64>,
    #[prost(int64, optional, tag = "22")]
    pub max_ack_timestamp: Option<i64>,
    /// `max_read` for every member.
    #[prost(bool, optional, tag = "23")]
    pub query_all_members: Option<bool>,
    #[prost(message, repeated, tag = "24")]
    pub max_read_tuples: Vec<MaxReadTuple>,
    #[prost(string, repeated, tag = "25")]
    pub cids: Vec<String>,
    /// Member role update / notification.
    #[prost(message, optional, tag = "26")]
    pub info: Option<ConvMemberInfo>,
    /// Temporary conversation.
    #[prost(bool, optional, tag = "27")]
    pub temp_conv: Option<bool>,
    /// Temporary conversation lifetime in seconds.
    #[prost(int32, optional, tag = "28")]
    pub temp_conv_ttl: Option<i32>,
    #[prost(string, repeated, tag = "29")]
    pub temp_conv_ids: Vec<String>,
    /// Members the operation succeeded for.
    #[prost(string, repeated, tag = "30")]
    pub allowed_pids: Vec<String>,
    /// Per-failure `{code, reason, pids}`.
    #[prost(message, repeated, tag = "31")]
    pub failed_pids: Vec<ErrorCommand>,
    /// In `started`: the unique conversation already existed (Java/Swift/ObjC).
    #[prost(bool, optional, tag = "32")]
    pub existing: Option<bool>,
    /// Paging cursor.
    #[prost(string, optional, tag = "40")]
    pub next: Option<String>,
    /// Query result (JSON).
    #[prost(message, optional, tag = "100")]
    pub results: Option<JsonObjectMessage>,
    /// Query condition (JSON). Named `where_` because `where` is a keyword.
    #[prost(message, optional, tag = "101")]
    pub where_: Option<JsonObjectMessage>,
    /// Conversation attributes (JSON).
    #[prost(message, optional, tag = "103")]
    pub attr: Option<JsonObjectMessage>,
    /// Attributes after a change, in `updated` notifications (JSON).
    #[prost(message, optional, tag = "104")]
    pub attr_modified: Option<JsonObjectMessage>,
}

/// A JSON document carried as text.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JsonObjectMessage {
    #[prost(string, required, tag = "1")]
    pub data: String,
}

/// One member's receipt high-water marks.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MaxReadTuple {
    #[prost(string, optional, tag = "1")]
    pub pid: Option<String>,
    #[prost(int64, optional, tag = "2")]
    pub max_ack_timestamp: Option<i64>,
    #[prost(int64, optional, tag = "3")]
    pub max_read_timestamp: Option<i64>,
}

/// A member's role in a conversation.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConvMemberInfo {
    #[prost(string, optional, tag = "1")]
    pub pid: Option<String>,
    /// `Owner`, `Manager` or `Member`.
    #[prost(string, optional, tag = "2")]
    pub role: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub info_id: Option<String>,
}
