//! IM errors: LeanCloud's numeric codes with their symbolic reasons.
//!
//! Every rejected command is answered with one of these (spec/leancloud-im.md §11,
//! spec/wire-protocol.md §5.20). The `reason` sent on the wire is the symbolic name
//! (`INVALID_MESSAGING_TARGET`, …): the JS SDK uses it as the error's message and name.
//! Free text goes in `detail`. One exception, [`Code::wire_reason`]: 4323 goes with an empty
//! reason, as LeanCloud sent it.

use std::fmt;

macro_rules! codes {
    ($($name:ident = $code:literal, $reason:literal;)*) => {
        /// A LeanCloud IM error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code { $($name,)* }

        impl Code {
            /// The numeric code sent on the wire.
            pub fn number(self) -> i32 {
                match self { $(Code::$name => $code,)* }
            }
            /// The symbolic reason sent on the wire.
            pub fn reason(self) -> &'static str {
                match self { $(Code::$name => $reason,)* }
            }
        }
    };
}

codes! {
    AppNotAvailable = 4100, "APP_NOT_AVAILABLE";
    SignatureFailed = 4102, "SIGNATURE_FAILED";
    InvalidLogin = 4103, "INVALID_LOGIN";
    SessionRequired = 4105, "SESSION_REQUIRED";
    ReadTimeout = 4107, "READ_TIMEOUT";
    LoginTimeout = 4108, "LOGIN_TIMEOUT";
    FrameTooLong = 4109, "FRAME_TOO_LONG";
    InvalidOrigin = 4110, "INVALID_ORIGIN";
    SessionConflict = 4111, "SESSION_CONFLICT";
    SessionTokenExpired = 4112, "SESSION_TOKEN_EXPIRED";
    UnparseableRawMessage = 4114, "UNPARSEABLE_RAW_MESSAGE";
    KickedByApp = 4115, "KICKED_BY_APP";
    MessageSentQuotaExceeded = 4116, "MESSAGE_SENT_QUOTA_EXCEEDED";
    InternalError = 4200, "INTERNAL_ERROR";
    SendMessageTimeout = 4201, "SEND_MESSAGE_TIMEOUT";
    ConversationApiFailed = 4301, "CONVERSATION_API_FAILED";
    ConversationSignatureFailed = 4302, "CONVERSATION_SIGNATURE_FAILED";
    ConversationNotFound = 4303, "CONVERSATION_NOT_FOUND";
    ConversationFull = 4304, "CONVERSATION_FULL";
    ConversationUpdateFailed = 4306, "CONVERSATION_UPDATE_FAILED";
    ConversationUpdateRejected = 4309, "CONVERSATION_UPDATE_REJECTED";
    ConversationQueryFailed = 4310, "CONVERSATION_QUERY_FAILED";
    ConversationLogFailed = 4311, "CONVERSATION_LOG_FAILED";
    ConversationLogRejected = 4312, "CONVERSATION_LOG_REJECTED";
    NormalConversationRequired = 4314, "NORMAL_CONVERSATION_REQUIRED";
    ConversationMembershipRequired = 4317, "CONVERSATION_MEMBERSHIP_REQUIRED";
    ConversationOperationUnauthorized = 4320, "CONVERSATION_OPERATION_UNAUTHORIZED";
    UnknownConversationRole = 4321, "UNKNOWN_CONVERSATION_ROLE";
    TemporaryConversationExpired = 4323, "TEMPORARY_CONVERSATION_EXPIRED";
    ConversationNeedOwner = 4324, "CONVERSATION_NEED_OWNER";
    ConversationMemberInfoFeatureDisabled = 4325, "CONVERSATION_MEMBER_INFO_FEATURE_DISABLED";
    InvalidMessagingTarget = 4401, "INVALID_MESSAGING_TARGET";
    BlacklistFull = 4543, "BLACKLIST_FULL";
    BlacklistFeatureDisabled = 4544, "BLACKLIST_FEATURE_DISABLED";
    BlacklistSignatureFailed = 4546, "BLACKLIST_SIGNATURE_FAILED";
    BlockedByConv = 4548, "BLOCKED_BY_CONV";
    SilencedMemberListFull = 4561, "SILIENCED_MEMBER_LIST_FULL";
    Silenced = 4563, "SILIENCED";
}

impl Code {
    /// The `reason` of an `error` command: the symbolic name, except for 4323
    /// TEMPORARY_CONVERSATION_EXPIRED, which LeanCloud sent with none. The JS SDK then names
    /// the error itself ("Temporary conversation expired or does not exist.", name
    /// `TEMPORARY_CONVERSATION_EXPIRED`), and its own tests check that message
    /// (notes/sdk-expectations.md). Such errors are built without a detail too.
    pub fn wire_reason(self) -> &'static str {
        match self {
            Code::TemporaryConversationExpired => "",
            code => code.reason(),
        }
    }
}

/// An error answered to a client request: a code plus optional free-text detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImError {
    pub code: Code,
    pub detail: Option<String>,
}

impl ImError {
    pub fn new(code: Code) -> Self {
        ImError { code, detail: None }
    }

    pub fn with_detail(code: Code, detail: impl Into<String>) -> Self {
        ImError { code, detail: Some(detail.into()) }
    }
}

impl From<Code> for ImError {
    fn from(code: Code) -> Self {
        ImError::new(code)
    }
}

impl fmt::Display for ImError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code.number(), self.code.reason())?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImError {}

/// Builds an [`ImError`]: `im_err!(ConversationNotFound)` or
/// `im_err!(InvalidLogin, "client id {id:?} is too long")`.
#[macro_export]
macro_rules! im_err {
    ($code:ident) => {
        $crate::error::ImError::new($crate::error::Code::$code)
    };
    ($code:ident, $($fmt:tt)+) => {
        $crate::error::ImError::with_detail($crate::error::Code::$code, format!($($fmt)+))
    };
}

/// Store failures surface to clients as 4200 INTERNAL_ERROR (the detail stays in the log);
/// a write fenced off because another actor now owns the conversation as 4201
/// SEND_MESSAGE_TIMEOUT: nothing was stored and sending again is safe.
impl From<crate::store::StoreError> for ImError {
    fn from(err: crate::store::StoreError) -> Self {
        if let crate::store::StoreError::Fenced = err {
            // Not stored, and safe to send again (with the same client token).
            return ImError::with_detail(Code::SendMessageTimeout, "the conversation moved; send again");
        }
        tracing::error!(error = %err, "store error");
        ImError::new(Code::InternalError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_numbers_and_symbolic_reasons() {
        assert_eq!(Code::InvalidMessagingTarget.number(), 4401);
        assert_eq!(Code::InvalidMessagingTarget.reason(), "INVALID_MESSAGING_TARGET");
        let err = im_err!(InvalidLogin, "client id {:?} is too long", "x");
        assert_eq!(err.to_string(), "4103 INVALID_LOGIN: client id \"x\" is too long");
        assert_eq!(Code::InvalidLogin.wire_reason(), "INVALID_LOGIN");
        assert_eq!(Code::TemporaryConversationExpired.wire_reason(), "");
    }
}
