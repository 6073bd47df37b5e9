//! `conv/start`: create a conversation (or find the unique one for a member set).
//!
//! Members are the `m` list plus the creator, sorted and de-duplicated; every id must be a
//! valid client id (4103). More than `max_members` is 4304. With `unique: true` the same
//! member set always gives the same conversation, whatever its name (one store
//! transaction decides, so racing creators agree). `started` carries `cid`, `cdate`, and
//! for unique conversations `uniqueId` (plus `existing: true` when it was found, not made).
//! The other initial members get `conv/joined {cid, initBy}` on every online session, and
//! it is kept for them to fetch over REST after a reconnect.
//! `tempConv: true` starts a temporary conversation instead ([`super::temp`], which shares
//! the member, attribute and signature checks here). Chat rooms are not built yet (4200
//! with a detail).

use std::sync::Arc;

use super::doc::RESERVED;
use super::event::{Event, notify};
use crate::clock::iso8601;
use crate::delivery::Reply;
use crate::error::ImError;
use crate::ids;
use crate::im_err;
use crate::protocol::frame;
use crate::protocol::{CommandType, ConvCommand, GenericCommand, OpType};
use crate::services::Services;
use crate::signature::{self, Action, Signed};
use crate::store::conv::{NewConv, Started};

pub async fn start(node: &Arc<Services>, client: &Arc<str>, reply: Reply, conv: ConvCommand) {
    if conv.temp_conv == Some(true) && conv.transient != Some(true) {
        return super::temp::start(node, client, reply, conv).await;
    }
    let new = match check(node, client, &conv) {
        Ok(new) => new,
        Err(err) => return reply.error(&err),
    };
    let started = match node.blocking(move |node| Ok(node.store.start_conversation(&new)?)).await {
        Ok(started) => started,
        Err(err) => return reply.error(&err),
    };
    reply.send(started_reply(&started));
    if !started.existing {
        notify_joined(node, client, &started);
    }
}

/// Validates the request and builds the conversation to create.
fn check(node: &Services, client: &str, conv: &ConvCommand) -> Result<NewConv, ImError> {
    if conv.transient == Some(true) {
        return Err(im_err!(InternalError, "chat rooms are not supported yet"));
    }
    Ok(NewConv {
        creator: client.to_owned(),
        members: members(node, client, conv, node.config.limits.max_members)?,
        attrs: attributes(conv)?,
        unique: conv.unique == Some(true),
        now_ms: node.now_ms(),
    })
}

/// The members of a new conversation, once the signature holds: `m` plus the creator,
/// sorted and de-duplicated, each a valid client id (4103), at most `max` (4304).
pub(super) fn members(node: &Services, client: &str, conv: &ConvCommand, max: usize) -> Result<Vec<String>, ImError> {
    let mut members: Vec<String> = conv.m.iter().filter(|m| !m.is_empty()).cloned().collect();
    verify_signature(node, client, &members, conv)?;
    members.push(client.to_owned());
    members.sort();
    members.dedup();
    for member in &members {
        if ids::validate_client_id(member).is_err() {
            return Err(im_err!(InvalidLogin, "member {member:?} is not a valid client id"));
        }
    }
    if members.len() > max {
        return Err(im_err!(ConversationFull, "{} members; the limit is {max}", members.len()));
    }
    Ok(members)
}

/// The creation attributes (`attr`: `name` and custom keys) as JSON object text, without
/// the keys the server owns.
pub(super) fn attributes(conv: &ConvCommand) -> Result<String, ImError> {
    let attrs = match conv.attr.as_ref().map(|a| a.data.trim()).filter(|d| !d.is_empty()) {
        None => serde_json::Map::new(),
        Some(data) => match serde_json::from_str(data) {
            Ok(serde_json::Value::Object(mut attrs)) => {
                attrs.retain(|key, _| !RESERVED.contains(&key.as_str()));
                attrs
            }
            _ => return Err(im_err!(ConversationApiFailed, "attr must be a JSON object")),
        },
    };
    Ok(serde_json::Value::Object(attrs).to_string())
}

/// The `conv/start` signature signs the members "as sent" (the JS SDK sends and signs the
/// full list, creator included); the docs call them "the invited members", so a list with or
/// without the creator is accepted too (spec/leancloud-im.md §14 G4).
fn verify_signature(node: &Services, client: &str, sent: &[String], conv: &ConvCommand) -> Result<(), ImError> {
    let signed = Signed::conv(conv);
    let with_creator: Vec<String> = sent.iter().cloned().chain([client.to_owned()]).collect();
    let without_creator: Vec<String> = sent.iter().filter(|m| *m != client).cloned().collect();
    let alternatives = [Action::start(client, &with_creator), Action::start(client, &without_creator)];
    signature::verify(node, &Action::start(client, sent), signed, &alternatives)
}

pub(super) fn started_reply(started: &Started) -> GenericCommand {
    GenericCommand {
        conv_message: Some(ConvCommand {
            cid: Some(started.cid.clone()),
            cdate: Some(iso8601(started.record.created_ms)),
            unique_id: started.record.unique_id.clone(),
            existing: started.existing.then_some(true),
            ..Default::default()
        }),
        ..frame::command(CommandType::Conv, Some(OpType::Started))
    }
}

/// `conv/joined {cid, initBy}` for the initial members other than the creator.
pub(super) fn notify_joined(node: &Arc<Services>, creator: &str, started: &Started) {
    let others: Vec<String> = started.record.members.iter().filter(|m| *m != creator).cloned().collect();
    let event = Event::new(OpType::Joined, &started.cid, creator);
    notify(node, event, others);
}
