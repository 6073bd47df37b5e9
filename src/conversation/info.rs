//! `conv/count` (F-CONV-COUNT, spec/leancloud-im.md §4.8) and `conv/max_read`
//! (F-MSG-READ, F-MSG-GROUPRECEIPT, §5.11), in the conversation's actor: it holds the
//! members, and the delivered marks it has not saved yet.
//!
//! - `count {cid}` → `result {cid, count}`: the number of members. Anyone may ask (the
//!   members are no secret: `conv/query` shows them too); no conversation → 4303.
//! - `max_read {cid}` → `max_read {cid, maxAckTimestamp, maxReadTimestamp}`: how far the
//!   *other* members have got — the newest timestamp any of them acknowledged receiving
//!   and the newest any of them read. In a one-to-one conversation that is the peer's
//!   marks: the JS SDK's `fetchReceiptTimestamps` turns them into `lastDeliveredAt` and
//!   `lastReadAt`, and counts a message delivered / read when its timestamp is at most
//!   these, so they are message timestamps (not the time the mark moved).
//! - `max_read {cid, queryAllMembers: true}` → `maxReadTuples: [{pid, maxAckTimestamp,
//!   maxReadTimestamp}]`, one per member (the caller included) in member order.
//! - A mark that never moved is left out (the SDK would read a 0 as 1970-01-01).
//! - Only members may ask for read times (4317 CONVERSATION_MEMBERSHIP_REQUIRED).

use std::collections::HashMap;

use super::ConvReq;
use super::state::ConvState;
use crate::error::ImError;
use crate::im_err;
use crate::protocol::frame;
use crate::protocol::{CommandType, ConvCommand, GenericCommand, MaxReadTuple, OpType};
use crate::store::records::Cursor;

impl ConvState {
    pub fn count(&mut self, req: ConvReq) {
        if !self.exists {
            return req.reply.error(&im_err!(ConversationNotFound, "no conversation {}", self.cid));
        }
        let count = i32::try_from(self.members.len()).unwrap_or(i32::MAX);
        let answer = ConvCommand { cid: Some(self.cid.to_string()), count: Some(count), ..Default::default() };
        req.reply.send(GenericCommand {
            conv_message: Some(answer),
            ..frame::command(CommandType::Conv, Some(OpType::Result))
        });
    }

    pub fn max_read(&mut self, req: ConvReq) {
        let result = self.read_times(&req.from, req.conv.query_all_members == Some(true));
        req.reply.result(result.map(|answer| GenericCommand {
            conv_message: Some(answer),
            ..frame::command(CommandType::Conv, Some(OpType::MaxRead))
        }));
    }

    fn read_times(&mut self, from: &str, all: bool) -> Result<ConvCommand, ImError> {
        if !self.exists {
            return Err(im_err!(ConversationNotFound, "no conversation {}", self.cid));
        }
        if !self.is_member(from) {
            return Err(im_err!(ConversationMembershipRequired, "not a member of conversation {}", self.cid));
        }
        // Saved cursors, overridden by the ones this actor holds (they may be newer).
        let mut cursors: HashMap<String, Cursor> = self.node.store.cursors(&self.cid)?.into_iter().collect();
        for member in &self.members {
            if let Some(cursor) = self.cached_cursor(member) {
                cursors.insert(member.to_string(), *cursor);
            }
        }
        let mut tuples = Vec::new();
        for member in &self.members {
            let cursor = cursors.get(&**member).copied().unwrap_or_default();
            tuples.push(MaxReadTuple {
                pid: Some(member.to_string()),
                // Whoever read a message has received it, acknowledged or not.
                max_ack_timestamp: mark(self.timestamp_of(cursor.ack_seq)?.max(cursor.read_ts)),
                max_read_timestamp: mark(cursor.read_ts),
            });
        }
        let mut answer = ConvCommand { cid: Some(self.cid.to_string()), ..Default::default() };
        if all {
            answer.max_read_tuples = tuples;
        } else {
            let others = tuples.iter().filter(|t| t.pid.as_deref() != Some(from));
            let (ack, read) = others.fold((0, 0), |(ack, read), t| {
                (ack.max(t.max_ack_timestamp.unwrap_or(0)), read.max(t.max_read_timestamp.unwrap_or(0)))
            });
            answer.max_ack_timestamp = mark(ack);
            answer.max_read_timestamp = mark(read);
        }
        Ok(answer)
    }
}

/// A timestamp mark as sent: none for 0.
fn mark(ts: i64) -> Option<i64> {
    (ts > 0).then_some(ts)
}
