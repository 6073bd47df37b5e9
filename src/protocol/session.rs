//! Session payloads: `SessionCommand`, plus the Java/Swift/ObjC-only
//! `LoginCommand`, `LoggedinCommand`, `SystemInfo`, `SemanticVersion`,
//! `AndroidVersion` and `DeviceType` (spec/wire-protocol.md §4.4).

/// Payload of `cmd = session` (open, close, query, refresh, …).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionCommand {
    /// Signature timestamp.
    #[prost(int64, optional, tag = "1")]
    pub t: Option<i64>,
    /// Signature nonce.
    #[prost(string, optional, tag = "2")]
    pub n: Option<String>,
    /// Signature (hex HMAC-SHA1).
    #[prost(string, optional, tag = "3")]
    pub s: Option<String>,
    /// Client user agent.
    #[prost(string, optional, tag = "4")]
    pub ua: Option<String>,
    /// True when this `open` is a reconnect.
    #[prost(bool, optional, tag = "5")]
    pub r: Option<bool>,
    /// Single-device-login tag.
    #[prost(string, optional, tag = "6")]
    pub tag: Option<String>,
    #[prost(string, optional, tag = "7")]
    pub device_id: Option<String>,
    /// `query`: peers to check for being online.
    #[prost(string, repeated, tag = "8")]
    pub session_peer_ids: Vec<String>,
    /// `query_result`: the peers that are online.
    #[prost(string, repeated, tag = "9")]
    pub online_session_peer_ids: Vec<String>,
    /// Session token.
    #[prost(string, optional, tag = "10")]
    pub st: Option<String>,
    /// Session token lifetime in seconds.
    #[prost(int32, optional, tag = "11")]
    pub st_ttl: Option<i32>,
    /// Error/close code (on `closed` or a failed `opened`).
    #[prost(int32, optional, tag = "12")]
    pub code: Option<i32>,
    #[prost(string, optional, tag = "13")]
    pub reason: Option<String>,
    /// APNs token (Swift/ObjC).
    #[prost(string, optional, tag = "14")]
    pub device_token: Option<String>,
    /// Meaning unknown; unused by the SDKs.
    #[prost(bool, optional, tag = "15")]
    pub sp: Option<bool>,
    #[prost(string, optional, tag = "16")]
    pub detail: Option<String>,
    /// `notif_time` of the last `unread` push the client processed.
    #[prost(int64, optional, tag = "17")]
    pub last_unread_notif_time: Option<i64>,
    /// Newest patch timestamp the client has seen.
    #[prost(int64, optional, tag = "18")]
    pub last_patch_time: Option<i64>,
    /// Client capability bits.
    #[prost(int64, optional, tag = "19")]
    pub config_bitmap: Option<i64>,
    /// Java/Swift/ObjC only.
    #[prost(message, optional, tag = "20")]
    pub system_info: Option<SystemInfo>,
}

/// Payload of `cmd = login` (Android push / LiveQuery).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LoginCommand {
    #[prost(message, optional, tag = "1")]
    pub system_info: Option<SystemInfo>,
}

/// Payload of `cmd = loggedin`, the reply to `login`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LoggedinCommand {
    /// The client may drop the connection while no IM session is open.
    #[prost(bool, optional, tag = "1")]
    pub push_disabled: Option<bool>,
}

/// Description of the client device.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SystemInfo {
    /// A [`DeviceType`].
    #[prost(enumeration = "DeviceType", optional, tag = "1")]
    pub device_type: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub os_version: Option<SemanticVersion>,
    #[prost(message, optional, tag = "3")]
    pub android_version: Option<AndroidVersion>,
    #[prost(bool, optional, tag = "4")]
    pub is_emulator: Option<bool>,
}

/// A semver-style version number.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SemanticVersion {
    #[prost(int32, optional, tag = "1")]
    pub major: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub minor: Option<i32>,
    #[prost(int32, optional, tag = "3")]
    pub patch: Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub pre_release: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub build: Option<String>,
}

/// Android release codename and API level.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AndroidVersion {
    #[prost(string, optional, tag = "1")]
    pub codename: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub api_level: Option<String>,
}

/// Kind of client device (`SystemInfo.device_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DeviceType {
    Unknown = 0,
    Android = 1,
    Ios = 2,
}

proto_names!(DeviceType { Unknown = "unknown", Android = "android", Ios = "ios" });
