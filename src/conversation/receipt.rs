//! Receive-acks and `read`: members' delivered and read marks.
//!
//! - A receive-ack (`ack {cid, mid}` or the JS form `ack {cid, fromts, tots}`) moves the
//!   member's delivered mark. In a one-to-one conversation, the sender of each newly
//!   delivered message that asked for a receipt (`r`) gets `rcp {id, cid, t, from}`.
//! - `read {cid, mid?, timestamp?}` moves the member's read mark (to the newest message if
//!   neither is given). The member's other devices get an `unread` push with the remaining
//!   count; in a one-to-one conversation the other member gets `rcp {cid, t, read: true}`.
//!
//! Marks only move forward, and only members move them; never in a temporary conversation
//! past its expiry (its rows are about to be deleted). Like acks, the pushes a mark
//! causes go out once the mark is durable, so history read after a receipt shows it.
//! A delivered mark that causes no push (every receive-ack in a group, most in a
//! one-to-one chat) is not saved on its own: it rides along with the conversation's next
//! message append, or is saved within `MARK_FLUSH_DELAY`. Every SDK sends receive-acks, so
//! saving each one cost as much store work as the messages themselves (measured with
//! `loadtest group`); a crash can lose at most that delay's worth of delivered marks,
//! which only ever made a "delivered" tick or an `ackAt` show up later.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::state::ConvState;
use crate::protocol::frame::{self, push};
use crate::protocol::{CommandType, GenericCommand, RcpCommand, UnreadCommand, UnreadTuple};
use crate::store::StoreError;
use crate::store::msg::cursor_write;
use crate::store::pipeline::Write;
use crate::store::records::Cursor;

/// Unread counts are reported up to this number ("99+").
pub const MAX_UNREAD: u64 = 100;

/// A push to send once a mark is durable: to every session of `to` but `skip`.
struct Notice {
    to: Arc<str>,
    skip: Option<u64>,
    frame: Bytes,
}

impl Notice {
    /// An `rcp` push for `to`.
    fn rcp(to: Arc<str>, rcp: RcpCommand, now: i64) -> Notice {
        let cmd = GenericCommand { rcp_message: Some(rcp), ..push(CommandType::Rcp, None, Some(now)) };
        Notice { to, skip: None, frame: frame::encode(&cmd) }
    }
}

impl ConvState {
    /// A receipt about this conversation caused by `from`.
    fn rcp_from(&self, from: &str) -> RcpCommand {
        RcpCommand { cid: Some(self.cid.to_string()), from: Some(from.to_string()), ..Default::default() }
    }

    pub fn ack(&mut self, from: &Arc<str>, mid: Option<&str>, tots: Option<i64>) {
        if let Err(err) = self.try_ack(from, mid, tots) {
            tracing::warn!(cid = %self.cid, error = %err, "receive-ack not recorded");
        }
    }

    fn try_ack(&mut self, from: &Arc<str>, mid: Option<&str>, tots: Option<i64>) -> Result<(), StoreError> {
        if !self.exists || !self.is_member(from) || self.temp_expired() {
            return Ok(());
        }
        let upto = match (mid, tots) {
            (Some(mid), _) => self.seq_of_mid(mid)?.unwrap_or(0),
            (None, Some(tots)) => self.seq_at_time(tots)?,
            (None, None) => return Ok(()),
        };
        let now = self.node.now_ms();
        let cursor = self.cursor(from)?;
        if upto <= cursor.ack_seq {
            return Ok(());
        }
        let previous = cursor.ack_seq;
        cursor.ack_seq = upto;
        cursor.ack_at = now;
        let cursor = *cursor;

        let mut notices = Vec::new();
        if self.peer_of(from).is_some() {
            let receipted =
                self.recent.iter().filter(|r| r.seq > previous && r.seq <= upto && r.receipt && r.from != *from);
            for msg in receipted {
                let rcp = RcpCommand { id: Some(msg.mid.clone()), t: Some(now), ..self.rcp_from(from) };
                notices.push(Notice::rcp(msg.from.clone(), rcp, now));
            }
        }
        if notices.is_empty() {
            self.dirty_marks.insert(from.clone());
        } else {
            self.dirty_marks.remove(from);
            self.save_mark(from, &cursor, notices);
        }
        Ok(())
    }

    pub fn has_dirty_marks(&self) -> bool {
        !self.dirty_marks.is_empty()
    }

    /// The cursor writes of the marks not saved yet (they are then counted as saved).
    pub fn take_dirty_marks(&mut self) -> Vec<Write> {
        let dirty = std::mem::take(&mut self.dirty_marks);
        dirty.iter().filter_map(|c| Some(cursor_write(&self.cid, c, self.cached_cursor(c)?))).collect()
    }

    /// Saves the delivered marks that nothing waits on.
    pub fn flush_marks(&mut self) {
        let writes = self.take_dirty_marks();
        if writes.is_empty() {
            return;
        }
        let unsaved = self.unsaved_marks.clone();
        unsaved.fetch_add(1, Ordering::SeqCst);
        self.node.store.pipeline.submit_guarded(
            self.guard.clone(),
            writes,
            Box::new(move |_| {
                unsaved.fetch_sub(1, Ordering::SeqCst);
            }),
        );
    }

    pub fn read(&mut self, from: &Arc<str>, session: u64, mid: Option<&str>, ts: Option<i64>) {
        if let Err(err) = self.try_read(from, session, mid, ts) {
            tracing::warn!(cid = %self.cid, error = %err, "read mark not recorded");
        }
    }

    fn try_read(
        &mut self,
        from: &Arc<str>,
        session: u64,
        mid: Option<&str>,
        ts: Option<i64>,
    ) -> Result<(), StoreError> {
        if !self.exists || !self.is_member(from) || self.temp_expired() {
            return Ok(());
        }
        let upto = match (mid.and_then(|mid| self.seq_of_mid(mid).transpose()), ts) {
            (Some(seq), _) => seq?,
            (None, Some(ts)) if ts > 0 => self.seq_at_time(ts)?,
            _ => self.committed_seq,
        };
        let read_ts = self.timestamp_of(upto)?;
        let (now, last) = (self.node.now_ms(), self.committed_seq);
        let cursor = self.cursor(from)?;
        if upto > cursor.read_seq {
            cursor.read_seq = upto;
            cursor.read_ts = read_ts;
        }
        cursor.read_at = now;
        let cursor = *cursor;

        // The reader's other devices learn the new count.
        let unread = last.saturating_sub(cursor.read_seq).min(MAX_UNREAD);
        let tuple = UnreadTuple {
            cid: self.cid.to_string(),
            unread: unread as i32,
            mentioned: Some(false),
            ..Default::default()
        };
        let unread_push = GenericCommand {
            unread_message: Some(UnreadCommand { convs: vec![tuple], notif_time: Some(now) }),
            ..push(CommandType::Unread, None, Some(now))
        };
        let mut notices = vec![Notice { to: from.clone(), skip: Some(session), frame: frame::encode(&unread_push) }];
        if let Some(peer) = self.peer_of(from) {
            let rcp = RcpCommand { t: Some(cursor.read_ts), read: Some(true), ..self.rcp_from(from) };
            notices.push(Notice::rcp(peer.clone(), rcp, now));
        }
        self.save_mark(from, &cursor, notices);
        Ok(())
    }

    /// Stores `client`'s cursor through the pipeline; sends `notices` once it is durable.
    fn save_mark(&self, client: &str, cursor: &Cursor, notices: Vec<Notice>) {
        let node = self.node.clone();
        let write = cursor_write(&self.cid, client, cursor);
        let unsaved = self.unsaved_marks.clone();
        unsaved.fetch_add(1, Ordering::SeqCst);
        self.node.store.pipeline.submit_guarded(
            self.guard.clone(),
            vec![write],
            Box::new(move |result| {
                unsaved.fetch_sub(1, Ordering::SeqCst);
                if result.is_ok() {
                    for notice in notices {
                        node.presence.deliver([&*notice.to], notice.skip, &notice.frame);
                    }
                }
            }),
        );
    }

    /// The timestamp of committed message `seq` (0 for none).
    pub(super) fn timestamp_of(&self, seq: u64) -> Result<i64, StoreError> {
        if seq == 0 {
            return Ok(0);
        }
        if let Some(r) = self.recent.iter().find(|r| r.seq == seq) {
            return Ok(r.ts);
        }
        Ok(self.node.store.messages(&self.cid).get(seq)?.map_or(0, |m| m.ts))
    }
}
