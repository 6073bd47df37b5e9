//! IM session tokens (`st`): handed out in `session/opened` and `session/refreshed`,
//! presented again on a reconnect (`r: true`) instead of a fresh signature, and as
//! `X-LC-IM-Session-Token` on the REST calls the SDKs make.
//!
//! A token remembers the login it continues: the device tag and the device, so a reconnect
//! (which the JS SDK sends without `tag` or `deviceId`) keeps its place in the single-device
//! rules. A kick by the app (`POST …/clients/{id}/kick`) revokes every token of the client and
//! voids signatures made before it.
//!
//! `session/close` (logout) ends the token of that session. The table holds at most
//! `limits.max_session_tokens`: past it the oldest tokens are forgotten, and their clients
//! get 4112 on a reconnect and log in afresh (the SDKs do this by themselves).
//!
//! This table is the process's cache. Every token is also kept in the store
//! ([`crate::store::token`]), so a token handed out by another process sharing the store,
//! or before a restart, or forgotten here past the bound, is still accepted: `Node::check_token`
//! looks there when the table does not know it, unless this process ended it or a kick
//! came after it. Kicks are also stored ([`crate::store::kick`]) and read back at start and
//! by every process while it runs, so no process revives signatures a kick voided.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::ids;

pub use crate::delivery::presence::Login;

#[derive(Debug, Clone)]
struct Grant {
    client: String,
    expires_ms: i64,
    login: Login,
}

/// Live grants, and their tokens in the order they were issued (which is also the order
/// they expire in: every token gets the same lifetime).
#[derive(Default)]
struct Grants {
    by_token: HashMap<Arc<str>, Grant>,
    issued: VecDeque<Arc<str>>,
}

/// Live tokens of this node (at most `max` of them), and when each kicked client was kicked.
pub struct Tokens {
    grants: Mutex<Grants>,
    /// Tokens ended here lately, newest last (at most `max`).
    revoked: Mutex<VecDeque<Arc<str>>>,
    kicked: Mutex<HashMap<String, i64>>,
    max: usize,
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens::new(usize::MAX)
    }
}

impl Tokens {
    /// A token table that keeps at most `max` tokens: past it the oldest are forgotten.
    pub fn new(max: usize) -> Self {
        Tokens { grants: Mutex::default(), revoked: Mutex::default(), kicked: Mutex::default(), max: max.max(1) }
    }

    /// A new token for `client`'s `login`, valid for `ttl_secs`.
    pub fn issue(&self, client: &str, login: &Login, now_ms: i64, ttl_secs: u64) -> String {
        let token = ids::new_session_token();
        let grant =
            Grant { client: client.to_owned(), expires_ms: now_ms + ttl_secs as i64 * 1000, login: login.clone() };
        let key: Arc<str> = token.as_str().into();
        let mut grants = self.grants.lock();
        let Grants { by_token, issued } = &mut *grants;
        // Forget the expired, then the oldest while over the bound.
        while let Some(oldest) = issued.front() {
            let expired = by_token.get(oldest).is_none_or(|g| g.expires_ms <= now_ms);
            if !expired && by_token.len() < self.max {
                break;
            }
            by_token.remove(oldest);
            issued.pop_front();
        }
        // Revoked tokens leave `issued` lazily; do not let them pile up there.
        if issued.len() >= 2 * by_token.len() + 1024 {
            issued.retain(|t| by_token.contains_key(t));
        }
        by_token.insert(key.clone(), grant);
        issued.push_back(key);
        token
    }

    /// The login `token` continues, if it was issued to `client` and has not expired.
    pub fn check(&self, token: &str, client: &str, now_ms: i64) -> Option<Login> {
        let grants = self.grants.lock();
        grants.by_token.get(token).filter(|g| g.client == client && g.expires_ms > now_ms).map(|g| g.login.clone())
    }

    /// The client `token` was issued to, if it has not expired.
    pub fn client_of(&self, token: &str, now_ms: i64) -> Option<String> {
        let grants = self.grants.lock();
        grants.by_token.get(token).filter(|g| g.expires_ms > now_ms).map(|g| g.client.clone())
    }

    /// Whether `token` was issued to `client` and has not expired.
    pub fn is_valid(&self, token: &str, client: &str, now_ms: i64) -> bool {
        self.check(token, client, now_ms).is_some()
    }

    /// Ends one token (the client logged out with `session/close`).
    pub fn revoke_token(&self, token: &str) {
        self.grants.lock().by_token.remove(token);
        let mut revoked = self.revoked.lock();
        if revoked.len() >= self.max {
            revoked.pop_front();
        }
        revoked.push_back(token.into());
    }

    /// Whether this process ended `token` (its removal from the store may not have landed).
    pub fn was_revoked(&self, token: &str) -> bool {
        self.revoked.lock().iter().any(|t| &**t == token)
    }

    /// Number of live tokens held.
    pub fn len(&self) -> usize {
        self.grants.lock().by_token.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Revokes every token of `client` and voids signatures made up to `now_ms`. Kicks
    /// older than `forget_after_ms` are forgotten: signatures made before them have expired.
    pub fn revoke(&self, client: &str, now_ms: i64, forget_after_ms: i64) {
        self.grants.lock().by_token.retain(|_, g| g.client != client);
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
    fn a_logout_ends_its_token_and_the_table_is_bounded() {
        let tokens = Tokens::new(3);
        let login = Login { tag: None, device: "d".into() };
        let first = tokens.issue("alice", &login, 1_000, 60);
        let second = tokens.issue("alice", &login, 1_000, 60);
        tokens.revoke_token(&first);
        assert!(!tokens.is_valid(&first, "alice", 1_000), "logged out");
        assert!(tokens.is_valid(&second, "alice", 1_000));
        let later: Vec<String> = (0..5).map(|_| tokens.issue("bob", &login, 2_000, 60)).collect();
        assert_eq!(tokens.len(), 3);
        assert!(!tokens.is_valid(&second, "alice", 2_000), "the oldest went first");
        assert!(later[2..].iter().all(|t| tokens.is_valid(t, "bob", 2_000)));
        for _ in 0..10_000 {
            let t = tokens.issue("carol", &login, 3_000, 60);
            tokens.revoke_token(&t);
        }
        assert!(tokens.grants.lock().issued.len() < 2_000, "revoked tokens do not pile up");
        tokens.issue("dave", &login, 70_000, 60);
        assert_eq!(tokens.len(), 1, "expired tokens are dropped as new ones come");
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
