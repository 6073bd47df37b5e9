//! Login-signature nonces already used ([`Nonces`]), so a signature opens one session
//! (see [`crate::signature`]).

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};

use parking_lot::Mutex;

/// Login signatures already used, each remembered until it expires: a replayed signature
/// opens nothing. At most `max` are kept; to stay within that, the oldest are forgotten
/// and every signature made no later than a forgotten one is refused from then on, so no
/// signature can ever be used twice.
pub struct Nonces {
    inner: Mutex<NonceSet>,
    hasher: RandomState,
    max: usize,
}

#[derive(Default)]
struct NonceSet {
    seen: HashSet<u64>,
    /// `(made_ms, hash)` in the order they were seen.
    order: VecDeque<(i64, u64)>,
    /// Signatures made at or before this are refused (some of their nonces were forgotten).
    horizon_ms: i64,
}

impl Nonces {
    pub fn new(max: usize) -> Self {
        Nonces { inner: Mutex::default(), hasher: RandomState::new(), max: max.max(1) }
    }

    /// Records the use of a signature made at `made_ms`; false if it was used before (or
    /// may have been: it is older than a forgotten one).
    pub fn first_use(
        &self,
        client: &str,
        nonce: &str,
        signature: &str,
        made_ms: i64,
        now_ms: i64,
        ttl_ms: i64,
    ) -> bool {
        let hash = self.hasher.hash_one((client, nonce, signature.to_ascii_lowercase()));
        let mut set = self.inner.lock();
        let NonceSet { seen, order, horizon_ms } = &mut *set;
        while let Some(&(made, oldest)) = order.front() {
            let expired = made < now_ms - ttl_ms;
            if !expired && seen.len() < self.max {
                break;
            }
            if !expired {
                *horizon_ms = (*horizon_ms).max(made);
            }
            seen.remove(&oldest);
            order.pop_front();
        }
        if made_ms <= *horizon_ms || !seen.insert(hash) {
            return false;
        }
        order.push_back((made_ms, hash));
        true
    }

    /// Number of nonces remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().seen.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
