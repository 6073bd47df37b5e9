//! Blacklists (F-BLOCK-CONV, F-BLOCK-CLIENT): a conversation's list of blocked clients, and a
//! client's list of conversations it refuses to be added to.
//!
//! | key | value |
//! |---|---|
//! | `("bl", cid, clientId)` | empty: conversation `cid` blocks `clientId` |
//! | `("blc", clientId, cid)` | empty: `clientId` blocks conversation `cid` |

use super::conv::read_conversation;
use super::kv::{self, Guard, RangeOptions, ReadTx, prefix_end};
use super::owner::check_owner;
use super::records::{ConvRecord, encode};
use super::tuple::{Tuple, Unpack};
use super::{Store, StoreError, keys};

fn conv_blocks(cid: &str, client: &str) -> Vec<u8> {
    Tuple::new().str("bl").str(cid).str(client).into_bytes()
}

fn client_blocks(client: &str, cid: &str) -> Vec<u8> {
    Tuple::new().str("blc").str(client).str(cid).into_bytes()
}

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// Clients a conversation blocks (keyed by the conversation).
    Conversation,
    /// Conversations a client blocks (keyed by the client).
    Client,
}

impl List {
    fn key(self, owner: &str, entry: &str) -> Vec<u8> {
        match self {
            List::Conversation => conv_blocks(owner, entry),
            List::Client => client_blocks(owner, entry),
        }
    }

    fn prefix(self, owner: &str) -> Vec<u8> {
        let kind = if self == List::Conversation { "bl" } else { "blc" };
        Tuple::new().str(kind).str(owner).into_bytes()
    }
}

/// A page of a list: the entries, and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub entries: Vec<String>,
    pub next: Option<String>,
}

impl Store {
    /// Conversation `cid` blocks `clients`; those among its members leave it, in the same
    /// transaction, if the `owner` guard still holds. Returns the conversation after the
    /// change (`None`: no such conversation).
    pub fn block_clients(
        &self,
        cid: &str,
        clients: &[String],
        now_ms: i64,
        owner: Option<&Guard>,
    ) -> Result<Option<ConvRecord>, StoreError> {
        kv::run(self.engine(), |tx| {
            check_owner(&*tx, owner)?;
            let Some(mut record) = read_conversation(tx, cid)? else {
                return Ok(None);
            };
            for client in clients {
                tx.set(&conv_blocks(cid, client), b"");
                if let Ok(at) = record.members.binary_search(client) {
                    record.members.remove(at);
                    super::conv::set_listed(&mut record.managers, client, false);
                    tx.clear(&keys::client_conv(client, cid));
                    record.updated_ms = now_ms;
                }
            }
            tx.set(&keys::conv(cid), &encode(&record));
            Ok(Some(record))
        })
    }

    /// Adds (`block`) or removes entries of `owner`'s list.
    pub fn set_blocked(&self, list: List, owner: &str, entries: &[String], block: bool) -> Result<(), StoreError> {
        kv::run(self.engine(), |tx| {
            for entry in entries {
                match block {
                    true => tx.set(&list.key(owner, entry), b""),
                    false => tx.clear(&list.key(owner, entry)),
                }
            }
            Ok(())
        })
    }

    /// Up to `limit` entries of `owner`'s list after `after`, in id order.
    pub fn blocked(&self, list: List, owner: &str, after: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        let prefix = list.prefix(owner);
        let begin = match after {
            Some(after) => {
                let mut key = list.key(owner, after);
                key.push(0);
                key
            }
            None => prefix.clone(),
        };
        let rows =
            self.engine().snapshot().get_range(&begin, &prefix_end(&prefix), RangeOptions::forward(limit + 1))?;
        let mut entries: Vec<String> = rows
            .iter()
            .map(|(key, _)| {
                let mut t = Unpack::new(key);
                t.str().and(t.str()).and(t.str()).ok_or_else(|| StoreError::Corrupt("blacklist key".into()))
            })
            .collect::<Result<_, _>>()?;
        let next = (entries.len() > limit).then(|| {
            entries.truncate(limit);
            entries.last().cloned().unwrap_or_default()
        });
        Ok(Page { entries, next })
    }

    /// How many entries `owner`'s list has, counting at most `cap`.
    pub fn blocked_count(&self, list: List, owner: &str, cap: usize) -> Result<usize, StoreError> {
        let prefix = list.prefix(owner);
        Ok(self.engine().snapshot().get_range(&prefix, &prefix_end(&prefix), RangeOptions::forward(cap))?.len())
    }

    /// Whether `owner`'s list holds `entry`.
    pub fn is_blocked(&self, list: List, owner: &str, entry: &str) -> Result<bool, StoreError> {
        is_listed(self.engine().snapshot().as_ref(), list, owner, entry)
    }
}

fn is_listed(tx: &dyn ReadTx, list: List, owner: &str, entry: &str) -> Result<bool, StoreError> {
    Ok(tx.get(&list.key(owner, entry))?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conv::NewConv;

    #[test]
    fn blocking_removes_members_and_lists_page() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_embedded(dir.path(), 16).unwrap();
        let members = ["alice", "bob", "carol"].map(String::from).to_vec();
        let new = NewConv { creator: "alice".into(), members, attrs: "{}".into(), unique: false, now_ms: 1 };
        let cid = store.start_conversation(&new).unwrap().cid;
        let record = store.block_clients(&cid, &["bob".into(), "zed".into()], 2, None).unwrap().unwrap();
        assert_eq!(record.members, vec!["alice", "carol"]);
        assert!(store.conversations_of("bob").unwrap().is_empty());
        assert!(store.is_blocked(List::Conversation, &cid, "zed").unwrap());
        assert!(!store.is_blocked(List::Conversation, &cid, "carol").unwrap());
        let first = store.blocked(List::Conversation, &cid, None, 1).unwrap();
        assert_eq!(first, Page { entries: vec!["bob".into()], next: Some("bob".into()) });
        let second = store.blocked(List::Conversation, &cid, first.next.as_deref(), 1).unwrap();
        assert_eq!(second, Page { entries: vec!["zed".into()], next: None });
        store.set_blocked(List::Conversation, &cid, &["bob".into()], false).unwrap();
        assert_eq!(store.blocked_count(List::Conversation, &cid, 10).unwrap(), 1);
        store.set_blocked(List::Client, "carol", std::slice::from_ref(&cid), true).unwrap();
        assert!(store.is_blocked(List::Client, "carol", &cid).unwrap());
        assert!(!store.is_blocked(List::Conversation, "carol", &cid).unwrap(), "the lists are apart");
    }
}
