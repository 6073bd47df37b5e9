//! IM session tokens (`st`): handed out in `session/opened` and `session/refreshed`,
//! presented again on a reconnect (`r: true`) instead of a fresh signature, and as
//! `X-LC-IM-Session-Token` on the REST calls the SDKs make.
//!
//! A token is signed, not kept: it carries the client, the login it continues (device tag
//! and device, so a reconnect — which the JS SDK sends without `tag` or `deviceId` — keeps
//! its place in the single-device rules), when it was issued and when it expires, and an
//! HMAC-SHA256 of all that under a secret every process sharing the store reads from it
//! ([`crate::store::token`]). So any of them accepts a token another one handed out, and
//! after a restart, and a login costs no write and no memory. Its form is
//! `base64url(claims) "." base64url(mac)`: at most [`MAX_TOKEN_LEN`] characters.
//!
//! What can end a token before it expires is kept instead:
//! - `session/close` (logout) ends that token: this process remembers it at once (at most
//!   `limits.max_session_tokens` of the newest), and the store keeps it until it would have
//!   expired, for every process ([`crate::services::Services::check_token`] looks there).
//! - A kick by the app (`POST …/clients/{id}/kick`) ends every token the client was issued
//!   before it, and voids signatures made before it (kicks are stored too,
//!   [`crate::store::kick`], and seen by every process within a second).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use crate::delivery::presence::Login;

/// The longest token accepted: the claims of a client id, tag and device of 64 bytes each.
pub const MAX_TOKEN_LEN: usize = 512;

/// Bytes of the HMAC kept in a token.
const MAC_LEN: usize = 18;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Claims {
    client: String,
    tag: Option<String>,
    device: String,
    issued_ms: i64,
    expires_ms: i64,
    /// Tells apart tokens of one device issued in the same millisecond.
    nonce: u32,
}

/// A token found good: whose it is, the login it continues, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub client: String,
    pub login: Login,
    pub expires_ms: i64,
    /// The token's id (its MAC, as written in it): the key of its logout in the store.
    pub id: String,
}

/// Signs and checks tokens; remembers logouts made here and kicks.
pub struct Tokens {
    /// HMAC-SHA256 keyed with the store's secret (cloned for each token: the key is hashed once).
    keyed: Hmac<Sha256>,
    /// Ids of tokens ended here lately, newest last (at most `max`).
    revoked: Mutex<VecDeque<Arc<str>>>,
    kicked: Mutex<HashMap<String, i64>>,
    max: usize,
}

impl Tokens {
    /// Tokens signed with `secret`; at most `max` logouts remembered in memory.
    pub fn new(secret: [u8; 32], max: usize) -> Self {
        let keyed = Hmac::<Sha256>::new_from_slice(&secret).expect("any key length");
        Tokens { keyed, revoked: Mutex::default(), kicked: Mutex::default(), max: max.max(1) }
    }

    fn mac(&self, claims: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(claims);
        mac
    }

    /// A new token for `client`'s `login`, valid for `ttl_secs`.
    pub fn issue(&self, client: &str, login: &Login, now_ms: i64, ttl_secs: u64) -> String {
        let claims = Claims {
            client: client.to_owned(),
            tag: login.tag.as_deref().map(str::to_owned),
            device: login.device.to_string(),
            issued_ms: now_ms,
            expires_ms: expires_at(now_ms, ttl_secs),
            nonce: rand::random(),
        };
        let claims = rmp_serde::to_vec(&claims).expect("claims encode");
        let mac = self.mac(&claims).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&claims), URL_SAFE_NO_PAD.encode(&mac[..MAC_LEN]))
    }

    /// What `token` grants, if this secret signed it, it has not expired, it was not ended
    /// by a logout here, and no kick came after it. (A logout made by another process is
    /// in the store: [`crate::services::Services::check_token`] looks there.)
    pub fn verify(&self, token: &str, now_ms: i64) -> Option<Granted> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (claims, mac) = token.split_once('.')?;
        let (bytes, mac_bytes) = (URL_SAFE_NO_PAD.decode(claims).ok()?, URL_SAFE_NO_PAD.decode(mac).ok()?);
        if mac_bytes.len() != MAC_LEN {
            return None;
        }
        self.mac(&bytes).verify_truncated_left(&mac_bytes).ok()?;
        let claims: Claims = rmp_serde::from_slice(&bytes).ok()?;
        let kicked = self.revoked_at(&claims.client).is_some_and(|at| at >= claims.issued_ms);
        if claims.expires_ms <= now_ms || kicked || self.was_revoked(mac) {
            return None;
        }
        let login = Login { tag: claims.tag.map(Into::into), device: claims.device.into() };
        Some(Granted { client: claims.client, login, expires_ms: claims.expires_ms, id: mac.to_owned() })
    }

    /// [`Tokens::verify`], for a token that must be `client`'s.
    pub fn check(&self, token: &str, client: &str, now_ms: i64) -> Option<Granted> {
        self.verify(token, now_ms).filter(|granted| granted.client == client)
    }

    /// Remembers that the token `id` was ended here (the client logged out).
    pub fn revoke_id(&self, id: &str) {
        let mut revoked = self.revoked.lock();
        if revoked.len() >= self.max {
            revoked.pop_front();
        }
        revoked.push_back(id.into());
    }

    /// Whether this process ended the token `id` lately.
    fn was_revoked(&self, id: &str) -> bool {
        self.revoked.lock().iter().any(|t| &**t == id)
    }

    /// Logouts remembered in memory.
    pub fn revoked_len(&self) -> usize {
        self.revoked.lock().len()
    }

    /// Ends every token of `client` issued up to `now_ms`, and voids signatures made up to
    /// then. Kicks older than `forget_after_ms` are forgotten: whatever they voided has
    /// expired (see [`kick_memory_ms`]).
    pub fn revoke(&self, client: &str, now_ms: i64, forget_after_ms: i64) {
        let mut kicked = self.kicked.lock();
        kicked.retain(|_, at| now_ms - *at <= forget_after_ms);
        kicked.insert(client.to_owned(), now_ms);
    }

    /// Remembers kicks read back from the store at start.
    pub fn restore_kicks(&self, kicks: impl IntoIterator<Item = (String, i64)>) {
        self.kicked.lock().extend(kicks);
    }

    /// When `client` was last kicked by the app.
    pub fn revoked_at(&self, client: &str) -> Option<i64> {
        self.kicked.lock().get(client).copied()
    }
}

/// When a token issued at `now_ms` for `ttl_secs` expires.
pub fn expires_at(now_ms: i64, ttl_secs: u64) -> i64 {
    now_ms.saturating_add(ttl_secs.min(i64::MAX as u64 / 1000) as i64 * 1000)
}

/// The id of `token` (the MAC it ends with; see [`Granted::id`]).
pub fn id_of(token: &str) -> &str {
    token.rsplit_once('.').map_or(token, |(_, mac)| mac)
}

/// How long a kick must be remembered: until both the signatures and the tokens made
/// before it have expired.
pub fn kick_memory_ms(config: &crate::config::Config) -> i64 {
    let secs = config.security.signature_ttl_secs.max(config.limits.session_token_ttl_secs);
    secs.min(i64::MAX as u64 / 1000) as i64 * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new([7; 32], 3)
    }

    #[test]
    fn tokens_belong_to_a_client_and_expire() {
        let tokens = tokens();
        let login = Login { tag: Some("Mobile".into()), device: "phone-1".into() };
        let st = tokens.issue("alice", &login, 1_000, 60);
        assert!(st.len() < 100, "{st}");
        assert_eq!(tokens.check(&st, "alice", 1_000).map(|g| g.login), Some(login));
        assert!(tokens.check(&st, "alice", 60_999).is_some());
        assert!(tokens.check(&st, "alice", 61_000).is_none(), "expired");
        assert!(tokens.check(&st, "bob", 1_000).is_none(), "someone else's");
        assert_eq!(tokens.verify(&st, 1_000).unwrap().client, "alice");
        assert!(tokens.verify("forged", 1_000).is_none());
        assert!(tokens.verify("a.b", 1_000).is_none());
        assert!(tokens.verify(&"x".repeat(MAX_TOKEN_LEN + 1), 1_000).is_none());
    }

    #[test]
    fn a_changed_token_or_another_secret_is_refused() {
        let tokens = tokens();
        let login = Login { tag: None, device: "d".into() };
        let st = tokens.issue("alice", &login, 1_000, 60);
        assert!(Tokens::new([8; 32], 3).verify(&st, 1_000).is_none(), "another store's secret");
        // Claims of bob's with alice's MAC.
        let (_, mac) = st.split_once('.').unwrap();
        let bob = tokens.issue("bob", &login, 1_000, 60);
        let (claims, _) = bob.split_once('.').unwrap();
        assert!(tokens.verify(&format!("{claims}.{mac}"), 1_000).is_none());
        // Every single-character change of the token is refused.
        for at in 0..st.len() {
            let mut changed = st.clone().into_bytes();
            changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(changed).unwrap();
            assert!(tokens.verify(&changed, 1_000).is_none_or(|_| changed == st), "changed at {at}");
        }
    }

    #[test]
    fn a_logout_ends_its_token_and_is_remembered_within_a_bound() {
        let tokens = tokens();
        let login = Login { tag: None, device: "d".into() };
        let first = tokens.issue("alice", &login, 1_000, 60);
        let second = tokens.issue("alice", &login, 1_000, 60);
        assert_ne!(first, second, "two logins of one device in one millisecond");
        assert_eq!(id_of(&first), tokens.verify(&first, 1_000).unwrap().id);
        tokens.revoke_id(id_of(&first));
        assert!(tokens.check(&first, "alice", 1_000).is_none(), "logged out");
        assert!(tokens.check(&second, "alice", 1_000).is_some());
        for _ in 0..10 {
            let t = tokens.issue("carol", &login, 3_000, 60);
            tokens.revoke_id(&tokens.verify(&t, 3_000).unwrap().id);
        }
        assert_eq!(tokens.revoked_len(), 3);
    }

    #[test]
    fn a_kick_ends_the_tokens_issued_before_it() {
        let tokens = tokens();
        let login = Login { tag: None, device: "d".into() };
        let alice = tokens.issue("alice", &login, 1_000, 60);
        let bob = tokens.issue("bob", &login, 1_000, 60);
        tokens.revoke("alice", 2_000, 10_000);
        assert!(tokens.check(&alice, "alice", 2_000).is_none());
        assert!(tokens.check(&bob, "bob", 2_000).is_some());
        let later = tokens.issue("alice", &login, 2_001, 60);
        assert!(tokens.check(&later, "alice", 2_001).is_some(), "a login after the kick");
        assert_eq!(tokens.revoked_at("alice"), Some(2_000));
        tokens.revoke("bob", 13_000, 10_000);
        assert_eq!(tokens.revoked_at("alice"), None, "forgotten once what it voided expired");
        assert_eq!(tokens.revoked_at("bob"), Some(13_000));
    }
}
