//! Per-client rate limits (F-RATE-CLIENT, spec/leancloud-im.md §6.6).
//!
//! Each client id has one token bucket per class of operation, shared by all its devices on
//! this node: `send_per_minute` messages, `history_per_minute` history and other read-only
//! queries (`logs`, conversation, online-status, blacklist and mute-list queries), and
//! `ops_per_minute` other operations (login, creating and joining conversations, membership,
//! blacklist and mute changes, token refresh). A bucket holds a minute's worth and refills
//! evenly, so a client may burst up to the limit and then goes at the limit's pace.
//! Receive-acks and `read` have a bucket of their own (`receipts_per_minute`, one token per
//! conversation named); `echo` and logout are not counted, and REST calls never come here.
//!
//! The same buckets, keyed by socket and by IP address, bound logins and conversation
//! creations of many clients behind one connection or one address ([`RateLimits::per_socket`],
//! [`RateLimits::per_ip`]).
//!
//! Queries share the history bucket rather than the 30 a minute of other operations because
//! the JS SDK looks up every conversation it has not seen when a message from it arrives:
//! counted as operations, a busy client's incoming messages would be held back.
//!
//! LeanCloud ignored an operation over the limit, so the SDK's callback only timed out; here
//! it is answered with 4116 MESSAGE_SENT_QUOTA_EXCEEDED ("command sent too fast", with the
//! class and limit in `detail`), because a request must never go unanswered
//! (docs/decisions.md).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use parking_lot::Mutex;

use crate::config::LimitsConfig;
use crate::error::ImError;
use crate::im_err;

const SHARDS: usize = 16;

/// A shard prunes full (idle) buckets when it grows by this many clients.
const PRUNE_EVERY: usize = 4096;

/// A class of operations with its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Send,
    /// History and other read-only queries.
    Query,
    Other,
    /// Receive-acks and `read` marks, one per conversation named.
    Receipt,
    /// `session/open` (per socket and per IP address; per client it counts as `Other`).
    Login,
    /// `conv/start` (per socket and per IP address).
    Create,
}

/// Number of classes.
const CLASSES: usize = 6;

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Send => "messages",
            Class::Query => "queries",
            Class::Other => "operations",
            Class::Receipt => "receipts",
            Class::Login => "logins",
            Class::Create => "new conversations",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

#[derive(Debug, Clone, Copy)]
struct Buckets([Option<Bucket>; CLASSES]);

/// The buckets of every key (client id, socket, IP address) seen recently.
pub struct RateLimits {
    per_minute: [u32; CLASSES],
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

#[derive(Default)]
struct Shard {
    clients: HashMap<String, Buckets>,
    prune_at: usize,
}

impl RateLimits {
    /// Per client id: messages, queries, other operations and receipts.
    pub fn per_client(limits: &LimitsConfig) -> Self {
        let l = limits;
        RateLimits::new([l.send_per_minute, l.history_per_minute, l.ops_per_minute, l.receipts_per_minute, 0, 0])
    }

    /// Per socket: logins and conversation creations.
    pub fn per_socket(limits: &LimitsConfig) -> Self {
        RateLimits::new([0, 0, 0, 0, limits.socket_logins_per_minute, limits.socket_creates_per_minute])
    }

    /// Per IP address: logins and conversation creations.
    pub fn per_ip(limits: &LimitsConfig) -> Self {
        RateLimits::new([0, 0, 0, 0, limits.ip_logins_per_minute, limits.ip_creates_per_minute])
    }

    fn new(per_minute: [u32; CLASSES]) -> Self {
        RateLimits {
            per_minute,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard { prune_at: PRUNE_EVERY, ..Default::default() })).collect(),
        }
    }

    /// Takes one operation of `class` from `client`'s allowance, or says why not.
    pub fn take(&self, client: &str, class: Class, now_ms: i64) -> Result<(), ImError> {
        self.take_n(client, class, 1, now_ms)
    }

    /// Takes `n` operations of `class` from `key`'s allowance, or none and says why not.
    pub fn take_n(&self, client: &str, class: Class, n: u32, now_ms: i64) -> Result<(), ImError> {
        let limit = self.per_minute[class as usize];
        if limit == 0 {
            return Ok(());
        }
        let mut shard = self.shards[self.hasher.hash_one(client) as usize % SHARDS].lock();
        if shard.clients.len() >= shard.prune_at {
            let per_minute = self.per_minute;
            shard.clients.retain(|_, b| !b.all_full(&per_minute, now_ms));
            shard.prune_at = shard.clients.len() + PRUNE_EVERY;
        }
        // Look up before inserting: no key allocation on the path every message takes.
        if !shard.clients.contains_key(client) {
            shard.clients.insert(client.to_owned(), Buckets([None; CLASSES]));
        }
        let buckets = shard.clients.get_mut(client).expect("present");
        let bucket = buckets.0[class as usize].get_or_insert(Bucket { tokens: limit as f64, at_ms: now_ms });
        bucket.tokens = refilled(*bucket, limit, now_ms);
        bucket.at_ms = now_ms.max(bucket.at_ms);
        if bucket.tokens >= n as f64 {
            bucket.tokens -= n as f64;
            Ok(())
        } else {
            Err(im_err!(MessageSentQuotaExceeded, "too many {}: the limit is {limit} per minute", class.name()))
        }
    }
}

fn refilled(bucket: Bucket, limit: u32, now_ms: i64) -> f64 {
    let elapsed = (now_ms - bucket.at_ms).max(0) as f64;
    (bucket.tokens + elapsed * limit as f64 / 60_000.0).min(limit as f64)
}

impl Buckets {
    fn all_full(&self, per_minute: &[u32; CLASSES], now_ms: i64) -> bool {
        self.0.iter().zip(per_minute).all(|(b, &limit)| b.is_none_or(|b| refilled(b, limit, now_ms) >= limit as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(send: u32) -> RateLimits {
        RateLimits::per_client(&LimitsConfig {
            send_per_minute: send,
            history_per_minute: 0,
            ..LimitsConfig::default()
        })
    }

    #[test]
    fn a_burst_up_to_the_limit_then_the_pace_of_the_limit() {
        let rate = limits(3);
        for _ in 0..3 {
            rate.take("alice", Class::Send, 0).unwrap();
        }
        let err = rate.take("alice", Class::Send, 0).unwrap_err();
        assert_eq!(err.code.number(), 4116);
        assert!(rate.take("alice", Class::Send, 19_999).is_err(), "one per 20 s");
        rate.take("alice", Class::Send, 20_000).unwrap();
        rate.take("bob", Class::Send, 20_000).unwrap();
        assert!(rate.take("alice", Class::Send, 20_000).is_err());
        for _ in 0..100 {
            rate.take("alice", Class::Query, 0).unwrap();
        }
    }

    #[test]
    fn idle_clients_are_forgotten() {
        let rate = limits(3);
        for n in 0..PRUNE_EVERY * SHARDS * 2 {
            rate.take(&format!("c{n}"), Class::Send, n as i64 * 1000).unwrap();
        }
        let held: usize = rate.shards.iter().map(|s| s.lock().clients.len()).sum();
        assert!(held < PRUNE_EVERY * SHARDS * 2, "{held}");
    }
}
