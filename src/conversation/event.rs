//! Conversation events (`conv/joined`, `members_joined`, `left`, `blocked`, `updated`,
//! `member_info_changed`, …): kept for each recipient so an SDK that was offline can fetch
//! them over REST after a reconnect (`GET /1.1/rtm/notifications`), and pushed to the online
//! sessions once kept.
//!
//! The kept form is the push's `convMessage` fields at the top level plus `cmd`, `op`,
//! `serverTs` and `notificationType`: the JS SDK turns each kept notification back into a
//! command by putting everything else under `convMessage`, so `attr` is kept as
//! `{"data": "…"}` just as it travels in the push.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::protocol::frame::{self, push};
use crate::protocol::{CommandType, ConvCommand, ConvMemberInfo, GenericCommand, JsonObjectMessage, OpType};
use crate::services::Services;

/// `notificationType` of a notification the SDKs may replay over REST after a reconnect.
pub const NOTIFICATION_PERMANENT: i32 = 1;

/// One event for a set of recipients.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub op: OpType,
    pub cid: &'a str,
    pub init_by: &'a str,
    /// The members who joined or left (`m`); empty for `joined` / `left`.
    pub m: &'a [String],
    /// `updated`: the change as the client sent it (`attr`), the values it produced
    /// (`attrModified`), both JSON object text, and the update time (`udate`).
    pub attr: Option<(&'a str, &'a str)>,
    pub udate: Option<&'a str>,
    /// `member_info_changed`: whose role changed, and to what.
    pub info: Option<(&'a str, &'a str)>,
}

impl<'a> Event<'a> {
    pub fn new(op: OpType, cid: &'a str, init_by: &'a str) -> Self {
        Event { op, cid, init_by, m: &[], attr: None, udate: None, info: None }
    }

    pub fn members(self, m: &'a [String]) -> Self {
        Event { m, ..self }
    }

    /// The push's `convMessage`.
    fn conv(&self) -> ConvCommand {
        let json = |data: &str| Some(JsonObjectMessage { data: data.to_owned() });
        ConvCommand {
            cid: Some(self.cid.to_owned()),
            init_by: Some(self.init_by.to_owned()),
            m: self.m.to_vec(),
            attr: self.attr.and_then(|(attr, _)| json(attr)),
            attr_modified: self.attr.and_then(|(_, modified)| json(modified)),
            udate: self.udate.map(str::to_owned),
            info: self.info.map(|(pid, role)| ConvMemberInfo {
                pid: Some(pid.to_owned()),
                role: Some(role.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The kept form (see the module comment).
    fn kept(&self, now: i64) -> Value {
        let mut kept = json!({
            "cmd": "conv",
            "op": self.op.as_str_name(),
            "cid": self.cid,
            "initBy": self.init_by,
            "serverTs": now,
            "notificationType": NOTIFICATION_PERMANENT,
        });
        if !self.m.is_empty() {
            kept["m"] = json!(self.m);
        }
        if let Some((attr, modified)) = self.attr {
            kept["attr"] = json!({ "data": attr });
            kept["attrModified"] = json!({ "data": modified });
        }
        if let Some(udate) = self.udate {
            kept["udate"] = json!(udate);
        }
        if let Some((pid, role)) = self.info {
            kept["info"] = json!({ "pid": pid, "role": role });
        }
        kept
    }
}

/// Keeps `event` for every one of `recipients`, then pushes it to their online sessions.
pub fn notify(node: &Arc<Services>, event: Event<'_>, recipients: Vec<String>) {
    if recipients.is_empty() {
        return;
    }
    let now = node.now_ms();
    let cmd = GenericCommand {
        conv_message: Some(event.conv()),
        notification_type: Some(NOTIFICATION_PERMANENT),
        ..push(CommandType::Conv, Some(event.op), Some(now))
    };
    let kept = event.kept(now).to_string();
    let writes = recipients.iter().map(|r| node.store.notification_write(r, now, kept.clone())).collect();
    let bytes = frame::encode(&cmd);
    let online = node.clone();
    node.store.pipeline.submit(
        writes,
        Box::new(move |result| {
            if result.is_ok() {
                online.presence.deliver(recipients.iter().map(String::as_str), None, &bytes);
            }
        }),
    );
}
