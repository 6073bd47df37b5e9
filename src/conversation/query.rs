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
//! - `flag` bit 1 (compact) leaves `m` out; bit 2 adds the last message fields.
//! - Temporary conversations (`tempConvIds`) are not built yet: they come back empty.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::doc::{add_last_message, document};
use crate::error::ImError;
use crate::im_err;
use crate::node::Node;
use crate::protocol::frame;
use crate::protocol::{CommandType, ConvCommand, GenericCommand, JsonObjectMessage, OpType};
use crate::query::{Filter, SortKey, compare_docs, parse_sort};
use crate::session::Reply;
use crate::store::Store;
use crate::store::records::{ConvRecord, MsgRecord};

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 1000;
const FLAG_COMPACT: i32 = 1;
const FLAG_LAST_MESSAGE: i32 = 2;

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

pub async fn query(node: &Arc<Node>, client: &Arc<str>, reply: Reply, conv: ConvCommand) {
    if !conv.temp_conv_ids.is_empty() {
        return reply.send(results("[]".into()));
    }
    let request = match parse(&conv) {
        Ok(request) => request,
        Err(err) => return reply.error(&err),
    };
    let client = client.clone();
    let found = node.blocking(move |node| run(node, &client, &request)).await;
    reply.result(found.map(results));
}

fn results(json: String) -> GenericCommand {
    GenericCommand {
        conv_message: Some(ConvCommand { results: Some(JsonObjectMessage { data: json }), ..Default::default() }),
        ..frame::command(CommandType::Conv, Some(OpType::Results))
    }
}

fn parse(conv: &ConvCommand) -> Result<Request, ImError> {
    let text = conv.where_.as_ref().map(|w| w.data.trim()).filter(|d| !d.is_empty()).unwrap_or("{}");
    let cond = match serde_json::from_str(text) {
        Ok(Value::Object(cond)) => cond,
        _ => return Err(im_err!(ConversationQueryFailed, "where must be a JSON object")),
    };
    let filter = Filter::parse(&Value::Object(cond.clone())).map_err(|e| im_err!(ConversationQueryFailed, "{e}"))?;
    let flag = conv.flag.unwrap_or(0);
    Ok(Request {
        cond,
        filter,
        sort: parse_sort(conv.sort.as_deref().filter(|s| !s.trim().is_empty()).unwrap_or("-lm")),
        limit: conv.limit.map_or(DEFAULT_LIMIT, |l| l.clamp(0, MAX_LIMIT as i32) as usize),
        skip: conv.skip.unwrap_or(0).max(0) as usize,
        compact: flag & FLAG_COMPACT != 0,
        last_message: flag & FLAG_LAST_MESSAGE != 0,
    })
}

/// Evaluates the query; returns the JSON array text of the results.
fn run(node: &Node, client: &str, req: &Request) -> Result<String, ImError> {
    if req.limit == 0 {
        return Ok("[]".into());
    }
    let store = &node.store;
    let mut matched: Vec<(Value, Option<MsgRecord>)> = Vec::new();
    for (cid, record) in candidates(store, &req.cond, client)? {
        let last = store.messages(&cid).last()?.map(|(_, msg)| msg);
        let doc = Value::Object(document(&cid, &record, last.as_ref()));
        if req.filter.matches(&doc) {
            matched.push((doc, last));
        }
    }
    matched.sort_by(|(a, _), (b, _)| compare_docs(a, b, &req.sort));
    let rows: Vec<Value> = matched
        .into_iter()
        .skip(req.skip)
        .take(req.limit)
        .map(|(mut doc, last)| {
            if let Value::Object(fields) = &mut doc {
                if let (true, Some(last)) = (req.last_message, &last) {
                    add_last_message(fields, last);
                }
                if req.compact {
                    fields.remove("m");
                }
            }
            doc
        })
        .collect();
    Ok(Value::Array(rows).to_string())
}

/// The conversations worth evaluating `cond` on: the client's own for an empty condition,
/// those named by an `objectId` condition, those of the member an `m` condition names, or
/// else all of them.
fn candidates(store: &Store, cond: &Map<String, Value>, client: &str) -> Result<Vec<(String, ConvRecord)>, ImError> {
    let ids = if cond.is_empty() {
        store.conversations_of(client)?
    } else if let Some(ids) = ids_in(cond.get("objectId")) {
        ids
    } else if let Some(member) = member_in(cond.get("m")) {
        store.conversations_of(member)?
    } else {
        return Ok(store.all_conversations()?);
    };
    let mut found = Vec::with_capacity(ids.len());
    for cid in ids {
        if let Some(record) = store.conversation(&cid)? {
            found.push((cid, record));
        }
    }
    Ok(found)
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
