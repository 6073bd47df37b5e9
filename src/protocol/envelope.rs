//! The envelope: `GenericCommand` and the enums `CommandType`, `OpType`,
//! `StatusType` (spec/wire-protocol.md §4.1–4.3).

use super::{
    AckCommand, BlacklistCommand, ConvCommand, DataCommand, DirectCommand, ErrorCommand, LoggedinCommand, LoginCommand,
    LogsCommand, PatchCommand, PresenceCommand, PubsubCommand, RcpCommand, ReadCommand, ReportCommand, RoomCommand,
    SessionCommand, UnreadCommand,
};

/// The single top-level message: every WebSocket frame is one of these.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GenericCommand {
    /// Command family, a [`CommandType`].
    #[prost(enumeration = "CommandType", optional, tag = "1")]
    pub cmd: Option<i32>,
    /// Operation within the family, an [`OpType`].
    #[prost(enumeration = "OpType", optional, tag = "2")]
    pub op: Option<i32>,
    #[prost(string, optional, tag = "3")]
    pub app_id: Option<String>,
    /// The client (peer) the command belongs to.
    #[prost(string, optional, tag = "4")]
    pub peer_id: Option<String>,
    /// Serial id: set by the client on requests that want a reply, echoed by
    /// the server; absent on server pushes.
    #[prost(int32, optional, tag = "5")]
    pub i: Option<i32>,
    /// Android installation id, or the LiveQuery subscription id.
    #[prost(string, optional, tag = "6")]
    pub installation_id: Option<String>,
    /// Chat-room message priority: 1 high, 2 normal, 3 low.
    #[prost(int32, optional, tag = "7")]
    pub priority: Option<i32>,
    /// 0 push, 1 LiveQuery, 2 IM.
    #[prost(int32, optional, tag = "8")]
    pub service: Option<i32>,
    /// Server time in milliseconds.
    #[prost(int64, optional, tag = "9")]
    pub server_ts: Option<i64>,
    /// Client time in milliseconds.
    #[prost(int64, optional, tag = "10")]
    pub client_ts: Option<i64>,
    /// 1 = "permanent" notification (replayable over REST).
    #[prost(int32, optional, tag = "11")]
    pub notification_type: Option<i32>,

    /// Java/Swift/ObjC only.
    #[prost(message, optional, tag = "100")]
    pub login_message: Option<LoginCommand>,
    #[prost(message, optional, tag = "101")]
    pub data_message: Option<DataCommand>,
    #[prost(message, optional, tag = "102")]
    pub session_message: Option<SessionCommand>,
    #[prost(message, optional, tag = "103")]
    pub error_message: Option<ErrorCommand>,
    #[prost(message, optional, tag = "104")]
    pub direct_message: Option<DirectCommand>,
    #[prost(message, optional, tag = "105")]
    pub ack_message: Option<AckCommand>,
    #[prost(message, optional, tag = "106")]
    pub unread_message: Option<UnreadCommand>,
    #[prost(message, optional, tag = "107")]
    pub read_message: Option<ReadCommand>,
    #[prost(message, optional, tag = "108")]
    pub rcp_message: Option<RcpCommand>,
    #[prost(message, optional, tag = "109")]
    pub logs_message: Option<LogsCommand>,
    #[prost(message, optional, tag = "110")]
    pub conv_message: Option<ConvCommand>,
    /// Legacy.
    #[prost(message, optional, tag = "111")]
    pub room_message: Option<RoomCommand>,
    #[prost(message, optional, tag = "112")]
    pub presence_message: Option<PresenceCommand>,
    #[prost(message, optional, tag = "113")]
    pub report_message: Option<ReportCommand>,
    #[prost(message, optional, tag = "114")]
    pub patch_message: Option<PatchCommand>,
    #[prost(message, optional, tag = "115")]
    pub pubsub_message: Option<PubsubCommand>,
    #[prost(message, optional, tag = "116")]
    pub blacklist_message: Option<BlacklistCommand>,
    /// Java/Swift/ObjC only.
    #[prost(message, optional, tag = "117")]
    pub loggedin_message: Option<LoggedinCommand>,
}

/// Command family (`GenericCommand.cmd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum CommandType {
    Session = 0,
    Conv = 1,
    Direct = 2,
    Ack = 3,
    Rcp = 4,
    Unread = 5,
    Logs = 6,
    Error = 7,
    Login = 8,
    Data = 9,
    Room = 10,
    Read = 11,
    Presence = 12,
    Report = 13,
    Echo = 14,
    Loggedin = 15,
    Logout = 16,
    Loggedout = 17,
    Patch = 18,
    Pubsub = 19,
    Blacklist = 20,
    Goaway = 21,
}

proto_names!(CommandType {
    Session = "session", Conv = "conv", Direct = "direct", Ack = "ack", Rcp = "rcp",
    Unread = "unread", Logs = "logs", Error = "error", Login = "login", Data = "data",
    Room = "room", Read = "read", Presence = "presence", Report = "report", Echo = "echo",
    Loggedin = "loggedin", Logout = "logout", Loggedout = "loggedout", Patch = "patch",
    Pubsub = "pubsub", Blacklist = "blacklist", Goaway = "goaway",
});

/// Operation within a command family (`GenericCommand.op`). Some numbers are
/// shared between families (e.g. `Query`/`QueryResult` for session, conv and
/// blacklist).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum OpType {
    // session
    Open = 1,
    Add = 2,
    Remove = 3,
    Close = 4,
    Opened = 5,
    Closed = 6,
    Query = 7,
    QueryResult = 8,
    Conflict = 9,
    Added = 10,
    Removed = 11,
    Refresh = 12,
    Refreshed = 13,
    // conv
    Start = 30,
    Started = 31,
    Joined = 32,
    MembersJoined = 33,
    Left = 39,
    MembersLeft = 40,
    Results = 42,
    Count = 43,
    Result = 44,
    Update = 45,
    Updated = 46,
    Mute = 47,
    Unmute = 48,
    Status = 49,
    Members = 50,
    MaxRead = 51,
    IsMember = 52,
    MemberInfoUpdate = 53,
    MemberInfoUpdated = 54,
    MemberInfoChanged = 55,
    /// Swift/ObjC only.
    Expire = 56,
    // room (legacy)
    Join = 80,
    Invite = 81,
    Leave = 82,
    Kick = 83,
    Reject = 84,
    Invited = 85,
    Kicked = 86,
    // report
    Upload = 100,
    Uploaded = 101,
    // pubsub
    Subscribe = 120,
    Subscribed = 121,
    Unsubscribe = 122,
    Unsubscribed = 123,
    IsSubscribed = 124,
    // patch
    Modify = 150,
    Modified = 151,
    // blacklist (plus Query/QueryResult above)
    Block = 170,
    Unblock = 171,
    Blocked = 172,
    Unblocked = 173,
    MembersBlocked = 174,
    MembersUnblocked = 175,
    CheckBlock = 176,
    CheckResult = 177,
    // conv member mute ("shutup")
    AddShutup = 180,
    RemoveShutup = 181,
    QueryShutup = 182,
    ShutupAdded = 183,
    ShutupRemoved = 184,
    ShutupResult = 185,
    Shutuped = 186,
    Unshutuped = 187,
    MembersShutuped = 188,
    MembersUnshutuped = 189,
    CheckShutup = 190,
}

proto_names!(OpType {
    Open = "open", Add = "add", Remove = "remove", Close = "close", Opened = "opened",
    Closed = "closed", Query = "query", QueryResult = "query_result", Conflict = "conflict",
    Added = "added", Removed = "removed", Refresh = "refresh", Refreshed = "refreshed",
    Start = "start", Started = "started", Joined = "joined", MembersJoined = "members_joined",
    Left = "left", MembersLeft = "members_left", Results = "results", Count = "count",
    Result = "result", Update = "update", Updated = "updated", Mute = "mute",
    Unmute = "unmute", Status = "status", Members = "members", MaxRead = "max_read",
    IsMember = "is_member", MemberInfoUpdate = "member_info_update",
    MemberInfoUpdated = "member_info_updated", MemberInfoChanged = "member_info_changed",
    Expire = "expire", Join = "join", Invite = "invite", Leave = "leave", Kick = "kick",
    Reject = "reject", Invited = "invited", Kicked = "kicked", Upload = "upload",
    Uploaded = "uploaded", Subscribe = "subscribe", Subscribed = "subscribed",
    Unsubscribe = "unsubscribe", Unsubscribed = "unsubscribed", IsSubscribed = "is_subscribed",
    Modify = "modify", Modified = "modified", Block = "block", Unblock = "unblock",
    Blocked = "blocked", Unblocked = "unblocked", MembersBlocked = "members_blocked",
    MembersUnblocked = "members_unblocked", CheckBlock = "check_block",
    CheckResult = "check_result", AddShutup = "add_shutup", RemoveShutup = "remove_shutup",
    QueryShutup = "query_shutup", ShutupAdded = "shutup_added",
    ShutupRemoved = "shutup_removed", ShutupResult = "shutup_result", Shutuped = "shutuped",
    Unshutuped = "unshutuped", MembersShutuped = "members_shutuped",
    MembersUnshutuped = "members_unshutuped", CheckShutup = "check_shutup",
});

/// Presence status (`PresenceCommand.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum StatusType {
    On = 1,
    Off = 2,
}

proto_names!(StatusType { On = "on", Off = "off" });
