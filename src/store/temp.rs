//! Temporary conversations (F-CONV-TEMP): creation keyed by member set, and deletion once
//! they expire.
//!
//! A temporary conversation is an ordinary [`ConvRecord`] under `("conv", cid)` (so sending,
//! history, receipts and the unread summary treat it like any other) with `temp: true`, an
//! `_tmp:` id and `expires_ms`. Two indexes come with it:
//!
//! - `("tmpu", uniqueId)` → cid: the newest temporary conversation of a member set
//!   (`uniqueId` as for unique conversations, [`ids::unique_id`]). While that one lives,
//!   starting a temporary conversation with the same members returns it (the JS SDK caches
//!   temporary conversations by member set and expects the same id back). One transaction
//!   reads the index and writes the conversation, so racing creators get one id.
//! - `("tmpx", expiresMs, cid)`: the expiry index, in expiry order, for the sweep
//!   ([`Store::expired_temp_conversations`], run by the node in the background).
//!
//! An expired conversation is never revived: starting one with the same members makes a
//! new id, and a restart extends only a live one (its entry in `tmpx` moves in the same
//! transaction). So once an entry is past its time it stays so, and the sweep may delete
//! without racing a creator.
//!
//! Deleting ([`Store::delete_temp_conversation`]) goes in bounded steps, never in one
//! unbounded transaction (FoundationDB allows 10 MB and 5 s per transaction): first the
//! record, its membership rows and its `tmpu` entry (one small transaction: the
//! conversation is gone for everyone at once), then its messages, client-token entries and
//! cursors a chunk at a time, and the `tmpx` entry last — a crash in between leaves the
//! entry, and the next sweep finishes the work.

use super::conv::{Started, read_conversation};
use super::keys;
use super::kv::{self, RangeOptions, Write, prefix_end};
use super::records::{ConvRecord, encode};
use super::tuple::Unpack;
use super::{Store, StoreError};
use crate::ids;

/// A temporary conversation to start.
#[derive(Debug, Clone)]
pub struct NewTemp {
    pub creator: String,
    /// Sorted, de-duplicated, creator included.
    pub members: Vec<String>,
    /// JSON object text of the creation attributes.
    pub attrs: String,
    /// Lifetime asked for (already defaulted and capped), ms.
    pub ttl_ms: i64,
    pub now_ms: i64,
}

impl Store {
    /// Starts a temporary conversation, or returns the live one with exactly these members,
    /// its expiry moved to `now + ttl` if that is later (`existing: true`). A member set
    /// whose last temporary conversation has expired gets a new one.
    pub fn start_temp_conversation(&self, new: &NewTemp) -> Result<Started, StoreError> {
        let unique_id = ids::unique_id(&new.members);
        let expires_ms = new.now_ms.saturating_add(new.ttl_ms);
        kv::run(self.engine(), |tx| {
            if let Some(cid) = tx.get(&keys::temp_unique(&unique_id))? {
                let cid = String::from_utf8(cid).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if let Some(mut record) = read_conversation(tx, &cid)?.filter(|r| r.temp && r.expires_ms > new.now_ms) {
                    if expires_ms > record.expires_ms {
                        tx.clear(&keys::temp_expiry(record.expires_ms, &cid));
                        tx.set(&keys::temp_expiry(expires_ms, &cid), b"");
                        record.expires_ms = expires_ms;
                        tx.set(&keys::conv(&cid), &encode(&record));
                    }
                    return Ok(Started { cid, record, existing: true });
                }
            }
            let cid = ids::new_temp_conversation_id();
            let record = ConvRecord {
                creator: new.creator.clone(),
                members: new.members.clone(),
                attrs: new.attrs.clone(),
                temp: true,
                expires_ms,
                created_ms: new.now_ms,
                updated_ms: new.now_ms,
                ..Default::default()
            };
            tx.set(&keys::conv(&cid), &encode(&record));
            // Replaces the entry of an expired predecessor, if any (its sweep checks).
            tx.set(&keys::temp_unique(&unique_id), cid.as_bytes());
            tx.set(&keys::temp_expiry(expires_ms, &cid), b"");
            for member in &new.members {
                tx.set(&keys::client_conv(member, &cid), b"");
            }
            Ok(Started { cid, record, existing: false })
        })
    }

    /// `(expiresMs, cid)` of the temporary conversations that expired before `before_ms`,
    /// soonest first, at most `limit`.
    pub fn expired_temp_conversations(&self, before_ms: i64, limit: usize) -> Result<Vec<(i64, String)>, StoreError> {
        let (begin, end) = (keys::temp_expiries(), keys::temp_expiries_before(before_ms));
        let rows = self.engine().snapshot().get_range(&begin, &end, RangeOptions::forward(limit))?;
        rows.into_iter()
            .map(|(key, _)| {
                let mut t = Unpack::new(&key);
                let (_, expires, cid) = (t.str(), t.u64(), t.str());
                match (expires, cid) {
                    (Some(expires), Some(cid)) => Ok((expires as i64, cid)),
                    _ => Err(StoreError::Corrupt("tmpx key".into())),
                }
            })
            .collect()
    }

    /// The expiry of the next temporary conversation to expire, if any.
    pub fn next_temp_expiry(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.expired_temp_conversations(i64::MAX, 1)?.first().map(|(expires, _)| *expires))
    }

    /// Deletes temporary conversation `cid`, whose entry in the expiry index says
    /// `expires_ms` (the caller found it there, past its time), and everything stored under
    /// it, `chunk` rows per write at most (see the module doc for the order).
    pub fn delete_temp_conversation(&self, expires_ms: i64, cid: &str, chunk: usize) -> Result<(), StoreError> {
        let deleted = kv::run(self.engine(), |tx| -> Result<bool, StoreError> {
            let Some(record) = read_conversation(tx, cid)? else {
                return Ok(true); // an earlier sweep got this far
            };
            if !record.temp || record.expires_ms > expires_ms {
                return Ok(false); // not this entry's to delete (cannot happen; see the module doc)
            }
            tx.clear(&keys::conv(cid));
            for member in &record.members {
                tx.clear(&keys::client_conv(member, cid));
            }
            let unique = keys::temp_unique(&ids::unique_id(&record.members));
            if tx.get(&unique)?.is_some_and(|owner| owner == cid.as_bytes()) {
                tx.clear(&unique);
            }
            Ok(true)
        })?;
        if deleted {
            for prefix in [keys::msgs(cid), keys::dedups(cid), keys::cursors(cid)] {
                self.clear_prefix(&prefix, chunk)?;
            }
        }
        // The owner epoch is a guard key: cleared through the engine's write, never in a
        // transaction (see `kv`'s module doc).
        let entry = [Write::Clear(keys::owner(cid)), Write::Clear(keys::temp_expiry(expires_ms, cid))];
        Ok(kv::write_all(self.engine(), &entry)?)
    }

    /// Clears every key under `prefix`, `chunk` keys per atomic write. These rows (messages,
    /// client tokens, cursors) are written as blind writes by the commit pipeline and never
    /// read by a read-modify-write transaction, so they are cleared the same way (an FDB
    /// transaction with no reads).
    fn clear_prefix(&self, prefix: &[u8], chunk: usize) -> Result<(), StoreError> {
        let end = prefix_end(prefix);
        let chunk = chunk.max(1);
        loop {
            let rows = self.engine().snapshot().get_range(prefix, &end, RangeOptions::forward(chunk))?;
            let clears: Vec<Write> = rows.into_iter().map(|(key, _)| Write::Clear(key)).collect();
            if !clears.is_empty() {
                kv::write_all(self.engine(), &clears)?;
            }
            if clears.len() < chunk {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::msg::{cursor_write, message_writes};
    use crate::store::records::{Cursor, MsgRecord};
    use std::sync::{Arc, Barrier};

    const NOW: i64 = 1_795_641_565_000;
    const DAY: i64 = 86_400_000;

    fn new_temp(members: &[&str], ttl_ms: i64, now_ms: i64) -> NewTemp {
        NewTemp {
            creator: members[0].to_string(),
            members: members.iter().map(|m| m.to_string()).collect(),
            attrs: "{}".into(),
            ttl_ms,
            now_ms,
        }
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_embedded(dir.path(), 16).unwrap();
        (dir, store)
    }

    /// Every key in the store (to check what a deletion leaves).
    fn all_keys(store: &Store) -> Vec<Vec<u8>> {
        let rows = store.engine().snapshot().get_range(&[], &[0xff], RangeOptions::default()).unwrap();
        rows.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn same_members_same_conversation_while_it_lives() {
        let (_dir, store) = open();
        let first = store.start_temp_conversation(&new_temp(&["alice", "bob"], DAY, NOW)).unwrap();
        assert!(!first.existing);
        assert!(ids::is_temp_conversation_id(&first.cid), "{}", first.cid);
        let record = &first.record;
        assert!(record.temp && !record.unique && record.unique_id.is_none());
        assert_eq!((record.expires_ms, record.created_ms), (NOW + DAY, NOW));
        assert_eq!(store.conversation(&first.cid).unwrap().as_ref(), Some(record));
        assert_eq!(store.conversations_of("bob").unwrap(), vec![first.cid.clone()]);

        // Again, asking for less: the same one, its expiry unchanged.
        let again = store.start_temp_conversation(&new_temp(&["alice", "bob"], 1000, NOW + 10)).unwrap();
        assert_eq!(
            (again.cid.as_str(), again.existing, again.record.expires_ms),
            (first.cid.as_str(), true, NOW + DAY)
        );
        // Asking for more: the expiry moves, and its index entry with it.
        let longer = store.start_temp_conversation(&new_temp(&["alice", "bob"], 2 * DAY, NOW + 20)).unwrap();
        assert_eq!((longer.cid.as_str(), longer.record.expires_ms), (first.cid.as_str(), NOW + 20 + 2 * DAY));
        assert_eq!(store.conversation(&first.cid).unwrap().unwrap().expires_ms, NOW + 20 + 2 * DAY);
        assert_eq!(
            store.expired_temp_conversations(i64::MAX, 10).unwrap(),
            vec![(NOW + 20 + 2 * DAY, first.cid.clone())]
        );
        assert_eq!(store.next_temp_expiry().unwrap(), Some(NOW + 20 + 2 * DAY));

        // Another member set is another conversation; normal unique conversations are apart.
        let other = store.start_temp_conversation(&new_temp(&["alice", "carol"], DAY, NOW)).unwrap();
        assert_ne!(other.cid, first.cid);

        // Expired (not yet swept): a new id for the same members.
        let later = NOW + 20 + 2 * DAY;
        let fresh = store.start_temp_conversation(&new_temp(&["alice", "bob"], DAY, later)).unwrap();
        assert!(!fresh.existing);
        assert_ne!(fresh.cid, first.cid);
        let expired = store.expired_temp_conversations(later + 1, 10).unwrap();
        assert_eq!(expired, vec![(NOW + DAY, other.cid.clone()), (later, first.cid.clone())]);
    }

    #[test]
    fn racing_creators_get_one_temporary_conversation() {
        let (_dir, store) = open();
        let store = Arc::new(store);
        let barrier = Arc::new(Barrier::new(6));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (store, barrier) = (store.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.start_temp_conversation(&new_temp(&["a", "b", "c"], DAY, NOW)).unwrap()
                })
            })
            .collect();
        let results: Vec<Started> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(results.iter().all(|r| r.cid == results[0].cid), "{results:?}");
        assert_eq!(results.iter().filter(|r| !r.existing).count(), 1);
    }

    #[test]
    fn deleting_leaves_nothing_under_the_conversation() {
        let (_dir, store) = open();
        let keep = store.start_conversation(&crate::store::conv::NewConv {
            creator: "alice".into(),
            members: vec!["alice".into(), "bob".into()],
            attrs: "{}".into(),
            unique: true,
            now_ms: NOW,
        });
        let keep = keep.unwrap().cid;
        let before = all_keys(&store);
        let temp = store.start_temp_conversation(&new_temp(&["alice", "bob"], 1000, NOW)).unwrap().cid;
        // Messages (with client tokens) and cursors, more than a chunk of each.
        let mut writes = Vec::new();
        for seq in 1..=7u64 {
            let record = MsgRecord {
                mid: format!("m{seq}"),
                from: "alice".into(),
                dt: Some(format!("dt{seq}")),
                ..Default::default()
            };
            writes.extend(message_writes(&temp, seq, &record));
        }
        for member in ["alice", "bob", "carol"] {
            writes.push(cursor_write(&temp, member, &Cursor { read_seq: 3, ..Default::default() }));
        }
        crate::store::kv::write_all(store.engine(), &writes).unwrap();

        assert!(store.expired_temp_conversations(NOW + 1000, 10).unwrap().is_empty(), "not before its time");
        let expired = store.expired_temp_conversations(NOW + 1001, 10).unwrap();
        assert_eq!(expired, vec![(NOW + 1000, temp.clone())]);
        store.delete_temp_conversation(NOW + 1000, &temp, 3).unwrap();
        assert_eq!(all_keys(&store), before, "only the normal conversation's rows are left");
        assert_eq!(store.conversation(&temp).unwrap(), None);
        assert_eq!(store.conversations_of("bob").unwrap(), vec![keep]);
        assert!(store.expired_temp_conversations(i64::MAX, 10).unwrap().is_empty());
        // Deleting again (a sweep that crashed half-way) is harmless.
        store.delete_temp_conversation(NOW + 1000, &temp, 3).unwrap();
    }

    #[test]
    fn deleting_an_expired_predecessor_keeps_its_successors_index_entry() {
        let (_dir, store) = open();
        let old = store.start_temp_conversation(&new_temp(&["alice", "bob"], 1000, NOW)).unwrap().cid;
        let new = store.start_temp_conversation(&new_temp(&["alice", "bob"], DAY, NOW + 5000)).unwrap().cid;
        assert_ne!(old, new);
        store.delete_temp_conversation(NOW + 1000, &old, 100).unwrap();
        let again = store.start_temp_conversation(&new_temp(&["alice", "bob"], DAY, NOW + 6000)).unwrap();
        assert_eq!((again.cid, again.existing), (new.clone(), true));
        assert_eq!(store.conversations_of("alice").unwrap(), vec![new]);
    }
}
