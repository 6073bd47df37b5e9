//! `conv/add` and `conv/remove` (F-CONV-JOIN, -QUIT, -ADD, -REMOVE, spec/leancloud-im.md §4.4):
//! joining is adding oneself, quitting is removing oneself; inviting and kicking name others.
//!
//! In the conversation's actor, so membership changes are ordered with its messages:
//!
//! 1. The conversation must exist (4303), and the signature must hold when conversation
//!    signatures are on (4302; action `invite` for add, `kick` for remove). Quitting needs
//!    none, but a signature that comes with it is checked (spec/leancloud-im.md §14 G5).
//! 2. Only a member may invite, kick or quit (4309); anyone may join. With member roles on,
//!    only an Owner or a Manager that is not muted may invite or kick (4320), and a kicked
//!    member must rank below the kicker ([`super::roles`]).
//! 3. Each target is judged alone — an invalid id (4103), a blacklist between it and the
//!    conversation (4548), a full conversation (4304), the creator leaving (4324), a member
//!    of equal or higher rank being kicked (4320, roles on) — and the
//!    reply lists `allowedPids` and the `failedPids` grouped by code. Adding a member or
//!    removing a non-member is allowed and changes nothing.
//! 4. The change is committed, then answered (`added` / `removed`), then announced: added
//!    members get `joined` (except someone joining), removed ones `left` (a quitter too, with
//!    `initBy` itself), and the members after the change `members_joined` / `members_left`
//!    (spec/leancloud-im.md §14 G10, G11).
//!
//! A temporary conversation's members are fixed: 4314, or 4323 once it expired ([`super::temp`]).

use std::sync::Arc;

use super::event::{Event, notify};
use super::state::ConvState;
use crate::delivery::Reply;
use crate::error::{Code, ImError};
use crate::ids;
use crate::im_err;
use crate::protocol::frame;
use crate::protocol::{CommandType, ConvCommand, ErrorCommand, GenericCommand, OpType};
use crate::signature::{self, Action, Signed};
use crate::store::blacklist::List;

/// A `conv/add` or `conv/remove`, as the session actor hands it over.
#[derive(Debug)]
pub struct MembersReq {
    pub from: Arc<str>,
    pub reply: Reply,
    /// `conv/add` (else `conv/remove`).
    pub add: bool,
    pub conv: ConvCommand,
}

/// The outcome per target.
#[derive(Default)]
pub(super) struct Verdicts {
    pub allowed: Vec<String>,
    pub failed: Vec<(Code, Vec<String>)>,
    /// Allowed targets whose membership actually changes.
    pub changed: Vec<String>,
}

impl Verdicts {
    pub fn fail(&mut self, code: Code, target: String) {
        match self.failed.iter_mut().find(|(c, _)| *c == code) {
            Some((_, pids)) => pids.push(target),
            None => self.failed.push((code, vec![target])),
        }
    }

    /// Whether `target` already has a verdict (it is named twice).
    pub fn judged(&self, target: &str) -> bool {
        self.allowed.iter().chain(self.failed.iter().flat_map(|(_, pids)| pids)).any(|t| t == target)
    }

    /// `failedPids`: the failures grouped by code.
    pub fn failed_pids(&self) -> Vec<ErrorCommand> {
        let failure = |(code, pids): &(Code, Vec<String>)| ErrorCommand {
            code: code.number(),
            reason: code.reason().to_owned(),
            pids: pids.clone(),
            ..Default::default()
        };
        self.failed.iter().map(failure).collect()
    }
}

impl ConvState {
    pub fn change_members(&mut self, req: MembersReq) {
        let MembersReq { from, reply, add, conv } = req;
        if let Err(err) = self.normal_required() {
            return reply.error(&err);
        }
        match self.judge(&from, add, &conv) {
            Ok(verdicts) => self.apply(&from, add, &reply, verdicts),
            Err(err) => reply.error(&err),
        }
    }

    fn judge(&self, from: &str, add: bool, conv: &ConvCommand) -> Result<Verdicts, ImError> {
        if !self.exists {
            return Err(im_err!(ConversationNotFound, "no conversation {}", self.cid));
        }
        let targets: Vec<String> = conv.m.iter().filter(|m| !m.is_empty()).cloned().collect();
        if targets.is_empty() {
            return Err(im_err!(ConversationApiFailed, "m names nobody"));
        }
        let joining = add && targets.iter().all(|t| t == from);
        let quitting = !add && targets.iter().all(|t| t == from);
        // Quitting needs no signature, but one that is sent must hold (§14 G5).
        let signed = Signed::conv(conv);
        if !(quitting && signed.signature.is_none()) {
            // The docs name the actions `invite` and `kick`; JS SDK 4.x hands `add` and
            // `remove` to the app's signature factory, so apps may have signed those.
            let (documented, sdk4) = if add { ("invite", "add") } else { ("kick", "remove") };
            let action = Action::members(from, &self.cid, &targets, documented);
            let alternative = Action::members(from, &self.cid, &targets, sdk4);
            signature::verify(&self.node, &action, signed, &[alternative])?;
        }
        if !joining && !self.is_member(from) {
            return Err(im_err!(ConversationUpdateRejected, "not a member of conversation {}", self.cid));
        }
        if !joining && !quitting {
            self.check_admin(from)?;
        }
        let max = self.node.config.limits.max_members;
        let mut verdicts = Verdicts::default();
        for target in targets {
            if verdicts.judged(&target) {
                continue;
            }
            let member = self.is_member(&target);
            if ids::validate_client_id(&target).is_err() {
                verdicts.fail(Code::InvalidLogin, target);
            } else if add && !member && self.blocks(&target)? {
                verdicts.fail(Code::BlockedByConv, target);
            } else if add && !member && self.members.len() + verdicts.changed.len() >= max {
                verdicts.fail(Code::ConversationFull, target);
            } else if !add && self.creator.as_deref() == Some(target.as_str()) {
                verdicts.fail(Code::ConversationNeedOwner, target);
            } else if !add && target != from && member && !self.outranks(from, &target) {
                verdicts.fail(Code::ConversationOperationUnauthorized, target);
            } else {
                if member != add {
                    verdicts.changed.push(target.clone());
                }
                verdicts.allowed.push(target);
            }
        }
        Ok(verdicts)
    }

    /// Whether `client` may not be added: the conversation blocks it, or it blocks the
    /// conversation (only while the blacklist feature is on).
    fn blocks(&self, client: &str) -> Result<bool, ImError> {
        if !self.node.config.features.blacklist {
            return Ok(false);
        }
        let store = &self.node.store;
        Ok(store.is_blocked(List::Conversation, &self.cid, client)?
            || store.is_blocked(List::Client, client, &self.cid)?)
    }

    fn apply(&mut self, from: &str, add: bool, reply: &Reply, verdicts: Verdicts) {
        let failed_pids = verdicts.failed_pids();
        let Verdicts { allowed, changed, .. } = verdicts;
        if !changed.is_empty() {
            let (added, removed) = if add { (&changed[..], &[][..]) } else { (&[][..], &changed[..]) };
            let changed = self.node.store.change_members(&self.cid, added, removed, self.node.now_ms(), self.owner());
            let record = match self.fenced_if(changed) {
                Ok(Some(record)) => record,
                Ok(None) => return reply.error(&im_err!(ConversationNotFound)),
                Err(err) => return reply.error(&ImError::from(err)),
            };
            self.members = record.members.iter().map(|m| Arc::from(m.as_str())).collect();
            self.managers = record.managers;
        }
        let answer =
            ConvCommand { cid: Some(self.cid.to_string()), allowed_pids: allowed, failed_pids, ..Default::default() };
        let op = if add { OpType::Added } else { OpType::Removed };
        reply.send(GenericCommand { conv_message: Some(answer), ..frame::command(CommandType::Conv, Some(op)) });
        if changed.is_empty() {
            return;
        }
        let members: Vec<String> = self.members.iter().map(|m| m.to_string()).collect();
        let (own, all) =
            if add { (OpType::Joined, OpType::MembersJoined) } else { (OpType::Left, OpType::MembersLeft) };
        let targets: Vec<String> = changed.iter().filter(|t| !(add && *t == from)).cloned().collect();
        notify(&self.node, Event::new(own, &self.cid, from), targets);
        notify(&self.node, Event::new(all, &self.cid, from).members(&changed), members);
    }
}
