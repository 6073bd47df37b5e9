//! Temporary conversations (F-CONV-TEMP, spec/leancloud-im.md §4.11): short-lived
//! conversations with fixed members, for customer-service style chats.
//!
//! - `conv/start {tempConv: true, tempConvTTL}`: members as for a normal conversation (`m`
//!   plus the creator, valid ids, the same signature), at most [`MAX_TEMP_MEMBERS`] (4304).
//!   The lifetime is `tempConvTTL` seconds, `limits.temp_conversation_ttl_secs` when absent
//!   or ≤ 0, cut to `limits.max_temp_conversation_ttl_secs`. The same member set gives the
//!   same `_tmp:` id while it lives (the JS SDK expects its cached conversation back); asking
//!   again moves its expiry to the later of the old one and now + the new lifetime.
//!   `started {cid, cdate, tempConvTTL}` (+ `existing: true`), where `tempConvTTL` is the
//!   lifetime granted: seconds from now until the expiry, rounded up. A new one is
//!   announced to the other members with `joined`, as for normal conversations.
//! - In use it is an ordinary conversation record (`temp: true`, `expires_ms`), so sending,
//!   receipts, history and the unread summary work as for any other. Membership changes,
//!   muting members and blacklists are refused with 4314 NORMAL_CONVERSATION_REQUIRED
//!   ([`ConvState::normal_required`]).
//! - Past its expiry (by the node's clock), or when no such `_tmp:` id exists, sends, history
//!   and those operations get 4323 TEMPORARY_CONVERSATION_EXPIRED with no reason and no
//!   detail ([`expired`]; the JS SDK shows its own message for it), and receipts change
//!   nothing. The node's sweep then deletes it ([`crate::store::temp`]).
//! - `conv/query {tempConvIds}` ([`lookup`]): the live ones among at most [`MAX_TEMP_IDS`]
//!   ids (more: 4310), as documents with `temp`, `ttl` (seconds left) and `conv_type: 4`.
//!   Anyone may look one up: the ids are 128-bit random. `where` queries never return them.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use super::doc::{add_last_message, document};
use super::query::{FLAG_COMPACT, FLAG_LAST_MESSAGE, results};
use super::start::{attributes, members, notify_joined, started_reply};
use super::state::ConvState;
use crate::config::LimitsConfig;
use crate::delivery::Reply;
use crate::error::{Code, ImError};
use crate::ids;
use crate::im_err;
use crate::protocol::ConvCommand;
use crate::services::Services;
use crate::store::records::ConvRecord;
use crate::store::temp::NewTemp;

/// Most members of a temporary conversation (spec/leancloud-im.md §4.1).
pub const MAX_TEMP_MEMBERS: usize = 10;

/// Most ids one `tempConvIds` look-up may name (4310 beyond).
pub const MAX_TEMP_IDS: usize = 100;

/// 4323 as LeanCloud sent it: no reason ([`Code::wire_reason`]) and no detail.
pub fn expired() -> ImError {
    ImError::new(Code::TemporaryConversationExpired)
}

/// Whether `record` is a temporary conversation that has not expired at `now_ms`.
pub fn is_live(record: &ConvRecord, now_ms: i64) -> bool {
    record.temp && now_ms < record.expires_ms
}

/// Seconds from `now_ms` until `expires_ms`, rounded up (0 once past).
pub fn seconds_left(expires_ms: i64, now_ms: i64) -> i64 {
    let ms = expires_ms.saturating_sub(now_ms).max(0);
    ms / 1000 + i64::from(ms % 1000 != 0)
}

/// The lifetime granted for a requested `tempConvTTL`, in seconds.
fn ttl_secs(limits: &LimitsConfig, requested: Option<i32>) -> i64 {
    let max = limits.max_temp_conversation_ttl_secs.clamp(1, i32::MAX as u64) as i64;
    match requested {
        Some(ttl) if ttl > 0 => i64::from(ttl),
        _ => limits.temp_conversation_ttl_secs as i64,
    }
    .clamp(1, max)
}

/// `conv/start` with `tempConv: true`.
pub async fn start(node: &Arc<Services>, client: &Arc<str>, reply: Reply, conv: ConvCommand) {
    let new = match members(node, client, &conv, MAX_TEMP_MEMBERS).and_then(|members| {
        Ok(NewTemp {
            creator: client.to_string(),
            members,
            attrs: attributes(&conv)?,
            ttl_ms: ttl_secs(&node.config.limits, conv.temp_conv_ttl) * 1000,
            now_ms: node.now_ms(),
        })
    }) {
        Ok(new) => new,
        Err(err) => return reply.error(&err),
    };
    let now_ms = new.now_ms;
    let started = match node.blocking(move |node| Ok(node.store.start_temp_conversation(&new)?)).await {
        Ok(started) => started,
        Err(err) => return reply.error(&err),
    };
    let mut answer = started_reply(&started);
    if let Some(conv) = answer.conv_message.as_mut() {
        let granted = seconds_left(started.record.expires_ms, now_ms);
        conv.temp_conv_ttl = Some(granted.min(i64::from(i32::MAX)) as i32);
    }
    reply.send(answer);
    if !started.existing {
        notify_joined(node, client, &started);
    }
}

impl ConvState {
    /// Whether this is a temporary conversation past its expiry, or one that does not exist.
    /// When the expiry this actor loaded has passed, the store is asked again: a `conv/start`
    /// with the same members may have moved it since.
    pub fn temp_expired(&mut self) -> bool {
        if !self.is_expired() {
            return false;
        }
        if self.exists {
            match self.node.store.conversation(&self.cid) {
                Ok(Some(record)) => self.expires_ms = record.expires_ms,
                Ok(None) => self.exists = false, // swept
                Err(err) => tracing::warn!(cid = %self.cid, error = %err, "temporary conversation not re-read"),
            }
        }
        self.is_expired()
    }

    /// For what only normal conversations have (membership changes, muting members,
    /// blacklists): 4314 on a temporary conversation, 4323 once it has expired.
    pub fn normal_required(&mut self) -> Result<(), ImError> {
        if !self.temp {
            return Ok(());
        }
        if self.temp_expired() {
            return Err(expired());
        }
        Err(im_err!(NormalConversationRequired, "{} is a temporary conversation: its members are fixed", self.cid))
    }
}

/// `conv/query {tempConvIds}`: the live temporary conversations among the ids, in the order
/// asked, each once. `flag` works as for `where` queries (compact; last message for members).
pub async fn lookup(node: &Arc<Services>, client: &Arc<str>, reply: Reply, conv: ConvCommand) {
    if conv.temp_conv_ids.len() > MAX_TEMP_IDS {
        let n = conv.temp_conv_ids.len();
        return reply.error(&im_err!(ConversationQueryFailed, "{n} tempConvIds; at most {MAX_TEMP_IDS} per query"));
    }
    let client = client.clone();
    let found = node.blocking(move |node| documents(node, &client, &conv)).await;
    reply.result(found.map(results));
}

fn documents(node: &Services, client: &str, conv: &ConvCommand) -> Result<String, ImError> {
    let store = &node.store;
    let now = node.now_ms();
    let flag = conv.flag.unwrap_or(0);
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for cid in &conv.temp_conv_ids {
        if cid.len() > ids::MAX_CLIENT_ID_LEN || !ids::is_temp_conversation_id(cid) || !seen.insert(cid.as_str()) {
            continue;
        }
        let Some(record) = store.conversation(cid)?.filter(|r| is_live(r, now)) else {
            continue;
        };
        let last = store.messages(cid).last()?.map(|(_, msg)| msg);
        let mut doc = document(cid, &record, last.as_ref());
        doc.insert("ttl".into(), seconds_left(record.expires_ms, now).into());
        if let (true, Some(last)) = (flag & FLAG_LAST_MESSAGE != 0, &last)
            && record.members.iter().any(|m| m == client)
        {
            add_last_message(&mut doc, last);
        }
        if flag & FLAG_COMPACT != 0 {
            doc.remove("m");
        }
        rows.push(Value::Object(doc));
    }
    Ok(Value::Array(rows).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_left_round_up() {
        assert_eq!(seconds_left(10_000, 0), 10);
        assert_eq!(seconds_left(10_001, 0), 11);
        assert_eq!(seconds_left(10_000, 9_999), 1);
        assert_eq!(seconds_left(10_000, 10_000), 0);
        assert_eq!(seconds_left(10_000, 20_000), 0);
    }

    #[test]
    fn ttl_defaults_and_caps() {
        let limits = LimitsConfig::default();
        assert_eq!(ttl_secs(&limits, None), 86_400);
        assert_eq!(ttl_secs(&limits, Some(0)), 86_400);
        assert_eq!(ttl_secs(&limits, Some(-5)), 86_400);
        assert_eq!(ttl_secs(&limits, Some(1)), 1);
        assert_eq!(ttl_secs(&limits, Some(2_592_000)), 2_592_000);
        assert_eq!(ttl_secs(&limits, Some(i32::MAX)), 2_592_000);
        let odd = LimitsConfig { temp_conversation_ttl_secs: 100, max_temp_conversation_ttl_secs: 50, ..limits };
        assert_eq!(ttl_secs(&odd, None), 50, "the cap wins over a larger default");
    }

    #[test]
    fn live_means_temporary_and_before_its_expiry() {
        let record = ConvRecord { temp: true, expires_ms: 100, ..Default::default() };
        assert!(is_live(&record, 99));
        assert!(!is_live(&record, 100));
        assert!(!is_live(&ConvRecord { expires_ms: 100, ..Default::default() }, 0));
    }
}
