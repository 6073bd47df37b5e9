//! Member roles (F-ROLE, F-ROLE-INFO, spec/leancloud-im.md §6.1, §6.4), behind
//! `[features] member_roles` (off by default, as on LeanCloud).
//!
//! - The creator (`c`) is the `Owner`; members named in the record's `managers` are
//!   `Manager`s; everyone else is a `Member`. Rank: Owner > Manager > Member.
//! - `conv/member_info_update {cid, targetClientId, info{pid, role}}`, checked in this order:
//!   roles off → 4325; no conversation → 4303; a temporary one → 4314; the caller not a
//!   member → 4309; no target, or the target not a member → 4317; a role other than
//!   `Owner`, `Manager`, `Member` → 4321; the Owner changing its own role → 4324 (no Owner
//!   would remain); otherwise the caller must be an Owner or a Manager that is not muted,
//!   outrank the target, not grant a role above its own, and not grant `Owner` (ownership
//!   is not transferable over the protocol; the SDKs refuse it themselves) → else 4320.
//!   The answer is `member_info_updated {cid, info}`; if the role changed, every member gets
//!   `member_info_changed {cid, initBy, info{pid, role}}` (kept for replay).
//! - While roles are on, the admin operations — adding or removing others, muting and
//!   unmuting members, blocking and unblocking — need an Owner or a Manager that is not
//!   muted (else the whole request gets 4320), and each target must rank below the caller
//!   (else that target fails with 4320). A muted Manager therefore cannot unmute itself,
//!   and a Manager cannot remove another Manager. Joining and quitting oneself stay open
//!   to everyone (the Owner still cannot quit: 4324). With roles off, any member may do
//!   all of these, as before (docs/decisions.md, "Member roles").
//! - A member that leaves loses its role; roles are read over REST through
//!   `GET /1.1/classes/_ConversationMemberInfo` (the gateway's `member_info`).

use std::cmp::Ordering;

use super::ConvReq;
use super::event::{Event, notify};
use super::state::ConvState;
use crate::error::ImError;
use crate::im_err;
use crate::protocol::frame;
use crate::protocol::{CommandType, ConvCommand, ConvMemberInfo, GenericCommand, OpType};
use crate::store::conv::set_listed;

/// A member's role in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Manager,
    Owner,
}

impl Role {
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "Owner" => Some(Role::Owner),
            "Manager" => Some(Role::Manager),
            "Member" => Some(Role::Member),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Manager => "Manager",
            Role::Member => "Member",
        }
    }
}

/// `client`'s role given the creator and the sorted managers.
pub fn role_of(client: &str, creator: Option<&str>, managers: &[String]) -> Role {
    if creator == Some(client) {
        Role::Owner
    } else if managers.binary_search_by(|m| m.as_str().cmp(client)).is_ok() {
        Role::Manager
    } else {
        Role::Member
    }
}

impl ConvState {
    pub fn roles_on(&self) -> bool {
        self.node.config.features.member_roles
    }

    pub fn role(&self, client: &str) -> Role {
        role_of(client, self.creator.as_deref(), &self.managers)
    }

    /// With roles on, `from` may act on others only as an Owner or a Manager that is not
    /// muted (4320). With roles off anyone may.
    pub fn check_admin(&self, from: &str) -> Result<(), ImError> {
        if !self.roles_on() {
            return Ok(());
        }
        if self.role(from) == Role::Member {
            return Err(im_err!(ConversationOperationUnauthorized, "only the Owner and Managers may do that"));
        }
        if self.is_silenced(from) {
            return Err(im_err!(
                ConversationOperationUnauthorized,
                "a muted {} may not do that",
                self.role(from).as_str()
            ));
        }
        Ok(())
    }

    /// Whether `from` may act on `target` (with roles off, always).
    pub fn outranks(&self, from: &str, target: &str) -> bool {
        !self.roles_on() || self.role(from).cmp(&self.role(target)) == Ordering::Greater
    }

    pub fn member_info_update(&mut self, req: ConvReq) {
        let ConvReq { from, reply, conv, .. } = req;
        match self.judge_role_change(&from, &conv) {
            Ok((target, role)) => {
                let changed = self.role(&target) != role;
                if changed && let Err(err) = self.save_role(&target, role) {
                    return reply.error(&err);
                }
                let info = ConvMemberInfo {
                    pid: Some(target.clone()),
                    role: Some(role.as_str().into()),
                    ..Default::default()
                };
                let answer = ConvCommand { cid: Some(self.cid.to_string()), info: Some(info), ..Default::default() };
                reply.send(GenericCommand {
                    conv_message: Some(answer),
                    ..frame::command(CommandType::Conv, Some(OpType::MemberInfoUpdated))
                });
                if changed {
                    let members = self.members.iter().map(|m| m.to_string()).collect();
                    let event = Event {
                        info: Some((&target, role.as_str())),
                        ..Event::new(OpType::MemberInfoChanged, &self.cid, &from)
                    };
                    notify(&self.node, event, members);
                }
            }
            Err(err) => reply.error(&err),
        }
    }

    fn judge_role_change(&self, from: &str, conv: &ConvCommand) -> Result<(String, Role), ImError> {
        if !self.roles_on() {
            return Err(im_err!(ConversationMemberInfoFeatureDisabled, "member roles are off on this server"));
        }
        self.check_updatable(from)?;
        let info = conv.info.clone().unwrap_or_default();
        let target = conv.target_client_id.clone().or(info.pid).filter(|t| !t.is_empty());
        let Some(target) = target.filter(|t| self.is_member(t)) else {
            return Err(im_err!(ConversationMembershipRequired, "the target is not a member of {}", self.cid));
        };
        let name = info.role.unwrap_or_default();
        let role = Role::parse(&name).ok_or_else(|| {
            let shown: String = name.chars().take(16).collect();
            im_err!(UnknownConversationRole, "no role {shown:?}; roles are Owner, Manager and Member")
        })?;
        let current = self.role(&target);
        if current == Role::Owner {
            return match (role, target == from) {
                (Role::Owner, _) => Ok((target, role)),
                (_, true) => Err(im_err!(ConversationNeedOwner, "the Owner cannot give up its role")),
                (_, false) => Err(im_err!(ConversationOperationUnauthorized, "only the Owner outranks the Owner")),
            };
        }
        self.check_admin(from)?;
        let mine = self.role(from);
        if role == Role::Owner || role > mine || current >= mine {
            let detail = format!("a {} cannot make a {} a {}", mine.as_str(), current.as_str(), role.as_str());
            return Err(im_err!(ConversationOperationUnauthorized, "{detail}"));
        }
        Ok((target, role))
    }

    fn save_role(&mut self, target: &str, role: Role) -> Result<(), ImError> {
        let manager = role == Role::Manager;
        let changed = self.node.store.modify_conversation(&self.cid, None, self.owner(), |record| {
            set_listed(&mut record.managers, target, manager)
        });
        let record = self.fenced_if(changed)?.ok_or_else(|| im_err!(ConversationNotFound))?;
        self.managers = record.managers;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_rank_owner_over_manager_over_member() {
        let managers = vec!["bob".to_string(), "dave".to_string()];
        assert_eq!(role_of("alice", Some("alice"), &managers), Role::Owner);
        assert_eq!(role_of("bob", Some("alice"), &managers), Role::Manager);
        assert_eq!(role_of("carol", Some("alice"), &managers), Role::Member);
        assert!(Role::Owner > Role::Manager && Role::Manager > Role::Member);
        for role in [Role::Owner, Role::Manager, Role::Member] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("manager"), None, "role names are case-sensitive");
    }
}
