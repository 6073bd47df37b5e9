//! `blacklist` commands (F-BLOCK-CONV, F-BLOCK-CLIENT, spec/leancloud-im.md §6.3). With
//! `srcCid` they concern a conversation's list and go to its actor
//! ([`crate::conversation::blacklist`]); with `srcPid` they concern the caller's own list of
//! conversations it refuses to be added to, answered here:
//!
//! - `block` / `unblock {srcPid, toCids}` → `blocked` / `unblocked {allowedPids: the cids}`;
//!   the signature (when on, 4546) is `appid:clientid:convid::timestamp:nonce:action`, with
//!   several conversations joined by `:` in the `convid` place (docs/decisions.md).
//! - `query {srcPid, limit, next}` → `query_result {blockedCids, next}`.
//! - `check_block {srcPid, toCids}` → `check_result {blockedCids}`.
//!
//! The feature must be on (`[features] blacklist`), else 4544.

use std::sync::Arc;

use super::Reply;
use crate::conversation::{BlacklistReq, ConvOp, page_size};
use crate::error::ImError;
use crate::im_err;
use crate::node::Node;
use crate::protocol::frame;
use crate::protocol::{BlacklistCommand, CommandType, GenericCommand, OpType};
use crate::services::Services;
use crate::signature::{self, Action, Signed};
use crate::store::blacklist::List;

/// Most conversations one client may block (the docs give no number; a conversation's own
/// list holds 500).
const MAX_BLOCKED_CONVERSATIONS: usize = 500;

pub async fn blacklist(node: &Arc<Node>, client: &Arc<str>, reply: Reply, op: Option<OpType>, msg: BlacklistCommand) {
    if !node.config.features.blacklist {
        return reply.error(&im_err!(BlacklistFeatureDisabled, "blacklists are switched off ([features] blacklist)"));
    }
    let Some(op @ (OpType::Block | OpType::Unblock | OpType::Query | OpType::CheckBlock)) = op else {
        return reply.error(&im_err!(UnparseableRawMessage, "unknown blacklist operation {op:?}"));
    };
    if let Some(cid) = msg.src_cid.clone().filter(|c| !c.is_empty()) {
        let req = BlacklistReq { from: client.clone(), reply, op, msg };
        return node.to_conversation(&cid, ConvOp::Blacklist(Box::new(req)));
    }
    if msg.src_pid.as_deref().is_some_and(|pid| pid != &**client) {
        return reply.error(&im_err!(ConversationUpdateRejected, "a client can only change its own blacklist"));
    }
    let client = client.clone();
    let answer = node.blocking(move |node| own_list(node, &client, op, &msg)).await;
    reply.result(answer);
}

fn own_list(node: &Services, client: &str, op: OpType, msg: &BlacklistCommand) -> Result<GenericCommand, ImError> {
    let store = &node.store;
    let cids: Vec<String> = msg.to_cids.iter().filter(|c| !c.is_empty()).cloned().collect();
    let (answer_op, answer) = match op {
        OpType::Block | OpType::Unblock => {
            if cids.is_empty() {
                return Err(im_err!(ConversationApiFailed, "toCids names no conversation"));
            }
            let block = op == OpType::Block;
            let action = if block { "client-block-conversations" } else { "client-unblock-conversations" };
            let signed = Signed::blacklist(msg);
            signature::verify(node, &Action::blacklist(client, &cids.join(":"), &[], action), signed, &[])?;
            if block
                && store.blocked_count(List::Client, client, MAX_BLOCKED_CONVERSATIONS)? + cids.len()
                    > MAX_BLOCKED_CONVERSATIONS
            {
                return Err(im_err!(BlacklistFull, "at most {MAX_BLOCKED_CONVERSATIONS} conversations"));
            }
            store.set_blocked(List::Client, client, &cids, block)?;
            let op = if block { OpType::Blocked } else { OpType::Unblocked };
            (op, BlacklistCommand { allowed_pids: cids, ..Default::default() })
        }
        OpType::Query => {
            let limit = page_size(msg.limit);
            let page = store.blocked(List::Client, client, msg.next.as_deref(), limit)?;
            (
                OpType::QueryResult,
                BlacklistCommand { blocked_cids: page.entries, next: page.next, ..Default::default() },
            )
        }
        _ => {
            let mut blocked = Vec::new();
            for cid in cids {
                if store.is_blocked(List::Client, client, &cid)? {
                    blocked.push(cid);
                }
            }
            (OpType::CheckResult, BlacklistCommand { blocked_cids: blocked, ..Default::default() })
        }
    };
    let answer = BlacklistCommand { src_pid: Some(client.to_owned()), ..answer };
    Ok(GenericCommand { blacklist_message: Some(answer), ..frame::command(CommandType::Blacklist, Some(answer_op)) })
}
