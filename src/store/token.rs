//! What every process sharing the store needs to agree on session tokens
//! ([`crate::services::token`]): the secret they are signed with, and the tokens ended by a
//! logout before they expire.
//!
//! - `("secret", "st")` → 32 random bytes, made by the first process that opens the store.
//! - `("stend", tokenId)` → the token's expiry (milliseconds, big-endian), and
//!   `("stendx", expiresMs, tokenId)` → empty, so ended tokens are forgotten in expiry order
//!   by [`Store::expire_token_ends`] once they could not be used anyway.
//!
//! A logout is written through the commit pipeline without waiting: another process may
//! accept the token for the few milliseconds before the write lands.

use super::kv::{self, RangeOptions, Write};
use super::tuple::{Tuple, Unpack};
use super::{Store, StoreError};

fn secret_key() -> Vec<u8> {
    Tuple::new().str("secret").str("st").into_bytes()
}

fn end_key(id: &str) -> Vec<u8> {
    Tuple::new().str("stend").str(id).into_bytes()
}

fn expiry_key(expires_ms: i64, id: &str) -> Vec<u8> {
    Tuple::new().str("stendx").u64(expires_ms.max(0) as u64).str(id).into_bytes()
}

impl Store {
    /// The secret session tokens are signed with: the one in the store, or a new one put
    /// there (one transaction, so processes opening the store at once agree).
    pub fn token_secret(&self) -> Result<[u8; 32], StoreError> {
        let key = secret_key();
        kv::run(self.engine(), |tx| {
            if let Some(secret) = tx.get(&key)? {
                return <[u8; 32]>::try_from(secret.as_slice())
                    .map_err(|_| StoreError::Corrupt("session token secret".into()));
            }
            let secret: [u8; 32] = rand::random();
            tx.set(&key, &secret);
            Ok(secret)
        })
    }

    /// Records that the token `id`, valid until `expires_ms`, was ended by a logout.
    pub fn end_token(&self, id: &str, expires_ms: i64) {
        let writes = vec![
            Write::Set(end_key(id), expires_ms.to_be_bytes().to_vec()),
            Write::Set(expiry_key(expires_ms, id), Vec::new()),
        ];
        self.pipeline.submit(writes, Box::new(|_| {}));
    }

    /// Whether the token `id` was ended by a logout (in any process).
    pub fn token_ended(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.engine().snapshot().get(&end_key(id))?.is_some())
    }

    /// Forgets up to `budget` ended tokens that expired before `now_ms`; returns how many.
    pub fn expire_token_ends(&self, now_ms: i64, budget: usize) -> Result<usize, StoreError> {
        let begin = Tuple::new().str("stendx").into_bytes();
        let end = expiry_key(now_ms, "");
        let rows = self.engine().snapshot().get_range(&begin, &end, RangeOptions::forward(budget))?;
        let mut writes = Vec::with_capacity(rows.len() * 2);
        for (index, _) in &rows {
            let mut t = Unpack::new(index);
            let id = t.str().and(t.u64()).and(t.str()).ok_or_else(|| StoreError::Corrupt("stendx key".into()))?;
            writes.push(Write::Clear(end_key(&id)));
            writes.push(Write::Clear(index.clone()));
        }
        if !writes.is_empty() {
            kv::write_all(self.engine(), &writes)?;
        }
        Ok(rows.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_made_once_and_ended_tokens_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_embedded(dir.path(), 16).unwrap();
        let secret = store.token_secret().unwrap();
        assert_eq!(store.token_secret().unwrap(), secret, "read back, not made again");
        store.end_token("t1", 5_000);
        store.end_token("t2", 9_000);
        // The pipeline commits in order: once a later write is done, these are too.
        let (done, wait) = std::sync::mpsc::channel();
        store.pipeline.submit(vec![], Box::new(move |_| done.send(()).unwrap()));
        wait.recv().unwrap();
        assert!(store.token_ended("t1").unwrap());
        assert!(!store.token_ended("t3").unwrap());
        assert_eq!(store.expire_token_ends(6_000, 10).unwrap(), 1);
        assert!(!store.token_ended("t1").unwrap(), "forgotten once it expired");
        assert!(store.token_ended("t2").unwrap());
    }
}
