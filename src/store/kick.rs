//! Forced logouts (F-KICK), kept so that a restart does not bring back signatures the app
//! voided by kicking a client (spec/leancloud-im.md §3.9).
//!
//! Key `("kick", clientId)`, value: the time of the last kick, milliseconds, big-endian;
//! and `("kickt", atMs, clientId)` → empty, so every process sharing the store finds the
//! kicks since it last looked ([`Store::kicks_after`]) without reading them all.

use super::kv::{self, RangeOptions, prefix_end};
use super::tuple::{Tuple, Unpack};
use super::{Store, StoreError};

fn key(client: &str) -> Vec<u8> {
    Tuple::new().str("kick").str(client).into_bytes()
}

fn time_key(at_ms: i64, client: &str) -> Vec<u8> {
    Tuple::new().str("kickt").u64(at_ms.max(0) as u64).str(client).into_bytes()
}

impl Store {
    /// Records that `client` was kicked at `at_ms` (durably, before it returns).
    pub fn record_kick(&self, client: &str, at_ms: i64) -> Result<(), StoreError> {
        kv::run(self.engine(), |tx| {
            tx.set(&key(client), &at_ms.to_be_bytes());
            tx.set(&time_key(at_ms, client), b"");
            Ok(())
        })
    }

    /// The kicks recorded after `after_ms`, oldest first: `(client, at_ms)`.
    pub fn kicks_after(&self, after_ms: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let begin = time_key(after_ms.saturating_add(1), "");
        let end = prefix_end(&Tuple::new().str("kickt").into_bytes());
        let rows = self.engine().snapshot().get_range(&begin, &end, RangeOptions::default())?;
        rows.into_iter()
            .map(|(k, _)| {
                let mut t = Unpack::new(&k);
                let (at, client) = (t.str().and(t.u64()), t.str());
                Ok((client.ok_or_else(|| StoreError::Corrupt("kickt key".into()))?, at.unwrap_or(0) as i64))
            })
            .collect()
    }

    /// Every kick at or after `since_ms`: `(client, at_ms)`.
    pub fn kicks_since(&self, since_ms: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let prefix = Tuple::new().str("kick").into_bytes();
        let rows = self.engine().snapshot().get_range(&prefix, &prefix_end(&prefix), RangeOptions::default())?;
        let mut kicks = Vec::new();
        for (k, v) in rows {
            let mut t = Unpack::new(&k);
            let client = t.str().and(t.str()).ok_or_else(|| StoreError::Corrupt("kick key".into()))?;
            let at = i64::from_be_bytes(v.try_into().map_err(|_| StoreError::Corrupt("kick time".into()))?);
            if at >= since_ms {
                kicks.push((client, at));
            }
        }
        Ok(kicks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kicks_survive_and_old_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_embedded(dir.path(), 16).unwrap();
        store.record_kick("alice", 1_000).unwrap();
        store.record_kick("bob", 5_000).unwrap();
        store.record_kick("alice", 7_000).unwrap();
        let mut kicks = store.kicks_since(2_000).unwrap();
        kicks.sort();
        assert_eq!(kicks, vec![("alice".to_string(), 7_000), ("bob".to_string(), 5_000)]);
        assert_eq!(store.kicks_since(6_000).unwrap(), vec![("alice".to_string(), 7_000)]);
        assert_eq!(store.kicks_after(1_000).unwrap(), vec![("bob".to_string(), 5_000), ("alice".to_string(), 7_000)]);
        assert_eq!(store.kicks_after(7_000).unwrap(), vec![]);
    }
}
