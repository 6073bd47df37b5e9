//! Conversation events (`conv/joined`, `members_joined`, `left`, `blocked`, …): kept for
//! each recipient so an SDK that was offline can fetch them over REST after a reconnect
//! (`GET /1.1/rtm/notifications`), and pushed to the online sessions once kept.

use std::sync::Arc;

use serde_json::json;

use crate::node::Node;
use crate::protocol::frame::{self, push};
use crate::protocol::{CommandType, ConvCommand, GenericCommand, OpType};
use crate::store::notif::notification_write;

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
}

/// Keeps `event` for every one of `recipients`, then pushes it to their online sessions.
pub fn notify(node: &Arc<Node>, event: Event<'_>, recipients: Vec<String>) {
    if recipients.is_empty() {
        return;
    }
    let now = node.now_ms();
    let cmd = GenericCommand {
        conv_message: Some(ConvCommand {
            cid: Some(event.cid.to_owned()),
            init_by: Some(event.init_by.to_owned()),
            m: event.m.to_vec(),
            ..Default::default()
        }),
        notification_type: Some(NOTIFICATION_PERMANENT),
        ..push(CommandType::Conv, Some(event.op), Some(now))
    };
    let mut kept = json!({
        "cmd": "conv",
        "op": event.op.as_str_name(),
        "cid": event.cid,
        "initBy": event.init_by,
        "serverTs": now,
        "notificationType": NOTIFICATION_PERMANENT,
    });
    if !event.m.is_empty() {
        kept["m"] = json!(event.m);
    }
    let kept = kept.to_string();
    let writes = recipients.iter().map(|r| notification_write(r, now, kept.clone())).collect();
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
