//! Kept ("permanent") notifications per client: conversation events a client may have
//! missed while offline, replayed through `GET /1.1/rtm/notifications`.
//!
//! Key `("ntf", clientId, serverTs, n)`; the value is the notification as the REST endpoint
//! returns it (JSON text). `n` tells apart notifications of the same millisecond: the
//! writing process's node id above its own counter.
//!
//! Notifications live `limits.notification_ttl_secs` (30 days): older ones are not returned,
//! and [`Store::expire_notifications`] deletes them a chunk at a time in the background.

use std::sync::atomic::Ordering;

use super::kv::{self, RangeOptions, prefix_end};
use super::pipeline::Write;
use super::tuple::{Tuple, Unpack};
use super::{Store, StoreError};

fn key(client: &str, server_ts: i64, n: u64) -> Vec<u8> {
    Tuple::new().str("ntf").str(client).u64(server_ts.max(0) as u64).u64(n).into_bytes()
}

impl Store {
    /// The write that keeps notification `body` (JSON text) for `client`. `n` is this
    /// process's node id ([`Store::node_id`]) above a counter, so processes sharing the store
    /// never write the same key.
    pub fn notification_write(&self, client: &str, server_ts: i64, body: String) -> Write {
        let n = self.node_id() << 40 | (self.notifications.fetch_add(1, Ordering::Relaxed) & ((1 << 40) - 1));
        Write::Set(key(client, server_ts, n), body.into_bytes())
    }

    /// `client`'s notifications with `serverTs > after`, oldest first, at most `limit`.
    /// The flag says whether more follow.
    pub fn notifications(&self, client: &str, after: i64, limit: usize) -> Result<(Vec<String>, bool), StoreError> {
        let begin = key(client, after.max(0) + 1, 0);
        let end = prefix_end(&Tuple::new().str("ntf").str(client).into_bytes());
        let rows = self.engine().snapshot().get_range(&begin, &end, RangeOptions::forward(limit + 1))?;
        let more = rows.len() > limit;
        let bodies = rows
            .into_iter()
            .take(limit)
            .map(|(key, value)| {
                let mut t = Unpack::new(&key);
                t.str().and(t.str()).and(t.u64()).ok_or_else(|| StoreError::Corrupt("ntf key".into()))?;
                String::from_utf8(value).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok((bodies, more))
    }
}

/// Where a sweep of expired notifications goes on from.
#[derive(Debug, Default)]
pub struct SweepCursor(Option<Vec<u8>>);

impl Store {
    /// Deletes notifications kept before `before_ts`, looking at up to `budget` of them from
    /// `cursor` on. Returns how many it deleted and whether the sweep reached the end (the
    /// cursor then starts again from the beginning).
    pub fn expire_notifications(
        &self,
        before_ts: i64,
        cursor: &mut SweepCursor,
        budget: usize,
    ) -> Result<(usize, bool), StoreError> {
        let prefix = Tuple::new().str("ntf").into_bytes();
        let begin = cursor.0.take().unwrap_or_else(|| prefix.clone());
        let rows = self.engine().snapshot().get_range(&begin, &prefix_end(&prefix), RangeOptions::forward(budget))?;
        let done = rows.len() < budget;
        let mut expired = Vec::new();
        for (key, _) in &rows {
            let mut t = Unpack::new(key);
            let ts = t.str().and(t.str()).and(t.u64()).ok_or_else(|| StoreError::Corrupt("ntf key".into()))?;
            if (ts as i64) < before_ts {
                expired.push(super::kv::Write::Clear(key.clone()));
            }
        }
        if !expired.is_empty() {
            kv::write_all(self.engine(), &expired)?;
        }
        if let Some((last, _)) = rows.last().filter(|_| !done) {
            let mut next = last.clone();
            next.push(0);
            cursor.0 = Some(next);
        }
        Ok((expired.len(), done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_page_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_embedded(dir.path(), 16).unwrap();
        let mut tx = store.engine().begin(true).unwrap();
        for (client, ts, body) in
            [("bob", 10, "a"), ("bob", 20, "b"), ("bob", 20, "c"), ("bob", 30, "d"), ("bobby", 15, "x")]
        {
            if let Write::Set(k, v) = store.notification_write(client, ts, body.into()) {
                tx.set(&k, &v);
            }
        }
        tx.commit().unwrap();
        assert_eq!(
            store.notifications("bob", 0, 10).unwrap(),
            (vec!["a".into(), "b".into(), "c".into(), "d".into()], false)
        );
        assert_eq!(store.notifications("bob", 10, 2).unwrap(), (vec!["b".into(), "c".into()], true));
        assert_eq!(store.notifications("bob", 30, 10).unwrap(), (vec![], false));
        assert_eq!(store.notifications("carol", 0, 10).unwrap(), (vec![], false));

        let mut cursor = SweepCursor::default();
        assert_eq!(store.expire_notifications(20, &mut cursor, 2).unwrap(), (1, false), "bob's 10");
        assert_eq!(store.expire_notifications(20, &mut cursor, 2).unwrap(), (0, false));
        assert_eq!(store.expire_notifications(20, &mut cursor, 2).unwrap(), (1, true), "bobby's 15");
        assert_eq!(store.notifications("bob", 0, 10).unwrap().0, ["b", "c", "d"]);
        assert_eq!(store.notifications("bobby", 0, 10).unwrap().0, Vec::<String>::new());
    }
}
