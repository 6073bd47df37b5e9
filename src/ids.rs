//! Identifiers: client ids (validation, anonymous ids), conversation ids (normal and
//! temporary), message ids, unique-conversation ids and session tokens.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use md5::{Digest, Md5};
use rand::Rng;

use crate::error::ImError;
use crate::im_err;

/// Longest client id (spec/leancloud-im.md §3.1).
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// Checks a client id against LeanCloud's rules: 1–64 characters from `[A-Za-z0-9_-]`.
/// A digit may come first: apps (and the JS SDK's own tests) log in with millisecond
/// timestamps and UUID v4 strings. A violation is 4103 INVALID_LOGIN.
pub fn validate_client_id(id: &str) -> Result<(), ImError> {
    if id.is_empty() || id.len() > MAX_CLIENT_ID_LEN {
        return Err(im_err!(InvalidLogin, "client id must be 1 to {MAX_CLIENT_ID_LEN} characters"));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(im_err!(InvalidLogin, "client id may only hold letters, digits, '_' and '-'"));
    }
    Ok(())
}

/// Ids of temporary conversations start with this (clients route their look-ups by it).
pub const TEMP_PREFIX: &str = "_tmp:";

/// A random client id for an anonymous login (`session/open` without `peerId`).
pub fn anonymous_client_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let mut id = String::from("anon-");
    id.extend((0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char));
    id
}

static CONV_COUNTER: LazyLock<AtomicU32> = LazyLock::new(|| AtomicU32::new(rand::rng().random()));

/// A new conversation id in LeanCloud's format: 24 lower-case hex digits laid out like a
/// MongoDB ObjectId (4 bytes of seconds, 5 random bytes, a 3-byte counter), so ids sort
/// roughly by creation time.
pub fn new_conversation_id(now_ms: i64) -> String {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&((now_ms / 1000) as u32).to_be_bytes());
    rand::rng().fill(&mut bytes[4..9]);
    let counter = CONV_COUNTER.fetch_add(1, Ordering::Relaxed);
    bytes[9..].copy_from_slice(&counter.to_be_bytes()[1..]);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new temporary conversation id: [`TEMP_PREFIX`] and 22 characters of URL-safe base64
/// over 16 random bytes (128 bits: nobody guesses one, so looking one up by id needs no
/// membership, docs/decisions.md).
pub fn new_temp_conversation_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes[..]);
    format!("{TEMP_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `id` names a temporary conversation (by its prefix).
pub fn is_temp_conversation_id(id: &str) -> bool {
    id.starts_with(TEMP_PREFIX)
}

/// Whether `id` has the shape of a conversation id this server hands out.
pub fn is_conversation_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A new message id: 22 characters of URL-safe base64 over 16 bytes, the format LeanCloud
/// uses. The first 8 bytes are random; the last 8 are the message's sequence number in its
/// conversation, so a history anchor given as a message id resolves without an index.
pub fn new_message_id(seq: u64) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill(&mut bytes[..8]);
    bytes[8..].copy_from_slice(&seq.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The sequence number a message id carries, if it has the shape of one of ours.
/// The caller must still check that the stored message at that sequence has this id.
pub fn message_seq(mid: &str) -> Option<u64> {
    if mid.len() != 22 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(mid).ok()?;
    let seq: [u8; 8] = bytes.get(8..16)?.try_into().ok()?;
    Some(u64::from_be_bytes(seq))
}

/// The `uniqueId` of a unique conversation: MD5 (hex) of the sorted member ids joined by
/// `:` (spec/leancloud-im.md §14 G1). `members` must already be sorted and de-duplicated.
pub fn unique_id(members: &[String]) -> String {
    let digest = Md5::digest(members.join(":").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new IM session token (`st`).
pub fn new_session_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    #[test]
    fn client_id_rules() {
        assert!(validate_client_id("alice").is_ok());
        assert!(validate_client_id("Tom_and-Jerry9").is_ok());
        assert!(validate_client_id(&"a".repeat(64)).is_ok());
        assert!(validate_client_id("1795641565572").is_ok(), "Date.now() as an id");
        assert!(validate_client_id("9b2f8e4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b").is_ok(), "a UUID v4");
        for bad in ["", "has space", "émile", "a:b"] {
            assert_eq!(validate_client_id(bad).unwrap_err().code, Code::InvalidLogin, "{bad:?}");
        }
        assert_eq!(validate_client_id(&"a".repeat(65)).unwrap_err().code, Code::InvalidLogin);
        assert!(validate_client_id(&anonymous_client_id()).is_ok());
    }

    #[test]
    fn conversation_ids_look_like_leancloud_ones() {
        let a = new_conversation_id(1_795_641_565_000);
        let b = new_conversation_id(1_795_641_565_000);
        assert!(is_conversation_id(&a) && is_conversation_id(&b));
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("{:08x}", 1_795_641_565u32)));
        let t = new_temp_conversation_id();
        assert!(is_temp_conversation_id(&t) && !is_temp_conversation_id(&a));
        assert_eq!(t.len(), TEMP_PREFIX.len() + 22);
        assert!(t[TEMP_PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        assert_ne!(new_temp_conversation_id(), t);
    }

    #[test]
    fn message_ids_carry_their_sequence() {
        let mid = new_message_id(42);
        assert_eq!(mid.len(), 22);
        assert_eq!(message_seq(&mid), Some(42));
        assert_ne!(new_message_id(42), mid);
        assert_eq!(message_seq("not-a-message-id"), None);
        assert_eq!(message_seq("!!!!!!!!!!!!!!!!!!!!!!"), None);
    }

    #[test]
    fn unique_id_depends_only_on_members() {
        let m = vec!["alice".to_string(), "bob".to_string()];
        assert_eq!(unique_id(&m), unique_id(&m.clone()));
        assert_eq!(unique_id(&m).len(), 32);
        assert_ne!(unique_id(&m), unique_id(&["alice".to_string()]));
    }
}
