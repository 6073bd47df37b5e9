//! IM session tokens, kept so that any process sharing the store accepts a token another
//! one handed out (a reconnect may reach any node), and a restart does not end them.
//!
//! Key `("st", token)` → [`TokenRecord`]; `("stx", expiresMs, token)` → empty, so expired
//! tokens are found in order and deleted by [`Store::expire_tokens`]. Tokens are written
//! through the commit pipeline without waiting (a reconnect that reaches another process
//! within the few milliseconds before the write lands gets 4112 and logs in afresh, as the
//! SDKs do by themselves).

use serde::{Deserialize, Serialize};

use super::kv::{self, RangeOptions, Write};
use super::records::{decode, encode};
use super::tuple::{Tuple, Unpack};
use super::{Store, StoreError};

/// A session token as kept in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenRecord {
    pub client: String,
    pub issued_ms: i64,
    pub expires_ms: i64,
    /// The device tag and device of the login it continues.
    pub tag: Option<String>,
    pub device: String,
}

fn key(token: &str) -> Vec<u8> {
    Tuple::new().str("st").str(token).into_bytes()
}

fn expiry_key(expires_ms: i64, token: &str) -> Vec<u8> {
    Tuple::new().str("stx").u64(expires_ms.max(0) as u64).str(token).into_bytes()
}

impl Store {
    /// Keeps `token` (durably soon: through the commit pipeline, without waiting).
    pub fn keep_token(&self, token: &str, record: &TokenRecord) {
        let writes =
            vec![Write::Set(key(token), encode(record)), Write::Set(expiry_key(record.expires_ms, token), Vec::new())];
        self.pipeline.submit(writes, Box::new(|_| {}));
    }

    /// Forgets `token` (a logout). Its expiry entry goes with the next sweep.
    pub fn forget_token(&self, token: &str) {
        self.pipeline.submit(vec![Write::Clear(key(token))], Box::new(|_| {}));
    }

    /// The kept token, if any (expired or not: the caller judges).
    pub fn token(&self, token: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.engine().snapshot().get(&key(token))?.map(|bytes| decode(&bytes)).transpose()
    }

    /// Deletes up to `budget` tokens that expired before `now_ms`; returns how many.
    pub fn expire_tokens(&self, now_ms: i64, budget: usize) -> Result<usize, StoreError> {
        let begin = Tuple::new().str("stx").into_bytes();
        let end = expiry_key(now_ms, "");
        let rows = self.engine().snapshot().get_range(&begin, &end, RangeOptions::forward(budget))?;
        let mut writes = Vec::with_capacity(rows.len() * 2);
        for (index, _) in &rows {
            let mut t = Unpack::new(index);
            let token = t.str().and(t.u64()).and(t.str()).ok_or_else(|| StoreError::Corrupt("stx key".into()))?;
            writes.push(Write::Clear(key(&token)));
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
    fn tokens_are_kept_found_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_embedded(dir.path(), 16).unwrap();
        let record = TokenRecord { client: "alice".into(), issued_ms: 1_000, expires_ms: 5_000, ..Default::default() };
        store.keep_token("t1", &record);
        store.keep_token("t2", &TokenRecord { expires_ms: 9_000, ..record.clone() });
        store.forget_token("t3");
        // The pipeline commits in order: once a later write is done, these are too.
        let (done, wait) = std::sync::mpsc::channel();
        store.pipeline.submit(vec![], Box::new(move |_| done.send(()).unwrap()));
        wait.recv().unwrap();
        assert_eq!(store.token("t1").unwrap(), Some(record));
        assert_eq!(store.expire_tokens(6_000, 10).unwrap(), 1);
        assert_eq!(store.token("t1").unwrap(), None);
        assert!(store.token("t2").unwrap().is_some());
    }
}
