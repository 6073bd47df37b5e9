//! `direct`: a message from a member, through the conversation actor.
//!
//! 0. A temporary conversation past its expiry (or a `_tmp:` id that does not exist) is
//!    4323 with no reason ([`super::temp`]).
//! 1. Check the sender is a member (4401) and not muted (4563), and whether the client token
//!    `dt` was seen before (a resend: acknowledge again, store nothing).
//! 2. Assign the next sequence number and a timestamp that never goes backwards.
//! 3. Hand the message, its de-duplication entry and the cursor updates to the node's
//!    commit pipeline.
//! 4. Once durable: `ack {uid, t}` to the sender, then one encoded `direct` push shared by
//!    every online session of every member, the sender's other devices included.
//!
//! Transient messages skip steps 1b–3: acknowledged at once, delivered to whoever is online.

use std::sync::Arc;

use ractor::ActorRef;

use super::ConvMsg;
use super::state::{ConvState, Recent};
use crate::delivery::Reply;
use crate::error::ImError;
use crate::im_err;
use crate::protocol::frame::{self, push};
use crate::protocol::{AckCommand, CommandType, DirectCommand, GenericCommand};
use crate::store::StoreError;
use crate::store::msg::{cursor_write, message_writes};
use crate::store::records::MsgRecord;

/// A send request, as the session actor hands it over.
#[derive(Debug)]
pub struct DirectReq {
    pub from: Arc<str>,
    /// The sending session (it gets the ack, not a copy).
    pub session: u64,
    pub reply: Reply,
    pub msg: DirectCommand,
}

/// An append waiting for its commit.
#[derive(Debug)]
pub struct Pending {
    pub record: MsgRecord,
    /// Who to acknowledge: the sender, plus resends that arrived meanwhile.
    pub replies: Vec<Reply>,
    pub sender_session: u64,
}

/// What a client token is known as.
enum Seen {
    Committed { mid: String, ts: i64 },
    Pending(u64),
}

impl ConvState {
    pub fn direct(&mut self, myself: &ActorRef<ConvMsg>, req: Box<DirectReq>) {
        if self.temp_expired() {
            return req.reply.error(&super::temp::expired());
        }
        if !self.exists || !self.is_member(&req.from) {
            req.reply.error(&im_err!(InvalidMessagingTarget, "not a member of conversation {}", self.cid));
            return;
        }
        if self.is_silenced(&req.from) {
            req.reply.error(&im_err!(Silenced, "muted in conversation {}", self.cid));
            return;
        }
        if req.msg.transient == Some(true) {
            self.direct_transient(*req);
            return;
        }
        let dt = req.msg.dt.clone().filter(|dt| !dt.is_empty());
        if let Some(dt) = &dt {
            match self.seen(&req.from, dt) {
                Ok(Some(Seen::Committed { mid, ts })) => return req.reply.send(ack(&mid, ts)),
                Ok(Some(Seen::Pending(seq))) => {
                    self.pending.get_mut(&seq).expect("pending seq").replies.push(req.reply);
                    return;
                }
                Ok(None) => {}
                Err(err) => return req.reply.error(&ImError::from(err)),
            }
        }
        let now = self.node.now_ms();
        let seq = self.next_seq;
        let ts = now.max(self.last_ts);
        let msg = req.msg;
        let record = MsgRecord {
            mid: crate::ids::new_message_id(seq),
            from: req.from.to_string(),
            ts,
            lctype: msg.msg.as_deref().and_then(lctype),
            data: if msg.binary_msg.is_some() { None } else { Some(msg.msg.unwrap_or_default()) },
            bin: msg.binary_msg.map(|b| b.to_vec()),
            dt,
            receipt: msg.r == Some(true),
            mention_all: msg.mention_all == Some(true),
            mention_pids: msg.mention_pids,
            patch_ts: None,
        };
        let mut writes = match self.append_writes(seq, &record, now) {
            Ok(writes) => writes,
            Err(err) => return req.reply.error(&ImError::from(err)),
        };
        writes.extend(self.take_dirty_marks());
        self.next_seq += 1;
        self.last_ts = ts;
        let me = myself.clone();
        self.node.store.pipeline.submit_guarded(
            self.guard.clone(),
            writes,
            Box::new(move |result| {
                let _ = me.cast(ConvMsg::Committed { seq, result });
            }),
        );
        self.pending.insert(seq, Pending { record, replies: vec![req.reply], sender_session: req.session });
    }

    /// The message, its de-duplication entry, the sender's read mark (sending reads the
    /// conversation) and the mention marks of the members it mentions.
    fn append_writes(
        &mut self,
        seq: u64,
        record: &MsgRecord,
        now: i64,
    ) -> Result<Vec<crate::store::pipeline::Write>, StoreError> {
        let cid = self.cid.clone();
        let mut writes = message_writes(&cid, seq, record);
        let from: Arc<str> = record.from.as_str().into();
        let cursor = self.cursor(&from)?;
        cursor.read_seq = seq;
        cursor.read_ts = record.ts;
        cursor.read_at = now;
        writes.push(cursor_write(&cid, &from, cursor));
        let mentioned: Vec<Arc<str>> = self
            .members
            .iter()
            .filter(|m| ***m != *record.from && (record.mention_all || record.mention_pids.iter().any(|p| p == &***m)))
            .cloned()
            .collect();
        for member in mentioned {
            let cursor = self.cursor(&member)?;
            cursor.mention_seq = seq;
            writes.push(cursor_write(&cid, &member, cursor));
        }
        Ok(writes)
    }

    /// Whether `from` already sent a message with token `dt` here.
    fn seen(&self, from: &str, dt: &str) -> Result<Option<Seen>, StoreError> {
        if let Some((seq, _)) =
            self.pending.iter().find(|(_, p)| p.record.from == from && p.record.dt.as_deref() == Some(dt))
        {
            return Ok(Some(Seen::Pending(*seq)));
        }
        if let Some(r) = self.recent.iter().find(|r| &*r.from == from && r.dt.as_deref() == Some(dt)) {
            return Ok(Some(Seen::Committed { mid: r.mid.clone(), ts: r.ts }));
        }
        let store = &self.node.store;
        let Some(seq) = store.dedup_seq(&self.cid, from, dt)? else {
            return Ok(None);
        };
        Ok(store.messages(&self.cid).get(seq)?.map(|m| Seen::Committed { mid: m.mid, ts: m.ts }))
    }

    /// The append of `seq` is durable (or failed): acknowledge, then deliver.
    pub fn committed(&mut self, seq: u64, result: Result<(), StoreError>) -> Result<(), StoreError> {
        let Some(pending) = self.pending.remove(&seq) else {
            return Ok(());
        };
        if let Err(err) = result {
            let failure = ImError::from(err.clone());
            pending.replies.iter().for_each(|r| r.error(&failure));
            for (_, other) in std::mem::take(&mut self.pending) {
                other.replies.iter().for_each(|r| r.error(&failure));
            }
            return Err(err);
        }
        self.committed_seq = seq;
        let record = pending.record;
        for reply in &pending.replies {
            reply.send(ack(&record.mid, record.ts));
        }
        let bytes = frame::encode(&delivery(&self.cid, &record, false));
        self.node.presence.deliver(self.members.iter().map(|m| &**m), Some(pending.sender_session), &bytes);
        self.remember(Recent::of(seq, &record));
        Ok(())
    }

    fn direct_transient(&mut self, req: DirectReq) {
        let msg = req.msg;
        let record = MsgRecord {
            mid: crate::ids::new_message_id(0),
            from: req.from.to_string(),
            ts: self.node.now_ms(),
            data: if msg.binary_msg.is_some() { None } else { Some(msg.msg.unwrap_or_default()) },
            bin: msg.binary_msg.map(|b| b.to_vec()),
            mention_all: msg.mention_all == Some(true),
            mention_pids: msg.mention_pids,
            ..Default::default()
        };
        req.reply.send(ack(&record.mid, record.ts));
        let bytes = frame::encode(&delivery(&self.cid, &record, true));
        self.node.presence.deliver(self.members.iter().map(|m| &**m), Some(req.session), &bytes);
    }
}

/// The sender's acknowledgement.
fn ack(mid: &str, ts: i64) -> GenericCommand {
    GenericCommand {
        ack_message: Some(AckCommand { uid: Some(mid.to_owned()), t: Some(ts), ..Default::default() }),
        ..frame::command(CommandType::Ack, None)
    }
}

/// The `direct` push delivering `record`.
fn delivery(cid: &str, record: &MsgRecord, transient: bool) -> GenericCommand {
    GenericCommand {
        direct_message: Some(DirectCommand {
            msg: record.data.clone(),
            binary_msg: record.bin.clone().map(Into::into),
            from_peer_id: Some(record.from.clone()),
            timestamp: Some(record.ts),
            cid: Some(cid.to_owned()),
            id: Some(record.mid.clone()),
            transient: transient.then_some(true),
            mention_pids: record.mention_pids.clone(),
            mention_all: record.mention_all.then_some(true),
            patch_timestamp: record.patch_ts,
            ..Default::default()
        }),
        ..push(CommandType::Direct, None, Some(record.ts))
    }
}

/// `_lctype` of a typed message (JSON object text), for the history type filter.
pub fn lctype(text: &str) -> Option<i32> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "_lctype")]
        lctype: Option<i32>,
    }
    serde_json::from_str::<Typed>(text).ok()?.lctype
}

#[cfg(test)]
mod tests {
    use super::lctype;

    #[test]
    fn typed_messages_have_a_type() {
        assert_eq!(lctype(r#"{"_lctext":"hi","_lctype":-1}"#), Some(-1));
        assert_eq!(lctype(r#"{"_lctype":7,"x":[1,2]}"#), Some(7));
        assert_eq!(lctype("plain text"), None);
        assert_eq!(lctype(r#"{"no":"type"}"#), None);
        assert_eq!(lctype("{broken"), None);
    }
}
