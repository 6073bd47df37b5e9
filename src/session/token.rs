//! IM session tokens (`st`): handed out in `session/opened` and `session/refreshed`,
//! presented again on a reconnect (`r: true`) instead of a fresh signature, and as
//! `X-LC-IM-Session-Token` on the REST calls the SDKs make.
//!
//! A token remembers the login it continues: the device tag and the device, so a reconnect
//! (which the JS SDK sends without `tag` or `deviceId`) keeps its place in the single-device
//! rules. A kick by the app (`POST …/clients/{id}/kick`) revokes every token of the client and
//! voids signatures made before it.
//!
//! Tokens are kept in memory: after a restart every token is unknown, the client gets 4112
//! and the SDKs open a fresh session. Kicks are also stored ([`crate::store::kick`]) and read
//! back at start, so a restart does not revive signatures a kick voided.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::ids;

/// The login a token continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The device tag for single-device login (`None`: no tag, or `default`).
    pub tag: Option<Arc<str>>,
    /// The device: its `deviceId`, or an id made up for a login that sent none.
    pub device: Arc<str>,
}

#[derive(Debug, Clone)]
struct Grant {
    client: String,
    expires_ms: i64,
    login: Login,
}

/// Live tokens of this node, and when each kicked client was kicked.
#[derive(Default)]
pub struct Tokens {
    grants: Mutex<HashMap<String, Grant>>,
    kicked: Mutex<HashMap<String, i64>>,
}

impl Tokens {
    /// A new token for `client`'s `login`, valid for `ttl_secs`.
    pub fn issue(&self, client: &str, login: &Login, now_ms: i64, ttl_secs: u64) -> String {
        let token = ids::new_session_token();
        let grant =
            Grant { client: client.to_owned(), expires_ms: now_ms + ttl_secs as i64 * 1000, login: login.clone() };
        let mut grants = self.grants.lock();
        if grants.len() % 1024 == 1023 {
            grants.retain(|_, g| g.expires_ms > now_ms);
        }
        grants.insert(token.clone(), grant);
        token
    }

    /// The login `token` continues, if it was issued to `client` and has not expired.
    pub fn check(&self, token: &str, client: &str, now_ms: i64) -> Option<Login> {
        let grants = self.grants.lock();
        grants.get(token).filter(|g| g.client == client && g.expires_ms > now_ms).map(|g| g.login.clone())
    }

    /// Whether `token` was issued to `client` and has not expired.
    pub fn is_valid(&self, token: &str, client: &str, now_ms: i64) -> bool {
        self.check(token, client, now_ms).is_some()
    }

    /// Revokes every token of `client` and voids signatures made up to `now_ms`. Kicks
    /// older than `forget_after_ms` are forgotten: signatures made before them have expired.
    pub fn revoke(&self, client: &str, now_ms: i64, forget_after_ms: i64) {
        self.grants.lock().retain(|_, g| g.client != client);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_belong_to_a_client_and_expire() {
        let tokens = Tokens::default();
        let login = Login { tag: Some("Mobile".into()), device: "phone-1".into() };
        let st = tokens.issue("alice", &login, 1_000, 60);
        assert_eq!(tokens.check(&st, "alice", 1_000), Some(login));
        assert!(tokens.is_valid(&st, "alice", 60_999));
        assert!(!tokens.is_valid(&st, "alice", 61_000), "expired");
        assert!(!tokens.is_valid(&st, "bob", 1_000), "someone else's");
        assert!(!tokens.is_valid("forged", "alice", 1_000));
    }

    #[test]
    fn a_kick_revokes_tokens() {
        let tokens = Tokens::default();
        let login = Login { tag: None, device: "d".into() };
        let alice = tokens.issue("alice", &login, 1_000, 60);
        let bob = tokens.issue("bob", &login, 1_000, 60);
        tokens.revoke("alice", 2_000, 10_000);
        assert!(!tokens.is_valid(&alice, "alice", 2_000));
        assert!(tokens.is_valid(&bob, "bob", 2_000));
        assert_eq!(tokens.revoked_at("alice"), Some(2_000));
        assert_eq!(tokens.revoked_at("bob"), None);
        tokens.revoke("bob", 13_000, 10_000);
        assert_eq!(tokens.revoked_at("alice"), None, "forgotten once older signatures expired");
        assert_eq!(tokens.revoked_at("bob"), Some(13_000));
    }
}
