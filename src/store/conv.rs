//! Conversations, their members and the unique index.

use super::keys;
use super::kv::{self, Guard, RangeOptions, ReadTx, prefix_end};
use super::owner::check_owner;
use super::records::{ConvRecord, decode, encode};
use super::tuple::Unpack;
use super::{Store, StoreError};
use crate::ids;

/// A conversation to create.
#[derive(Debug, Clone)]
pub struct NewConv {
    pub creator: String,
    /// Sorted, de-duplicated, creator included.
    pub members: Vec<String>,
    /// JSON object text of the creation attributes (`name`, custom keys).
    pub attrs: String,
    pub unique: bool,
    pub now_ms: i64,
}

/// The outcome of [`Store::start_conversation`].
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub cid: String,
    pub record: ConvRecord,
    /// A unique conversation with this member set already existed.
    pub existing: bool,
}

impl Store {
    /// Creates a conversation, or — for `unique` — returns the one that already has exactly
    /// this member set. One transaction reads the unique index and writes the conversation,
    /// the index entry and the members' membership rows, so two clients racing to create
    /// the same unique conversation end up with one id (the loser's transaction conflicts,
    /// runs again and finds the winner's).
    pub fn start_conversation(&self, new: &NewConv) -> Result<Started, StoreError> {
        let unique_id = new.unique.then(|| ids::unique_id(&new.members));
        kv::run(self.engine(), |tx| {
            if let Some(unique_id) = &unique_id
                && let Some(cid) = tx.get(&keys::unique(unique_id))?
            {
                let cid = String::from_utf8(cid).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if let Some(record) = read_conversation(tx, &cid)? {
                    return Ok(Started { cid, record, existing: true });
                }
            }
            let cid = ids::new_conversation_id(new.now_ms);
            let record = ConvRecord {
                creator: new.creator.clone(),
                members: new.members.clone(),
                attrs: new.attrs.clone(),
                unique: new.unique,
                unique_id: unique_id.clone(),
                created_ms: new.now_ms,
                updated_ms: new.now_ms,
                ..Default::default()
            };
            tx.set(&keys::conv(&cid), &encode(&record));
            if let Some(unique_id) = &unique_id {
                tx.set(&keys::unique(unique_id), cid.as_bytes());
            }
            for member in &new.members {
                tx.set(&keys::client_conv(member, &cid), b"");
            }
            Ok(Started { cid, record, existing: false })
        })
    }

    /// Adds `add` to and removes `remove` from the members of `cid` (both already checked by
    /// the conversation's actor, the only writer of its membership), with their membership
    /// rows, in one transaction, if the actor's `owner` guard still holds
    /// ([`super::owner::check_owner`]). Returns the new record, or `None` if there is no such
    /// conversation.
    pub fn change_members(
        &self,
        cid: &str,
        add: &[String],
        remove: &[String],
        now_ms: i64,
        owner: Option<&Guard>,
    ) -> Result<Option<ConvRecord>, StoreError> {
        self.maybe_slow(cid);
        kv::run(self.engine(), |tx| {
            check_owner(&*tx, owner)?;
            let Some(mut record) = read_conversation(tx, cid)? else {
                return Ok(None);
            };
            record.members.retain(|m| !remove.contains(m));
            record.managers.retain(|m| !remove.contains(m));
            for member in add {
                if let Err(at) = record.members.binary_search(member) {
                    record.members.insert(at, member.clone());
                }
            }
            record.updated_ms = now_ms;
            tx.set(&keys::conv(cid), &encode(&record));
            for member in add {
                tx.set(&keys::client_conv(member, cid), b"");
            }
            for member in remove {
                tx.clear(&keys::client_conv(member, cid));
            }
            Ok(Some(record))
        })
    }

    /// Adds `targets` to (`silence`) or removes them from the clients who may not send in
    /// `cid`. Returns the new record, or `None` if there is no such conversation.
    pub fn set_silenced(
        &self,
        cid: &str,
        targets: &[String],
        silence: bool,
        now_ms: i64,
        owner: Option<&Guard>,
    ) -> Result<Option<ConvRecord>, StoreError> {
        self.modify_conversation(cid, Some(now_ms), owner, |record| {
            for target in targets {
                set_listed(&mut record.silenced, target, silence);
            }
        })
    }

    /// Changes the record of `cid` with `change` in one transaction (moving `updatedAt` to
    /// `touch`, if given), if the `owner` guard still holds. Returns the new record, or
    /// `None` if there is no such conversation.
    pub fn modify_conversation(
        &self,
        cid: &str,
        touch: Option<i64>,
        owner: Option<&Guard>,
        mut change: impl FnMut(&mut ConvRecord),
    ) -> Result<Option<ConvRecord>, StoreError> {
        self.maybe_slow(cid);
        kv::run(self.engine(), |tx| {
            check_owner(&*tx, owner)?;
            let Some(mut record) = read_conversation(tx, cid)? else {
                return Ok(None);
            };
            change(&mut record);
            if let Some(now_ms) = touch {
                record.updated_ms = now_ms;
            }
            tx.set(&keys::conv(cid), &encode(&record));
            Ok(Some(record))
        })
    }

    /// Whether `client` is a member of `cid` (its membership row exists).
    pub fn is_member(&self, client: &str, cid: &str) -> Result<bool, StoreError> {
        Ok(self.engine().snapshot().get(&keys::client_conv(client, cid))?.is_some())
    }

    /// The conversation `cid`, if it exists.
    pub fn conversation(&self, cid: &str) -> Result<Option<ConvRecord>, StoreError> {
        read_conversation(self.engine().snapshot().as_ref(), cid)
    }

    /// Ids of the conversations `client` is a member of.
    pub fn conversations_of(&self, client: &str) -> Result<Vec<String>, StoreError> {
        let prefix = keys::client_convs(client);
        let rows = self.engine().snapshot().get_range(&prefix, &prefix_end(&prefix), RangeOptions::default())?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, _)| {
                let mut t = Unpack::new(&key);
                let (_, _, cid) = (t.str()?, t.str()?, t.str()?);
                Some(cid)
            })
            .collect())
    }

    /// Every conversation, in id order (for queries no index answers).
    pub fn all_conversations(&self) -> Result<Vec<(String, ConvRecord)>, StoreError> {
        let prefix = keys::all_convs();
        let rows = self.engine().snapshot().get_range(&prefix, &prefix_end(&prefix), RangeOptions::default())?;
        rows.into_iter()
            .map(|(key, value)| {
                let mut t = Unpack::new(&key);
                let cid = t.str().and_then(|_| t.str()).ok_or_else(|| StoreError::Corrupt("conv key".into()))?;
                Ok((cid, decode(&value)?))
            })
            .collect()
    }
}

/// Puts `entry` into (`listed`) or takes it out of the sorted `list`.
pub fn set_listed(list: &mut Vec<String>, entry: &str, listed: bool) {
    match (list.binary_search_by(|e| e.as_str().cmp(entry)), listed) {
        (Err(at), true) => list.insert(at, entry.to_owned()),
        (Ok(at), false) => {
            list.remove(at);
        }
        _ => {}
    }
}

pub(super) fn read_conversation(tx: &dyn ReadTx, cid: &str) -> Result<Option<ConvRecord>, StoreError> {
    tx.get(&keys::conv(cid))?.map(|bytes| decode(&bytes)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    fn new_conv(members: &[&str], unique: bool) -> NewConv {
        NewConv {
            creator: members[0].to_string(),
            members: members.iter().map(|m| m.to_string()).collect(),
            attrs: r#"{"name":"n"}"#.into(),
            unique,
            now_ms: 1_795_641_565_000,
        }
    }

    #[test]
    fn creates_conversations_with_members() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_embedded(dir.path(), 16).unwrap();
        let a = store.start_conversation(&new_conv(&["alice", "bob"], false)).unwrap();
        let b = store.start_conversation(&new_conv(&["alice", "bob"], false)).unwrap();
        assert_ne!(a.cid, b.cid, "non-unique conversations are always new");
        assert!(!a.existing);
        assert_eq!(store.conversation(&a.cid).unwrap().unwrap().members, vec!["alice", "bob"]);
        let mut of_bob = store.conversations_of("bob").unwrap();
        of_bob.sort();
        let mut expected = vec![a.cid.clone(), b.cid.clone()];
        expected.sort();
        assert_eq!(of_bob, expected);
        assert!(store.conversations_of("carol").unwrap().is_empty());
        assert_eq!(store.all_conversations().unwrap().len(), 2);
        assert_eq!(store.conversation("000000000000000000000000").unwrap(), None);
    }

    #[test]
    fn members_come_and_go_with_their_index_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_embedded(dir.path(), 16).unwrap();
        let cid = store.start_conversation(&new_conv(&["alice", "bob"], false)).unwrap().cid;
        let record = store.change_members(&cid, &["carol".into(), "bob".into()], &["alice".into()], 7, None).unwrap();
        assert_eq!(record.unwrap().members, vec!["bob", "carol"]);
        assert_eq!(store.conversation(&cid).unwrap().unwrap().updated_ms, 7);
        assert_eq!(store.conversations_of("carol").unwrap(), vec![cid.clone()]);
        assert!(store.conversations_of("alice").unwrap().is_empty());
        assert_eq!(store.change_members("000000000000000000000000", &[], &[], 7, None).unwrap(), None);
    }

    #[test]
    fn racing_unique_creators_get_one_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open_embedded(dir.path(), 16).unwrap());
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (store, barrier) = (store.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.start_conversation(&new_conv(&["alice", "bob", "carol"], true)).unwrap()
                })
            })
            .collect();
        let results: Vec<Started> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(results.iter().all(|r| r.cid == results[0].cid), "{results:?}");
        assert_eq!(results.iter().filter(|r| !r.existing).count(), 1);
        assert_eq!(store.all_conversations().unwrap().len(), 1);
        let other = store.start_conversation(&new_conv(&["alice", "bob"], true)).unwrap();
        assert_ne!(other.cid, results[0].cid, "another member set is another conversation");
    }
}
