//! Messages, client-token de-duplication and members' cursors.
//!
//! A conversation's messages are `("msg", cid, seq)` with seq counting from 1; timestamps
//! never decrease along seq, so a time bound becomes a seq bound by binary search.

use super::keys;
use super::kv::{RangeOptions, ReadTx, prefix_end};
use super::pipeline::Write;
use super::records::{Cursor, MsgRecord, decode, encode};
use super::tuple::Unpack;
use super::{Store, StoreError};

impl Store {
    /// A read-only view of one conversation's messages at this moment.
    pub fn messages<'a>(&'a self, cid: &'a str) -> MsgView<'a> {
        MsgView { snap: self.engine().snapshot(), cid }
    }

    /// The seq of the message `from` sent with client token `dt`, if it was stored.
    pub fn dedup_seq(&self, cid: &str, from: &str, dt: &str) -> Result<Option<u64>, StoreError> {
        let value = self.engine().snapshot().get(&keys::dedup(cid, from, dt))?;
        Ok(value.and_then(|v| Unpack::new(&v).u64()))
    }

    /// Every saved cursor of `cid`, by client.
    pub fn cursors(&self, cid: &str) -> Result<Vec<(String, Cursor)>, StoreError> {
        let prefix = keys::cursors(cid);
        let rows = self.engine().snapshot().get_range(&prefix, &prefix_end(&prefix), RangeOptions::default())?;
        rows.into_iter()
            .map(|(key, value)| {
                let mut t = Unpack::new(&key);
                let client = t.str().and(t.str()).and(t.str()).ok_or_else(|| StoreError::Corrupt("cur key".into()))?;
                Ok((client, decode(&value)?))
            })
            .collect()
    }

    /// `client`'s cursor in `cid` (all zero if it never moved).
    pub fn cursor(&self, cid: &str, client: &str) -> Result<Cursor, StoreError> {
        read_cursor(self.engine().snapshot().as_ref(), cid, client)
    }
}

pub fn read_cursor(tx: &dyn ReadTx, cid: &str, client: &str) -> Result<Cursor, StoreError> {
    Ok(tx.get(&keys::cursor(cid, client))?.map(|v| decode(&v)).transpose()?.unwrap_or_default())
}

/// The writes that store message `seq` of `cid` (and its de-duplication entry).
pub fn message_writes(cid: &str, seq: u64, record: &MsgRecord) -> Vec<Write> {
    let mut writes = vec![Write::Set(keys::msg(cid, seq), encode(record))];
    if let Some(dt) = &record.dt {
        let value = super::tuple::Tuple::new().u64(seq).into_bytes();
        writes.push(Write::Set(keys::dedup(cid, &record.from, dt), value));
    }
    writes
}

/// The write that stores `client`'s cursor in `cid`.
pub fn cursor_write(cid: &str, client: &str, cursor: &Cursor) -> Write {
    Write::Set(keys::cursor(cid, client), encode(cursor))
}

/// A consistent snapshot of one conversation's messages.
pub struct MsgView<'a> {
    snap: Box<dyn ReadTx + 'a>,
    cid: &'a str,
}

impl MsgView<'_> {
    /// The message at `seq`.
    pub fn get(&self, seq: u64) -> Result<Option<MsgRecord>, StoreError> {
        self.snap.get(&keys::msg(self.cid, seq))?.map(|v| decode(&v)).transpose()
    }

    /// The newest message.
    pub fn last(&self) -> Result<Option<(u64, MsgRecord)>, StoreError> {
        Ok(self.scan(1, u64::MAX, true, 1)?.pop())
    }

    /// Messages with `lo <= seq <= hi`, oldest first (or newest first if `reverse`), at most
    /// `limit` (0: no limit).
    pub fn scan(&self, lo: u64, hi: u64, reverse: bool, limit: usize) -> Result<Vec<(u64, MsgRecord)>, StoreError> {
        if lo > hi {
            return Ok(Vec::new());
        }
        let begin = keys::msg(self.cid, lo);
        let end = match hi.checked_add(1) {
            Some(next) => keys::msg(self.cid, next),
            None => super::kv::prefix_end(&keys::msgs(self.cid)),
        };
        let rows = self.snap.get_range(&begin, &end, RangeOptions { limit, reverse })?;
        rows.into_iter()
            .map(|(key, value)| {
                let mut t = Unpack::new(&key);
                let seq = t.str().and(t.str()).and(t.u64()).ok_or_else(|| StoreError::Corrupt("msg key".into()))?;
                Ok((seq, decode(&value)?))
            })
            .collect()
    }

    /// The smallest seq whose message has `ts >= t` (`ts > t` when `strict`), or one past
    /// the last message when there is none. Binary search over seq: timestamps never
    /// decrease along a conversation.
    pub fn first_seq_after_time(&self, t: i64, strict: bool, last_seq: u64) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (1u64, last_seq + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            // The first message at or after `mid` (seqs may have gaps if messages were deleted).
            let ts = match self.scan(mid, hi - 1, false, 1)?.pop() {
                Some((_, msg)) => msg.ts,
                None => i64::MAX,
            };
            let after = if strict { ts > t } else { ts >= t };
            if after {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pipeline::Write;

    fn store_with(messages: &[(u64, i64)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_embedded(dir.path(), 16).unwrap();
        let mut tx = store.engine().begin(true).unwrap();
        for &(seq, ts) in messages {
            let record = MsgRecord {
                mid: format!("m{seq}"),
                ts,
                dt: Some(format!("dt{seq}")),
                from: "a".into(),
                ..Default::default()
            };
            for write in message_writes("c1", seq, &record) {
                if let Write::Set(k, v) = write {
                    tx.set(&k, &v);
                }
            }
        }
        tx.commit().unwrap();
        (dir, store)
    }

    #[test]
    fn scans_ranges_in_both_directions() {
        let (_dir, store) = store_with(&[(1, 10), (2, 20), (3, 30), (4, 40)]);
        let view = store.messages("c1");
        let seqs = |v: Vec<(u64, MsgRecord)>| v.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
        assert_eq!(seqs(view.scan(1, u64::MAX, false, 0).unwrap()), vec![1, 2, 3, 4]);
        assert_eq!(seqs(view.scan(2, 3, true, 0).unwrap()), vec![3, 2]);
        assert_eq!(seqs(view.scan(1, 4, true, 2).unwrap()), vec![4, 3]);
        assert_eq!(view.last().unwrap().unwrap().0, 4);
        assert!(store.messages("c2").last().unwrap().is_none());
        assert_eq!(store.dedup_seq("c1", "a", "dt3").unwrap(), Some(3));
        assert_eq!(store.dedup_seq("c1", "b", "dt3").unwrap(), None);
    }

    #[test]
    fn time_bounds_become_seq_bounds() {
        let (_dir, store) = store_with(&[(1, 10), (2, 20), (3, 20), (4, 30), (6, 50)]);
        let view = store.messages("c1");
        assert_eq!(view.first_seq_after_time(20, false, 6).unwrap(), 2);
        assert_eq!(view.first_seq_after_time(20, true, 6).unwrap(), 4);
        assert_eq!(view.first_seq_after_time(5, false, 6).unwrap(), 1);
        assert_eq!(view.first_seq_after_time(40, false, 6).unwrap(), 5, "seq 5 is missing; 6 is next");
        assert_eq!(view.first_seq_after_time(60, false, 6).unwrap(), 7);
    }

    #[test]
    fn cursors_default_to_zero() {
        let (_dir, store) = store_with(&[]);
        assert_eq!(store.cursor("c1", "bob").unwrap(), Cursor::default());
    }
}
