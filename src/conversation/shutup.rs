//! Muting members ("shutup", F-SHUTUP-PERM, spec/leancloud-im.md §6.2): `conv/add_shutup`,
//! `remove_shutup`, `query_shutup` and `check_shutup`, in the conversation's actor, which
//! refuses a muted member's messages with 4563 SILIENCED (muted members still receive).
//!
//! - Members may mute and unmute; others get 4309. With member roles on, only an Owner or a
//!   Manager that is not muted may (4320), and only members ranked below it (that target
//!   fails with 4320): a muted Manager cannot unmute itself ([`super::roles`]). With roles
//!   off any member may (§6.4). No signature is defined for muting (§7.2), so none is
//!   checked.
//! - Each target is judged alone (an invalid id: 4103; more than [`MAX_SILENCED`]: 4561) and
//!   the answer lists `allowedPids` and `failedPids`.
//! - Events: the targets get `shutuped` / `unshutuped`, every member (targets included)
//!   `members_shutuped` / `members_unshutuped` with `m`.
//! - `query_shutup {limit (10), next}` → `shutup_result {m, next}` in id order;
//!   `check_shutup {m}` → `check_result {m: those of them muted}`.
//! - Not in a temporary conversation: 4314, or 4323 once it expired ([`super::temp`]).

use super::ConvReq;
use super::event::{Event, notify};
use super::members::Verdicts;
use super::page_size;
use super::state::ConvState;
use crate::delivery::Reply;
use crate::error::{Code, ImError};
use crate::ids;
use crate::im_err;
use crate::protocol::frame;
use crate::protocol::{CommandType, ConvCommand, GenericCommand, OpType};

/// Most clients muted in one conversation.
pub const MAX_SILENCED: usize = 500;

impl ConvState {
    pub fn shutup(&mut self, req: ConvReq) {
        let ConvReq { from, reply, op, conv } = req;
        if let Err(err) = self.normal_required() {
            return reply.error(&err);
        }
        let result = if !self.exists {
            Err(im_err!(ConversationNotFound, "no conversation {}", self.cid))
        } else if !self.is_member(&from) {
            Err(im_err!(ConversationUpdateRejected, "not a member of conversation {}", self.cid))
        } else {
            match op {
                OpType::AddShutup | OpType::RemoveShutup => self.silence(&from, op == OpType::AddShutup, &reply, &conv),
                OpType::QueryShutup => self.query_silenced(&conv).map(|answer| reply.send(answer)),
                _ => self.check_silenced(&conv).map(|answer| reply.send(answer)),
            }
        };
        if let Err(err) = result {
            reply.error(&err);
        }
    }

    fn silence(&mut self, from: &str, silence: bool, reply: &Reply, conv: &ConvCommand) -> Result<(), ImError> {
        self.check_admin(from)?;
        let mut verdicts = Verdicts::default();
        let mut room = MAX_SILENCED.saturating_sub(self.silenced.len());
        for target in conv.m.iter().filter(|m| !m.is_empty()) {
            if verdicts.judged(target) {
                continue;
            }
            let listed = self.is_silenced(target);
            if ids::validate_client_id(target).is_err() {
                verdicts.fail(Code::InvalidLogin, target.clone());
            } else if !self.outranks(from, target) {
                verdicts.fail(Code::ConversationOperationUnauthorized, target.clone());
            } else if silence && !listed && room == 0 {
                verdicts.fail(Code::SilencedMemberListFull, target.clone());
            } else {
                if listed != silence {
                    room = room.saturating_sub(usize::from(silence));
                    verdicts.changed.push(target.clone());
                }
                verdicts.allowed.push(target.clone());
            }
        }
        if verdicts.allowed.is_empty() && verdicts.failed.is_empty() {
            return Err(im_err!(ConversationApiFailed, "m names nobody"));
        }
        if !verdicts.changed.is_empty() {
            let now = self.node.now_ms();
            let record = self.node.store.set_silenced(&self.cid, &verdicts.changed, silence, now, self.owner());
            let record = self.fenced_if(record)?;
            self.silenced = record.ok_or_else(|| im_err!(ConversationNotFound))?.silenced;
        }
        let answer = ConvCommand {
            cid: Some(self.cid.to_string()),
            failed_pids: verdicts.failed_pids(),
            allowed_pids: verdicts.allowed,
            ..Default::default()
        };
        let op = if silence { OpType::ShutupAdded } else { OpType::ShutupRemoved };
        reply.send(GenericCommand { conv_message: Some(answer), ..frame::command(CommandType::Conv, Some(op)) });
        let changed = verdicts.changed;
        if !changed.is_empty() {
            let (own, all) = if silence {
                (OpType::Shutuped, OpType::MembersShutuped)
            } else {
                (OpType::Unshutuped, OpType::MembersUnshutuped)
            };
            let members: Vec<String> = self.members.iter().map(|m| m.to_string()).collect();
            notify(&self.node, Event::new(own, &self.cid, from), changed.clone());
            notify(&self.node, Event::new(all, &self.cid, from).members(&changed), members);
        }
        Ok(())
    }

    fn query_silenced(&self, conv: &ConvCommand) -> Result<GenericCommand, ImError> {
        let limit = page_size(conv.limit);
        let after = conv.next.as_deref().unwrap_or("");
        let rest: Vec<&String> = self.silenced.iter().filter(|s| s.as_str() > after).collect();
        let page: Vec<String> = rest.iter().take(limit).map(|s| s.to_string()).collect();
        let next = (rest.len() > limit).then(|| page.last().cloned().unwrap_or_default());
        let answer = ConvCommand { cid: Some(self.cid.to_string()), m: page, next, ..Default::default() };
        Ok(GenericCommand {
            conv_message: Some(answer),
            ..frame::command(CommandType::Conv, Some(OpType::ShutupResult))
        })
    }

    fn check_silenced(&self, conv: &ConvCommand) -> Result<GenericCommand, ImError> {
        let muted: Vec<String> = conv.m.iter().filter(|m| self.is_silenced(m)).cloned().collect();
        let answer = ConvCommand { cid: Some(self.cid.to_string()), m: muted, ..Default::default() };
        Ok(GenericCommand {
            conv_message: Some(answer),
            ..frame::command(CommandType::Conv, Some(OpType::CheckResult))
        })
    }
}
