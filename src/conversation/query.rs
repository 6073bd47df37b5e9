//! `conv/query`: find conversations with a Mongo-style `where`, `sort`, `limit`, `skip`
//! and `flag` (spec/leancloud-im.md §4.7).
//!
//! - An empty `where` means "conversations I am a member of"; any other condition is
//!   evaluated app-wide (add an `m` condition to restrict it), as LeanCloud did.
//! - Conditions on `objectId` (equality or `$in`) and on `m` (equality or `$all`) pick the
//!   candidates from the store's indexes; anything else scans every conversation.
//! - `limit` defaults to 10 and is capped at 1000 (the JS SDK asks 999 when it fetches
//!   conversations by id); `limit: 0` returns no rows. `sort` defaults to `-lm` (newest
//!   message first).
//! - `flag` bit 1 (compact) leaves `m` out; bit 2 adds the last message fields, only for
//!   conversations the requester is a member of (`logs` refuses non-members too, 4312):
//!   anyone may find a conversation, only members read what was said in it.
//! - Temporary conversations are never candidates of a `where` (not even by `objectId`, nor
//!   among "my conversations"): they are looked up only by id, with `tempConvIds`
//!   ([`super::temp::lookup`]).
//!
//! What one query may cost (`[query]` in the configuration, issue 9): the `where` is
//! parsed, and its regexes compiled, on the blocking pool, never on the HTTP worker that
//! serves other sockets; the condition is held to a [`Budget`](crate::query::Budget); at
//! most `max_scanned` conversations are looked at; at most `max_concurrent` queries run on
//! the node at once (a query waits up to `queue_wait_ms` for its turn). Past any of these
//! the answer is 4310 with the bound in the detail. The reply carries at most
//! `max_reply_bytes` of rows (half the outbound queue at most): the rows that do not fit are
//! left for the next page (`skip`), and the SDKs take a shorter page as it is. A single row
//! bigger than that still comes back, alone: a row is built from inputs the frame and
//! member limits bound (tens of KiB), so it always fits the outbound queue, and refusing it
//! would leave that conversation unreadable.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::doc::{add_last_message, document};
use crate::config::QueryConfig;
use crate::delivery::Reply;
use crate::error::ImError;
use crate::im_err;
use crate::protocol::frame;
use crate::protocol::{CommandType, ConvCommand, GenericCommand, JsonObjectMessage, OpType};
use crate::query::{Filter, SortKey, compare_docs, parse_sort_within};
use crate::services::Services;
use crate::store::kv::{RangeOptions, prefix_end};
use crate::store::records::{ConvRecord, MsgRecord, decode};
use crate::store::tuple::Unpack;
use crate::store::{Store, StoreError, keys};

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 1000;
pub(super) const FLAG_COMPACT: i32 = 1;
pub(super) const FLAG_LAST_MESSAGE: i32 = 2;

/// A parsed `conv/query`.
struct Request {
    cond: Map<String, Value>,
    filter: Filter,
    sort: Vec<SortKey>,
    limit: usize,
    skip: usize,
    compact: bool,
    last_message: bool,
}

pub async fn query(node: &Arc<Services>, client: &Arc<str>, reply: Reply, conv: ConvCommand) {
    if !conv.temp_conv_ids.is_empty() {
        return super::temp::lookup(node, client, reply, conv).await;
    }
    // Wait for a turn (on this session only: the HTTP worker serves its other sockets
    // meanwhile). The permit moves into the blocking task, so it is held for as long as
    // the work runs, even if this session goes away first.
    let wait = Duration::from_millis(node.config.query.queue_wait_ms);
    let permit = match tokio::time::timeout(wait, node.queries.clone().acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        _ => {
            let detail = "the server is busy with other queries; try again shortly";
            return reply.error(&im_err!(ConversationQueryFailed, "{detail}"));
        }
    };
    let client = client.clone();
    let found = node
        .blocking(move |node| {
            let _permit = permit;
            let request = parse(&conv, &node.config.query)?;
            run(node, &client, &request)
        })
        .await;
    reply.result(found.map(results));
}

pub(super) fn results(json: String) -> GenericCommand {
    GenericCommand {
        conv_message: Some(ConvCommand { results: Some(JsonObjectMessage { data: json }), ..Default::default() }),
        ..frame::command(CommandType::Conv, Some(OpType::Results))
    }
}

fn parse(conv: &ConvCommand, config: &QueryConfig) -> Result<Request, ImError> {
    let failed = |e: crate::query::QueryError| im_err!(ConversationQueryFailed, "{e}");
    let text = conv.where_.as_ref().map(|w| w.data.trim()).filter(|d| !d.is_empty()).unwrap_or("{}");
    let cond = match serde_json::from_str(text) {
        Ok(Value::Object(cond)) => cond,
        _ => return Err(im_err!(ConversationQueryFailed, "where must be a JSON object")),
    };
    let budget = config.budget();
    let filter = Filter::parse_within(&Value::Object(cond.clone()), &budget).map_err(failed)?;
    let sort = conv.sort.as_deref().filter(|s| !s.trim().is_empty()).unwrap_or("-lm");
    let flag = conv.flag.unwrap_or(0);
    Ok(Request {
        cond,
        filter,
        sort: parse_sort_within(sort, &budget).map_err(failed)?,
        limit: conv.limit.map_or(DEFAULT_LIMIT, |l| l.clamp(0, MAX_LIMIT as i32) as usize),
        // Past `max_scanned` nothing is left to skip to.
        skip: (conv.skip.unwrap_or(0).max(0) as usize).min(config.max_scanned),
        compact: flag & FLAG_COMPACT != 0,
        last_message: flag & FLAG_LAST_MESSAGE != 0,
    })
}

/// A conversation that matched: its document, newest message and whether the requester
/// is a member.
struct Row {
    doc: Value,
    last: Option<MsgRecord>,
    member: bool,
}

/// Evaluates the query; returns the JSON array text of the results.
fn run(node: &Services, client: &str, req: &Request) -> Result<String, ImError> {
    if req.limit == 0 {
        return Ok("[]".into());
    }
    let store = &node.store;
    let config = &node.config.query;
    // Only the first `keep` rows in sort order can be answered: the matches are cut back
    // to those whenever twice as many have gathered, so memory follows skip + limit rather
    // than the number of matches (a stable sort keeps the result the same).
    let keep = req.skip + req.limit;
    let mut matched: Vec<Row> = Vec::new();
    let by_sort = |a: &Row, b: &Row| compare_docs(&a.doc, &b.doc, &req.sort);
    each_candidate(store, &req.cond, client, config.max_scanned, |cid, record| {
        let last = store.messages(cid).last()?.map(|(_, msg)| msg);
        let doc = Value::Object(document(cid, &record, last.as_ref()));
        if req.filter.matches(&doc) {
            let member = record.members.iter().any(|m| m == client);
            matched.push(Row { doc, last, member });
            if matched.len() >= keep.saturating_mul(2).max(1024) {
                matched.sort_by(by_sort);
                matched.truncate(keep);
            }
        }
        Ok(())
    })?;
    matched.sort_by(by_sort);
    let budget = config.max_reply_bytes.min(node.config.limits.outbound_queue_bytes / 2);
    let mut page = String::from("[");
    for (n, Row { mut doc, last, member }) in matched.into_iter().skip(req.skip).take(req.limit).enumerate() {
        if let Value::Object(fields) = &mut doc {
            if let (true, true, Some(last)) = (req.last_message, member, &last) {
                add_last_message(fields, last);
            }
            if req.compact {
                fields.remove("m");
            }
        }
        let row = doc.to_string();
        // The first row always goes (see the module comment); later ones while they fit.
        if n > 0 {
            if page.len() + 1 + row.len() + 1 > budget {
                break;
            }
            page.push(',');
        }
        page.push_str(&row);
    }
    page.push(']');
    Ok(page)
}

fn over_scan(max: usize) -> ImError {
    im_err!(
        ConversationQueryFailed,
        "query over budget: it would look at more than {max} conversations; narrow it with objectId or m"
    )
}

/// Calls `each` on the conversations worth evaluating `cond` on: the client's own for an
/// empty condition, those named by an `objectId` condition, those of the member an `m`
/// condition names, or else all of them, read in batches. More than `max` candidates is
/// over budget (checked before any is read where the ids are known up front). Temporary
/// conversations are left out.
fn each_candidate(
    store: &Store,
    cond: &Map<String, Value>,
    client: &str,
    max: usize,
    mut each: impl FnMut(&str, ConvRecord) -> Result<(), ImError>,
) -> Result<(), ImError> {
    let mut each = |cid: &str, record: ConvRecord| if record.temp { Ok(()) } else { each(cid, record) };
    let ids = if cond.is_empty() {
        store.conversations_of(client)?
    } else if let Some(ids) = ids_in(cond.get("objectId")) {
        ids
    } else if let Some(member) = member_in(cond.get("m")) {
        store.conversations_of(member)?
    } else {
        return each_conversation(store, max, each);
    };
    let mut seen = HashSet::with_capacity(ids.len());
    let ids: Vec<String> =
        ids.into_iter().filter(|cid| !crate::ids::is_temp_conversation_id(cid) && seen.insert(cid.clone())).collect();
    if ids.len() > max {
        return Err(over_scan(max));
    }
    for cid in ids {
        if let Some(record) = store.conversation(&cid)? {
            each(&cid, record)?;
        }
    }
    Ok(())
}

/// Conversations read per batch of a full scan.
const SCAN_BATCH: usize = 256;

/// Every conversation in id order, [`SCAN_BATCH`] records at a time (`Store::all_conversations`
/// reads them all at once); more than `max` is over budget.
fn each_conversation(
    store: &Store,
    max: usize,
    mut each: impl FnMut(&str, ConvRecord) -> Result<(), ImError>,
) -> Result<(), ImError> {
    let prefix = keys::all_convs();
    let end = prefix_end(&prefix);
    let snapshot = store.engine().snapshot();
    let mut begin = prefix;
    let mut scanned = 0usize;
    loop {
        let rows = snapshot.get_range(&begin, &end, RangeOptions::forward(SCAN_BATCH)).map_err(StoreError::from)?;
        let full = rows.len() == SCAN_BATCH;
        for (key, value) in rows {
            scanned += 1;
            if scanned > max {
                return Err(over_scan(max));
            }
            let mut t = Unpack::new(&key);
            let cid = t.str().and_then(|_| t.str()).ok_or_else(|| StoreError::Corrupt("conv key".into()))?;
            each(&cid, decode(&value)?)?;
            // The next batch starts just after this key.
            begin = key;
            begin.push(0);
        }
        if !full {
            return Ok(());
        }
    }
}

/// Ids named by `{"objectId": id}` or `{"objectId": {"$in": [ids]}}`.
fn ids_in(cond: Option<&Value>) -> Option<Vec<String>> {
    match cond? {
        Value::String(id) => Some(vec![id.clone()]),
        Value::Object(ops) if ops.len() == 1 => match ops.get("$in")? {
            Value::Array(ids) => Some(ids.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()),
            _ => None,
        },
        _ => None,
    }
}

/// A member every match must have: `{"m": id}` or `{"m": {"$all": [id, …]}}`.
fn member_in(cond: Option<&Value>) -> Option<&str> {
    match cond? {
        Value::String(id) => Some(id),
        Value::Object(ops) => ops.get("$all")?.as_array()?.first()?.as_str(),
        _ => None,
    }
}
