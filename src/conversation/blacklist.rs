//! A conversation's blacklist (F-BLOCK-CONV, spec/leancloud-im.md §6.3): `blacklist/block`,
//! `unblock`, `query` and `check_block` with `srcCid`, in the conversation's actor so they
//! are ordered with membership changes.
//!
//! - The feature must be on (`[features] blacklist`; the session checks, 4544), the signature
//!   must hold when blacklist signatures are on (4546), and the caller must be a member (4309).
//!   With member roles on, only an Owner or a Manager that is not muted may block or unblock
//!   (4320), and only clients ranked below it (that target fails with 4320).
//! - Blocking a member removes it. The creator cannot be blocked (4324); at most
//!   [`MAX_BLOCKED`] clients per conversation (4543).
//! - Events: blocked clients get `blocked` (and `left` if they were members); the members get
//!   `members_blocked` (and `members_left`). Unblocking: `unblocked` and `members_unblocked`.
//! - A blocked client cannot join or be added (4548, see [`super::members`]).
//! - Not for a temporary conversation: 4314, or 4323 once it expired ([`super::temp`]).

use std::sync::Arc;

use super::event::{Event, notify};
use super::members::Verdicts;
use super::page_size;
use super::state::ConvState;
use crate::delivery::Reply;
use crate::error::{Code, ImError};
use crate::ids;
use crate::im_err;
use crate::protocol::frame;
use crate::protocol::{BlacklistCommand, CommandType, GenericCommand, OpType};
use crate::signature::{self, Action, Signed};
use crate::store::blacklist::List;

/// Most clients one conversation may block.
pub const MAX_BLOCKED: usize = 500;

/// A `blacklist` command with `srcCid`, as the session actor hands it over.
#[derive(Debug)]
pub struct BlacklistReq {
    pub from: Arc<str>,
    pub reply: Reply,
    pub op: OpType,
    pub msg: BlacklistCommand,
}

impl ConvState {
    pub fn blacklist(&mut self, req: BlacklistReq) {
        let BlacklistReq { from, reply, op, msg } = req;
        if let Err(err) = self.normal_required() {
            return reply.error(&err);
        }
        if !self.exists {
            return reply.error(&im_err!(ConversationNotFound, "no conversation {}", self.cid));
        }
        let result = match op {
            OpType::Block | OpType::Unblock => self.block(&from, op == OpType::Block, &reply, &msg),
            _ if !self.is_member(&from) => Err(not_member(&self.cid)),
            OpType::Query => self.query_blocked(&msg).map(|answer| reply.send(answer)),
            _ => self.check_blocked(&msg).map(|answer| reply.send(answer)),
        };
        if let Err(err) = result {
            reply.error(&err);
        }
    }

    /// Block or unblock, answer, announce.
    fn block(&mut self, from: &str, block: bool, reply: &Reply, msg: &BlacklistCommand) -> Result<(), ImError> {
        let targets: Vec<String> = msg.to_pids.iter().filter(|p| !p.is_empty()).cloned().collect();
        if targets.is_empty() {
            return Err(im_err!(ConversationApiFailed, "toPids names nobody"));
        }
        let action = if block { "conversation-block-clients" } else { "conversation-unblock-clients" };
        let signed = Signed::blacklist(msg);
        signature::verify(&self.node, &Action::blacklist(from, &self.cid, &targets, action), signed, &[])?;
        if !self.is_member(from) {
            return Err(not_member(&self.cid));
        }
        self.check_admin(from)?;
        let store = &self.node.store;
        let mut room = MAX_BLOCKED.saturating_sub(store.blocked_count(List::Conversation, &self.cid, MAX_BLOCKED)?);
        let mut verdicts = Verdicts::default();
        for target in targets {
            if verdicts.judged(&target) {
                continue;
            }
            if ids::validate_client_id(&target).is_err() {
                verdicts.fail(Code::InvalidLogin, target);
            } else if block && self.creator.as_deref() == Some(target.as_str()) {
                verdicts.fail(Code::ConversationNeedOwner, target);
            } else if !self.outranks(from, &target) {
                verdicts.fail(Code::ConversationOperationUnauthorized, target);
            } else if block && !store.is_blocked(List::Conversation, &self.cid, &target)? && room == 0 {
                verdicts.fail(Code::BlacklistFull, target);
            } else {
                room = room.saturating_sub(usize::from(block));
                verdicts.allowed.push(target);
            }
        }
        let allowed = verdicts.allowed.clone();
        let left: Vec<String> = allowed.iter().filter(|t| block && self.is_member(t)).cloned().collect();
        if block {
            let blocked = store.block_clients(&self.cid, &allowed, self.node.now_ms(), self.owner());
            let record = self.fenced_if(blocked)?.ok_or_else(|| im_err!(ConversationNotFound))?;
            self.members = record.members.iter().map(|m| Arc::from(m.as_str())).collect();
            self.managers = record.managers;
        } else {
            store.set_blocked(List::Conversation, &self.cid, &allowed, false)?;
        }
        let answer = BlacklistCommand {
            src_cid: Some(self.cid.to_string()),
            failed_pids: verdicts.failed_pids(),
            allowed_pids: verdicts.allowed,
            ..Default::default()
        };
        let op = if block { OpType::Blocked } else { OpType::Unblocked };
        // Answer first, then tell everyone concerned.
        reply.send(GenericCommand {
            blacklist_message: Some(answer),
            ..frame::command(CommandType::Blacklist, Some(op))
        });
        if !allowed.is_empty() {
            self.announce(from, block, &allowed, &left);
        }
        Ok(())
    }

    fn announce(&self, from: &str, block: bool, targets: &[String], left: &[String]) {
        let members: Vec<String> = self.members.iter().map(|m| m.to_string()).collect();
        let cid = &self.cid;
        let (own, all) = if block {
            (OpType::Blocked, OpType::MembersBlocked)
        } else {
            (OpType::Unblocked, OpType::MembersUnblocked)
        };
        notify(&self.node, Event::new(own, cid, from), targets.to_vec());
        notify(&self.node, Event::new(all, cid, from).members(targets), members.clone());
        if !left.is_empty() {
            notify(&self.node, Event::new(OpType::Left, cid, from), left.to_vec());
            notify(&self.node, Event::new(OpType::MembersLeft, cid, from).members(left), members);
        }
    }

    fn query_blocked(&self, msg: &BlacklistCommand) -> Result<GenericCommand, ImError> {
        let limit = page_size(msg.limit);
        let page = self.node.store.blocked(List::Conversation, &self.cid, msg.next.as_deref(), limit)?;
        let answer = BlacklistCommand {
            src_cid: Some(self.cid.to_string()),
            blocked_pids: page.entries,
            next: page.next,
            ..Default::default()
        };
        Ok(GenericCommand {
            blacklist_message: Some(answer),
            ..frame::command(CommandType::Blacklist, Some(OpType::QueryResult))
        })
    }

    fn check_blocked(&self, msg: &BlacklistCommand) -> Result<GenericCommand, ImError> {
        let mut blocked = Vec::new();
        for pid in &msg.to_pids {
            if self.node.store.is_blocked(List::Conversation, &self.cid, pid)? {
                blocked.push(pid.clone());
            }
        }
        let answer =
            BlacklistCommand { src_cid: Some(self.cid.to_string()), blocked_pids: blocked, ..Default::default() };
        Ok(GenericCommand {
            blacklist_message: Some(answer),
            ..frame::command(CommandType::Blacklist, Some(OpType::CheckResult))
        })
    }
}

fn not_member(cid: &str) -> ImError {
    im_err!(ConversationUpdateRejected, "not a member of conversation {cid}")
}
