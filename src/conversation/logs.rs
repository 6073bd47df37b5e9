//! `logs`: message history (spec/leancloud-im.md §5.16).
//!
//! - Start `(t, mid, tIncluded)` and end `(tt, tmid, ttIncluded)`; a message id, when it
//!   names a message of the conversation, is the exact anchor, otherwise the timestamp is.
//!   Anchors are exclusive unless the matching `…Included` flag is set.
//! - `direction` 1 (OLD, default) walks from the start towards older messages (the start
//!   defaults to "now"); 2 (NEW) walks from the start towards newer ones.
//! - `l` (or `limit`): default 20, at most 100; 0 returns nothing. `lctype` keeps only
//!   typed messages of that `_lctype`.
//! - Results always come oldest first; the SDK pages backwards from the first one.
//! - Only members may read (4312); an unknown conversation is 4303. A temporary conversation
//!   past its expiry, or a `_tmp:` id that does not exist, is 4323 (no reason, as for a send).
//! - In a one-to-one conversation each item carries `ackAt`/`readAt` when the recipient's
//!   delivered/read marks have reached it.

use std::sync::Arc;

use base64::Engine as _;

use super::temp::{expired, is_live};
use crate::delivery::Reply;
use crate::error::ImError;
use crate::im_err;
use crate::protocol::frame;
use crate::protocol::{CommandType, GenericCommand, LogItem, LogsCommand, QueryDirection};
use crate::services::Services;
use crate::store::StoreError;
use crate::store::msg::MsgView;
use crate::store::records::{Cursor, MsgRecord};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
/// Most messages looked at for one `lctype`-filtered page.
const MAX_FILTER_SCAN: usize = 10_000;

pub async fn logs(node: &Arc<Services>, client: &Arc<str>, reply: Reply, query: LogsCommand) {
    let client = client.clone();
    let found = node.blocking(move |node| history(node, &client, &query)).await;
    reply.result(found.map(|logs| GenericCommand {
        logs_message: Some(LogsCommand { logs, ..Default::default() }),
        ..frame::command(CommandType::Logs, None)
    }));
}

/// A point in the history: a message id if it resolves, else a timestamp.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    seq: Option<u64>,
    ts: Option<i64>,
    inclusive: bool,
}

fn history(node: &Services, client: &str, q: &LogsCommand) -> Result<Vec<LogItem>, ImError> {
    let cid = q
        .cid
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| im_err!(ConversationNotFound, "logs without a conversation id"))?;
    let store = &node.store;
    let conv = store.conversation(cid)?;
    if crate::ids::is_temp_conversation_id(cid) && !conv.as_ref().is_some_and(|c| is_live(c, node.now_ms())) {
        return Err(expired());
    }
    let conv = conv.ok_or_else(|| im_err!(ConversationNotFound))?;
    if !conv.members.iter().any(|m| m == client) {
        return Err(im_err!(ConversationLogRejected, "not a member of conversation {cid}"));
    }
    let limit = match q.l.or(q.limit) {
        None => DEFAULT_LIMIT,
        Some(l) if l < 0 => DEFAULT_LIMIT,
        Some(l) => (l as usize).min(MAX_LIMIT),
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let view = store.messages(cid);
    let Some((last_seq, _)) = view.last()? else {
        return Ok(Vec::new());
    };
    let start = anchor(&view, q.t, q.mid.as_deref(), q.t_included == Some(true), last_seq)?;
    let end = anchor(&view, q.tt, q.tmid.as_deref(), q.tt_included == Some(true), last_seq)?;
    let newest_first = q.direction() != QueryDirection::New;
    let (lo, hi) = if newest_first {
        (lower_bound(&view, end, last_seq)?, upper_bound(&view, start, last_seq)?)
    } else {
        (lower_bound(&view, start, last_seq)?, upper_bound(&view, end, last_seq)?)
    };
    let mut found = match q.lctype {
        None => view.scan(lo, hi, newest_first, limit)?,
        Some(lctype) => scan_type(&view, lo, hi, newest_first, limit, lctype)?,
    };
    if newest_first {
        found.reverse();
    }
    // Receipt marks of the recipient in a one-to-one conversation.
    let cursors: Vec<(String, Cursor)> = if conv.members.len() == 2 {
        conv.members.iter().map(|m| Ok((m.clone(), store.cursor(cid, m)?))).collect::<Result<_, StoreError>>()?
    } else {
        Vec::new()
    };
    Ok(found
        .into_iter()
        .map(|(seq, msg)| {
            let recipient = cursors.iter().find(|(m, _)| *m != msg.from).map(|(_, c)| c);
            log_item(seq, msg, recipient)
        })
        .collect())
}

fn anchor(
    view: &MsgView,
    ts: Option<i64>,
    mid: Option<&str>,
    inclusive: bool,
    last_seq: u64,
) -> Result<Anchor, StoreError> {
    let seq = match mid.and_then(crate::ids::message_seq).filter(|&s| s >= 1 && s <= last_seq) {
        Some(seq) => view.get(seq)?.filter(|m| Some(m.mid.as_str()) == mid).map(|_| seq),
        None => None,
    };
    Ok(Anchor { seq, ts: ts.filter(|&t| t > 0), inclusive })
}

/// The first seq at or after `anchor` (1 without one).
fn lower_bound(view: &MsgView, anchor: Anchor, last_seq: u64) -> Result<u64, StoreError> {
    Ok(match (anchor.seq, anchor.ts) {
        (Some(seq), _) => seq + u64::from(!anchor.inclusive),
        (None, Some(ts)) => view.first_seq_after_time(ts, !anchor.inclusive, last_seq)?,
        (None, None) => 1,
    })
}

/// The last seq at or before `anchor` (the newest without one).
fn upper_bound(view: &MsgView, anchor: Anchor, last_seq: u64) -> Result<u64, StoreError> {
    Ok(match (anchor.seq, anchor.ts) {
        (Some(seq), _) => seq - u64::from(!anchor.inclusive),
        (None, Some(ts)) => view.first_seq_after_time(ts, anchor.inclusive, last_seq)? - 1,
        (None, None) => last_seq,
    })
}

/// Like `view.scan`, keeping only messages of type `lctype`.
fn scan_type(
    view: &MsgView,
    mut lo: u64,
    mut hi: u64,
    newest_first: bool,
    limit: usize,
    lctype: i32,
) -> Result<Vec<(u64, MsgRecord)>, StoreError> {
    const CHUNK: usize = 200;
    let (mut found, mut scanned) = (Vec::new(), 0);
    while lo <= hi && found.len() < limit && scanned < MAX_FILTER_SCAN {
        let chunk = view.scan(lo, hi, newest_first, CHUNK)?;
        let Some(&(edge, _)) = chunk.last() else { break };
        scanned += chunk.len();
        found.extend(chunk.into_iter().filter(|(_, m)| m.lctype == Some(lctype)));
        if newest_first {
            match edge.checked_sub(1) {
                Some(next) => hi = next,
                None => break,
            }
        } else {
            lo = edge + 1;
        }
    }
    found.truncate(limit);
    Ok(found)
}

fn log_item(seq: u64, msg: MsgRecord, recipient: Option<&Cursor>) -> LogItem {
    let (data, bin) = match msg.bin {
        Some(bytes) => (base64::engine::general_purpose::STANDARD.encode(bytes), Some(true)),
        None => (msg.data.unwrap_or_default(), None),
    };
    LogItem {
        from: Some(msg.from),
        data: Some(data),
        timestamp: Some(msg.ts),
        msg_id: Some(msg.mid),
        ack_at: recipient.filter(|c| c.ack_seq >= seq).map(|c| c.ack_at),
        read_at: recipient.filter(|c| c.read_seq >= seq).map(|c| c.read_at),
        patch_timestamp: msg.patch_ts,
        mention_all: msg.mention_all.then_some(true),
        mention_pids: msg.mention_pids,
        bin,
        ..Default::default()
    }
}
