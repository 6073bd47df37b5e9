//! IM session tokens (`st`): handed out in `session/opened`, presented again on a reconnect
//! (`r: true`) instead of a fresh signature. Kept in memory: after a restart every token is
//! unknown, the client gets 4112 and the SDKs open a fresh session.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::ids;

#[derive(Debug, Clone)]
struct Grant {
    client: String,
    expires_ms: i64,
}

/// Live tokens of this node.
#[derive(Default)]
pub struct Tokens {
    grants: Mutex<HashMap<String, Grant>>,
}

impl Tokens {
    /// A new token for `client`, valid for `ttl_secs`.
    pub fn issue(&self, client: &str, now_ms: i64, ttl_secs: u64) -> String {
        let token = ids::new_session_token();
        let grant = Grant { client: client.to_owned(), expires_ms: now_ms + ttl_secs as i64 * 1000 };
        let mut grants = self.grants.lock();
        if grants.len() % 1024 == 1023 {
            grants.retain(|_, g| g.expires_ms > now_ms);
        }
        grants.insert(token.clone(), grant);
        token
    }

    /// Whether `token` was issued to `client` and has not expired.
    pub fn is_valid(&self, token: &str, client: &str, now_ms: i64) -> bool {
        self.grants.lock().get(token).is_some_and(|g| g.client == client && g.expires_ms > now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_belong_to_a_client_and_expire() {
        let tokens = Tokens::default();
        let st = tokens.issue("alice", 1_000, 60);
        assert!(tokens.is_valid(&st, "alice", 1_000));
        assert!(tokens.is_valid(&st, "alice", 60_999));
        assert!(!tokens.is_valid(&st, "alice", 61_000), "expired");
        assert!(!tokens.is_valid(&st, "bob", 1_000), "someone else's");
        assert!(!tokens.is_valid("forged", "alice", 1_000));
    }
}
