//! Conversation owners: the epoch fence (DESIGN.md "Cluster", issue 11).
//!
//! Each conversation has an owner record `("own", cid)` holding an epoch (u64, big-endian).
//! The actor that takes charge of a conversation first moves the epoch on by one
//! ([`Store::claim`]) and then loads the conversation's messages; every append it submits
//! is guarded by the epoch it set ([`Guard`]). So if two actors ever believe they own the
//! same conversation (two nodes during a change of placement, or an actor restarted while
//! its predecessor still has appends queued), the one that claimed last wins: the other's
//! appends are left out of the store ([`crate::store::StoreError::Fenced`]) instead of
//! writing a sequence number twice, and it stops. Nothing a stale owner acknowledged can
//! be overwritten: it was stored before the newer owner claimed, so the newer owner loaded
//! it.
//!
//! The claim itself goes through the commit pipeline as a guarded write (the epoch it read
//! must still be there), so on the embedded engine it is ordered with every append on the
//! pipeline's one thread; engines shared by several processes read the guard inside their
//! write transaction.

use std::sync::{Arc, mpsc};

use super::keys;
use super::kv::{Guard, ReadTx, Write};
use super::{Store, StoreError};

/// Most times a claim is tried again after losing a race with another claimant.
const MAX_CLAIMS: usize = 100;

impl Store {
    /// Makes the caller the owner of `cid`: moves its epoch on by one, durably. Returns the
    /// guard every later write of this owner carries. Blocks until the pipeline committed.
    pub fn claim(&self, cid: &str) -> Result<Guard, StoreError> {
        let key = keys::owner(cid);
        for _ in 0..MAX_CLAIMS {
            let current = self.engine().snapshot().get(&key)?;
            let epoch = current.as_deref().map_or(0, epoch_of) + 1;
            let next = epoch.to_be_bytes().to_vec();
            let (done, claimed) = mpsc::channel();
            let guard = Guard { key: key.clone(), value: current };
            let writes = vec![Write::Set(key.clone(), next.clone())];
            self.pipeline.submit_guarded(
                Some(Arc::new(guard)),
                writes,
                Box::new(move |result| drop(done.send(result))),
            );
            match claimed.recv().map_err(|_| StoreError::Closed)? {
                Ok(()) => return Ok(Guard { key, value: Some(next) }),
                Err(StoreError::Fenced) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(StoreError::Conflict)
    }

    /// The current owner epoch of `cid` (0: never claimed).
    pub fn epoch(&self, cid: &str) -> Result<u64, StoreError> {
        Ok(self.engine().snapshot().get(&keys::owner(cid))?.as_deref().map_or(0, epoch_of))
    }
}

/// Fails the transaction `tx` with [`StoreError::Fenced`] unless `guard` (if any) still
/// holds: the epoch is read inside the transaction, so on an engine several processes
/// share, a claim committed meanwhile makes one of the two fail (PostgreSQL's SERIALIZABLE,
/// FoundationDB's read conflict). Membership and settings changes of a conversation call
/// it, as appends carry their guard into the pipeline.
pub fn check_owner(tx: &dyn ReadTx, guard: Option<&Guard>) -> Result<(), StoreError> {
    match guard {
        Some(guard) if tx.get(&guard.key)? != guard.value => Err(StoreError::Fenced),
        _ => Ok(()),
    }
}

fn epoch_of(bytes: &[u8]) -> u64 {
    bytes.try_into().map_or(0, u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn a_newer_claim_fences_the_older_owner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_embedded(dir.path(), 16).unwrap();
        let first = store.claim("c").unwrap();
        let second = store.claim("c").unwrap();
        assert_eq!(store.epoch("c").unwrap(), 2);
        let (tx, rx) = channel();
        for (name, guard) in [("stale", first), ("owner", second)] {
            let tx = tx.clone();
            let writes = vec![Write::Set(format!("m-{name}").into_bytes(), b"x".to_vec())];
            store.pipeline.submit_guarded(
                Some(Arc::new(guard)),
                writes,
                Box::new(move |r| tx.send((name, r)).unwrap()),
            );
        }
        let results: Vec<_> = (0..2).map(|_| rx.recv().unwrap()).collect();
        assert!(matches!(results[0], ("stale", Err(StoreError::Fenced))), "{results:?}");
        assert!(matches!(results[1], ("owner", Ok(()))), "{results:?}");
        assert_eq!(store.engine().snapshot().get(b"m-stale").unwrap(), None);
        assert_eq!(store.engine().snapshot().get(b"m-owner").unwrap(), Some(b"x".to_vec()));
    }
}
