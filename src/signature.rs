//! Operation signatures (F-SIG-*, spec/leancloud-im.md §7).
//!
//! An app's own server decides whether a client may log in, start a conversation, add or
//! remove members, or block and unblock, and hands the client `{signature, timestamp,
//! nonce}`; the SDK puts them in the command as `s`, `t`, `n`. We rebuild the message string
//! of the action, compute HMAC-SHA1 over it keyed by the app's master key, and compare.
//!
//! | action | message string | failure |
//! |---|---|---|
//! | `session/open`, `session/refresh` | `appid:clientid::timestamp:nonce` | 4102 |
//! | `conv/start` | `appid:clientid:sorted_member_ids:timestamp:nonce` | 4302 |
//! | `conv/add` / `conv/remove` | `appid:clientid:convid:sorted_member_ids:timestamp:nonce:invite` / `…:kick` (or `add` / `remove`, what JS SDK 4.x hands its factory) | 4302 |
//! | `blacklist/block`, `/unblock` for a conversation | `appid:clientid:convid:sorted_member_ids:timestamp:nonce:conversation-block-clients` / `…-unblock-clients` | 4546 |
//! | `blacklist/block`, `/unblock` for a client | `appid:clientid:convid::timestamp:nonce:client-block-conversations` / `…-unblock-…` | 4546 |
//!
//! - The timestamp goes into the string exactly as sent. LeanCloud's docs give milliseconds
//!   and its sample signer seconds, so both are accepted: below 10¹¹ it is read as seconds.
//! - A signature is good for `signature_ttl_secs` (6 h) either side of our clock, and is void
//!   if it was made before the client was last kicked by the app (`POST …/kick`).
//! - Each family is switched on by its `[security]` setting; when a family is off, its
//!   signatures are not looked at.
//! - A login signature opens one session: its nonce is remembered ([`Nonces`]) for as long
//!   as the signature is valid, and a second use is refused with 4102.

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::error::{Code, ImError};
use crate::protocol::{BlacklistCommand, ConvCommand, SessionCommand};
use crate::services::Services;

/// Which switch covers an action, and the error its failures get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `session/open`, `session/refresh`: 4102 SIGNATURE_FAILED.
    Login,
    /// `conv/start`, `conv/add`, `conv/remove`: 4302 CONVERSATION_SIGNATURE_FAILED.
    Conversation,
    /// `blacklist/block`, `blacklist/unblock`: 4546 BLACKLIST_SIGNATURE_FAILED.
    Blacklist,
}

impl Family {
    fn code(self) -> Code {
        match self {
            Family::Login => Code::SignatureFailed,
            Family::Conversation => Code::ConversationSignatureFailed,
            Family::Blacklist => Code::BlacklistSignatureFailed,
        }
    }

    /// Whether the app requires signatures of this family.
    pub fn required(self, node: &Services) -> bool {
        let security = &node.config.security;
        match self {
            Family::Login => security.login_signature,
            Family::Conversation => security.conversation_signature,
            Family::Blacklist => security.blacklist_signature,
        }
    }
}

/// The `s`, `t`, `n` fields of a command.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signed<'a> {
    pub signature: Option<&'a str>,
    pub timestamp: Option<i64>,
    pub nonce: Option<&'a str>,
}

impl<'a> Signed<'a> {
    pub fn session(cmd: &'a SessionCommand) -> Self {
        Signed { signature: cmd.s.as_deref(), timestamp: cmd.t, nonce: cmd.n.as_deref() }
    }

    pub fn conv(cmd: &'a ConvCommand) -> Self {
        Signed { signature: cmd.s.as_deref(), timestamp: cmd.t, nonce: cmd.n.as_deref() }
    }

    pub fn blacklist(cmd: &'a BlacklistCommand) -> Self {
        Signed { signature: cmd.s.as_deref(), timestamp: cmd.t, nonce: cmd.n.as_deref() }
    }
}

/// What an action signs, apart from the timestamp and nonce.
#[derive(Debug, Clone)]
pub struct Action<'a> {
    pub family: Family,
    /// The fields before the timestamp, after the app id and client id: empty for a login
    /// (which keeps an empty field), the sorted members for `conv/start`, the conversation
    /// id and sorted members for the others.
    pub fields: Vec<String>,
    /// The literal after the nonce (`invite`, `kick`, `conversation-block-clients`, …).
    pub action: Option<&'a str>,
    pub client: &'a str,
}

impl<'a> Action<'a> {
    /// `session/open` and `session/refresh`.
    pub fn login(client: &'a str) -> Self {
        Action { family: Family::Login, fields: vec![String::new()], action: None, client }
    }

    /// `conv/start` with `members` (sorted here).
    pub fn start(client: &'a str, members: &[String]) -> Self {
        Action { family: Family::Conversation, fields: vec![sorted(members)], action: None, client }
    }

    /// `conv/add` (`invite`) and `conv/remove` (`kick`) of `members` in `cid`.
    pub fn members(client: &'a str, cid: &str, members: &[String], action: &'a str) -> Self {
        Action {
            family: Family::Conversation,
            fields: vec![cid.to_owned(), sorted(members)],
            action: Some(action),
            client,
        }
    }

    /// `blacklist/block` and `/unblock`: a conversation's list of clients (`members` set), or
    /// a client's list of conversations (`members` empty).
    pub fn blacklist(client: &'a str, cid: &str, members: &[String], action: &'a str) -> Self {
        Action {
            family: Family::Blacklist,
            fields: vec![cid.to_owned(), sorted(members)],
            action: Some(action),
            client,
        }
    }

    /// The message string signed for this action.
    pub fn message(&self, app_id: &str, timestamp: i64, nonce: &str) -> String {
        let mut parts: Vec<&str> = vec![app_id, self.client];
        parts.extend(self.fields.iter().map(String::as_str));
        let timestamp = timestamp.to_string();
        parts.push(&timestamp);
        parts.push(nonce);
        parts.extend(self.action);
        parts.join(":")
    }
}

/// Member ids sorted by bytes and joined with `:`.
pub fn sorted(members: &[String]) -> String {
    let mut members: Vec<&str> = members.iter().map(String::as_str).collect();
    members.sort_unstable();
    members.dedup();
    members.join(":")
}

/// Lower-case hex HMAC-SHA1 of `message` keyed by `master_key`: what an app server computes.
pub fn sign(master_key: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(master_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Milliseconds for a signature timestamp sent in seconds or in milliseconds.
pub fn timestamp_ms(t: i64) -> i64 {
    if t.unsigned_abs() < 100_000_000_000 { t.saturating_mul(1000) } else { t }
}

/// Whether a signature made at `made_ms` is still good at `now_ms` (any `i64` from a
/// frame: no overflow).
fn within_ttl(now_ms: i64, made_ms: i64, ttl_secs: u64) -> bool {
    now_ms.abs_diff(made_ms) <= ttl_secs.saturating_mul(1000)
}

/// Checks the signature of `action` if its family is switched on. Any of `alternatives`
/// (the same action with the fields spelled another way) may match instead.
pub fn verify(
    node: &Services,
    action: &Action<'_>,
    signed: Signed<'_>,
    alternatives: &[Action<'_>],
) -> Result<(), ImError> {
    if !action.family.required(node) {
        return Ok(());
    }
    let fail = |why: &str| Err(ImError::with_detail(action.family.code(), why));
    let (Some(signature), Some(t), Some(nonce)) = (signed.signature, signed.timestamp, signed.nonce) else {
        return fail("this action needs a signature (s, t, n)");
    };
    let now = node.now_ms();
    let made = timestamp_ms(t);
    if !within_ttl(now, made, node.config.security.signature_ttl_secs) {
        return fail("the signature has expired");
    }
    if node.tokens.revoked_at(action.client).is_some_and(|kicked| made <= kicked) {
        return fail("the signature was made before the client was kicked");
    }
    let master_key = &node.config.app.master_key;
    let matches = std::iter::once(action).chain(alternatives).any(|a| {
        let expected = sign(master_key, &a.message(&node.config.app.id, t, nonce));
        constant_time_eq(expected.as_bytes(), signature.to_ascii_lowercase().as_bytes())
    });
    if !matches {
        return fail("the signature does not match");
    }
    let ttl_ms = node.config.security.signature_ttl_secs.saturating_mul(1000) as i64;
    if action.family == Family::Login && !node.nonces.first_use(action.client, nonce, signature, made, now, ttl_ms) {
        return fail("this signature has been used already");
    }
    Ok(())
}

pub use crate::services::nonces::Nonces;

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_strings_keep_empty_fields() {
        assert_eq!(Action::login("alice").message("app", 1_700_000_000_000, "123"), "app:alice::1700000000000:123");
        let members = vec!["zed".to_string(), "bob".to_string(), "alice".to_string()];
        assert_eq!(Action::start("alice", &members).message("app", 5, "n"), "app:alice:alice:bob:zed:5:n");
        assert_eq!(
            Action::members("alice", "c1", &members[..2], "invite").message("app", 5, "n"),
            "app:alice:c1:bob:zed:5:n:invite"
        );
        assert_eq!(
            Action::blacklist("alice", "c1", &[], "client-block-conversations").message("app", 5, "n"),
            "app:alice:c1::5:n:client-block-conversations"
        );
    }

    #[test]
    fn hmac_sha1_matches_a_known_vector() {
        // RFC 2202 test case 2.
        assert_eq!(sign("Jefe", "what do ya want for nothing?"), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn a_nonce_is_used_once_and_memory_stays_bounded() {
        let nonces = Nonces::new(3);
        let ttl = 1_000;
        assert!(nonces.first_use("alice", "n1", "sig", 100, 100, ttl));
        assert!(!nonces.first_use("alice", "n1", "SIG", 100, 150, ttl), "a replay");
        assert!(nonces.first_use("bob", "n1", "sig", 100, 150, ttl), "another client");
        assert!(nonces.first_use("alice", "n2", "sig2", 200, 200, ttl));
        assert!(nonces.first_use("alice", "n3", "sig3", 300, 300, ttl), "over the bound: the oldest goes");
        assert_eq!(nonces.len(), 3);
        assert!(!nonces.first_use("alice", "n1", "sig", 100, 300, ttl), "forgotten, yet refused by age");
        assert!(!nonces.first_use("carol", "n9", "sig9", 100, 300, ttl), "as old as a forgotten one");
        assert!(nonces.first_use("alice", "n4", "sig4", 2_000, 2_000, ttl), "the expired are dropped");
        assert_eq!(nonces.len(), 1);
    }

    #[test]
    fn seconds_and_milliseconds() {
        assert_eq!(timestamp_ms(1_700_000_000), 1_700_000_000_000);
        assert_eq!(timestamp_ms(1_700_000_000_123), 1_700_000_000_123);
    }

    /// Found by the `signature` fuzz target: `t = i64::MIN` in a signed `session/open`
    /// overflowed (`abs`, then `now - made`) and panicked the session in debug builds.
    #[test]
    fn signature_timestamp_i64_min() {
        assert_eq!(timestamp_ms(i64::MIN), i64::MIN);
        assert_eq!(timestamp_ms(i64::MAX), i64::MAX);
        assert_eq!(timestamp_ms(-99_999_999_999), -99_999_999_999_000);
        let now = 1_795_641_565_576;
        assert!(!within_ttl(now, timestamp_ms(i64::MIN), 6 * 3600));
        assert!(!within_ttl(now, timestamp_ms(i64::MAX), 6 * 3600));
        assert!(within_ttl(now, now - 6 * 3600 * 1000, 6 * 3600));
        assert!(!within_ttl(now, now - 6 * 3600 * 1000 - 1, 6 * 3600));
    }
}
