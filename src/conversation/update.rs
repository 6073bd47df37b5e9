//! `conv/update` (F-CONV-UPDATE, spec/leancloud-im.md §4.5) and `conv/mute` / `conv/unmute`
//! (F-CONV-MUTE, §4.6), in the conversation's actor so they are ordered with its messages
//! and membership changes.
//!
//! `conv/update {cid, attr{data: JSON object}}`:
//! - Each key is a dotted path into the conversation's document: `name`, a custom key
//!   (`color`), or a path into one (`attr.pinned`, `color.text`). A top-level key replaces its
//!   value; a dotted path sets that field of the object and leaves its siblings alone
//!   (creating objects on the way, and replacing a non-object on the way by one). The value
//!   `{"__op": "Delete"}` removes the field.
//! - Refused: no conversation → 4303; a temporary one → 4314; the caller not a member →
//!   4309 (any member may update, with or without roles); `attr` not a JSON object, an
//!   empty path segment, a key the server owns (`m`, `c`, `mu`, `objectId`, `updatedAt`, …:
//!   [`RESERVED`]), another `__op`, paths deeper than [`MAX_DEPTH`], or attributes that would
//!   grow past `limits.max_attr_bytes` → 4306 CONVERSATION_UPDATE_FAILED with a detail.
//! - The change is stored with a new `updatedAt`, then answered `updated {cid, udate, attr,
//!   attrModified}` (`attrModified`: each path's value after the change, `null` if deleted),
//!   then every other member gets the `updated {cid, attr, attrModified, initBy, udate}` push
//!   (the SDKs' `infoupdated` event), kept for replay. `conv/query` sees the new values at
//!   once. An empty change is answered with the current `udate` and announced to nobody.
//!
//! `conv/mute` / `conv/unmute {cid}` put the caller into or take it out of `mu` (the
//! members who want no offline push for this conversation; the push service reads it),
//! move `updatedAt` and answer `updated {cid, udate}`. Same refusals as an update (4303,
//! 4314, 4309); nobody else is told.

use serde_json::{Map, Value};

use super::ConvReq;
use super::doc::RESERVED;
use super::event::{Event, notify};
use super::state::ConvState;
use crate::clock::iso8601;
use crate::error::ImError;
use crate::im_err;
use crate::protocol::frame;
use crate::protocol::{CommandType, ConvCommand, GenericCommand, JsonObjectMessage, OpType};
use crate::store::conv::set_listed;

/// Deepest nesting of the attributes after an update (paths and values together), well
/// under the JSON parser's recursion limit so the stored document always reads back.
pub const MAX_DEPTH: usize = 32;

impl ConvState {
    /// Who may change this conversation's own settings (attributes, mute, roles): members of
    /// an existing normal one.
    pub(super) fn check_updatable(&self, from: &str) -> Result<(), ImError> {
        if !self.exists {
            return Err(im_err!(ConversationNotFound, "no conversation {}", self.cid));
        }
        if self.temp {
            return Err(im_err!(NormalConversationRequired, "temporary conversations cannot be changed"));
        }
        if !self.is_member(from) {
            return Err(im_err!(ConversationUpdateRejected, "not a member of conversation {}", self.cid));
        }
        Ok(())
    }

    pub fn update(&mut self, req: ConvReq) {
        let ConvReq { from, reply, conv, .. } = req;
        let result = self.check_updatable(&from).and_then(|()| self.apply_update(&conv));
        let (patch, modified, udate) = match result {
            Ok(done) => done,
            Err(err) => return reply.error(&err),
        };
        let json = |data: &str| Some(JsonObjectMessage { data: data.to_owned() });
        let answer = ConvCommand {
            cid: Some(self.cid.to_string()),
            udate: Some(udate.clone()),
            attr: json(&patch),
            attr_modified: json(&modified),
            ..Default::default()
        };
        reply.send(GenericCommand {
            conv_message: Some(answer),
            ..frame::command(CommandType::Conv, Some(OpType::Updated))
        });
        if patch == "{}" {
            return;
        }
        let others = self.members.iter().filter(|m| ***m != *from).map(|m| m.to_string()).collect();
        let event = Event {
            attr: Some((&patch, &modified)),
            udate: Some(&udate),
            ..Event::new(OpType::Updated, &self.cid, &from)
        };
        notify(&self.node, event, others);
    }

    /// Stores the change; returns the patch and its results (JSON text) and `udate`.
    fn apply_update(&mut self, conv: &ConvCommand) -> Result<(String, String, String), ImError> {
        let failed = |detail: String| ImError::with_detail(crate::error::Code::ConversationUpdateFailed, detail);
        let text = conv.attr.as_ref().map_or("{}", |a| a.data.as_str());
        let Ok(Value::Object(patch)) = serde_json::from_str::<Value>(text) else {
            return Err(failed("attr must be a JSON object".into()));
        };
        let record = self.node.store.conversation(&self.cid)?.ok_or_else(|| im_err!(ConversationNotFound))?;
        if patch.is_empty() {
            return Ok(("{}".into(), "{}".into(), iso8601(record.updated_ms)));
        }
        let mut attrs = match serde_json::from_str::<Value>(&record.attrs) {
            Ok(Value::Object(attrs)) => attrs,
            _ => Map::new(),
        };
        let modified = merge(&mut attrs, &patch).map_err(failed)?;
        let attrs = Value::Object(attrs);
        if depth(&attrs) > MAX_DEPTH {
            return Err(failed(format!("attributes may nest at most {MAX_DEPTH} levels deep")));
        }
        let attrs = attrs.to_string();
        let max = self.node.config.limits.max_attr_bytes;
        if attrs.len() > max {
            return Err(failed(format!("attributes would take {} bytes; the limit is {max}", attrs.len())));
        }
        let now = self.node.now_ms();
        let changed = self
            .node
            .store
            .modify_conversation(&self.cid, Some(now), self.owner(), |record| record.attrs = attrs.clone());
        self.fenced_if(changed)?.ok_or_else(|| im_err!(ConversationNotFound))?;
        Ok((Value::Object(patch).to_string(), Value::Object(modified).to_string(), iso8601(now)))
    }

    pub fn mute(&mut self, req: ConvReq) {
        let ConvReq { from, reply, op, .. } = req;
        let mute = op == OpType::Mute;
        let now = self.node.now_ms();
        let result = self.check_updatable(&from).and_then(|()| {
            let changed = self.node.store.modify_conversation(&self.cid, Some(now), self.owner(), |record| {
                set_listed(&mut record.muted, &from, mute)
            });
            self.fenced_if(changed)?.map(|_| ()).ok_or_else(|| im_err!(ConversationNotFound))
        });
        if let Err(err) = result {
            return reply.error(&err);
        }
        let answer = ConvCommand { cid: Some(self.cid.to_string()), udate: Some(iso8601(now)), ..Default::default() };
        reply.send(GenericCommand {
            conv_message: Some(answer),
            ..frame::command(CommandType::Conv, Some(OpType::Updated))
        });
    }
}

/// Applies `patch` (dotted paths → values) to `attrs`; returns each path's value after the
/// change (`null` where it was deleted), or why the patch is refused.
pub fn merge(attrs: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut modified = Map::new();
    for (path, value) in patch {
        let segments: Vec<&str> = path.split('.').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(format!("{path:?} is not a valid key"));
        }
        if RESERVED.contains(&segments[0]) {
            let hint = if segments[0] == "m" { " (members change through conv/add and conv/remove)" } else { "" };
            return Err(format!("{:?} is kept by the server and cannot be updated{hint}", segments[0]));
        }
        if segments.len() > MAX_DEPTH {
            return Err(format!("{path:?} is deeper than {MAX_DEPTH} levels"));
        }
        let delete = match value.get("__op") {
            None => false,
            Some(Value::String(op)) if op == "Delete" => true,
            Some(op) => return Err(format!("operation {op} is not supported; only Delete is")),
        };
        let (leaf, parents) = segments.split_last().expect("split never yields nothing");
        let mut object = &mut *attrs;
        for segment in parents {
            let slot = object.entry(segment.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            object = slot.as_object_mut().expect("just made an object");
        }
        if delete {
            object.remove(*leaf);
            modified.insert(path.clone(), Value::Null);
        } else {
            object.insert(leaf.to_string(), value.clone());
            modified.insert(path.clone(), value.clone());
        }
    }
    Ok(modified)
}

/// How deeply `value` nests (a scalar is 0).
fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn dotted_paths_merge_and_top_level_keys_replace() {
        let mut attrs = object(json!({"name": "old", "attr": {"lean": "cloud", "a": 1}, "color": "red"}));
        let patch = object(json!({"name": "new", "attr.lee": "yeh", "color.text": "#333"}));
        let modified = merge(&mut attrs, &patch).unwrap();
        assert_eq!(
            Value::Object(attrs.clone()),
            json!({"name": "new", "attr": {"lean": "cloud", "a": 1, "lee": "yeh"}, "color": {"text": "#333"}})
        );
        assert_eq!(Value::Object(modified), json!({"name": "new", "attr.lee": "yeh", "color.text": "#333"}));
        merge(&mut attrs, &object(json!({"attr": {"only": true}, "attr.a": {"__op": "Delete"}}))).unwrap();
        assert_eq!(attrs["attr"], json!({"only": true}));
        let modified = merge(&mut attrs, &object(json!({"color": {"__op": "Delete"}}))).unwrap();
        assert!(!attrs.contains_key("color"));
        assert_eq!(modified["color"], Value::Null);
    }

    #[test]
    fn server_keys_and_odd_paths_are_refused() {
        let mut attrs = Map::new();
        for bad in [json!({"m": ["x"]}), json!({"m.0": "x"}), json!({"updatedAt": "now"}), json!({"a..b": 1})] {
            assert!(merge(&mut attrs, &object(bad.clone())).is_err(), "{bad}");
        }
        assert!(merge(&mut attrs, &object(json!({"n": {"__op": "Increment", "amount": 1}}))).is_err());
        let deep = vec!["a"; MAX_DEPTH + 1].join(".");
        assert!(merge(&mut attrs, &object(json!({ deep: 1 }))).is_err());
        assert!(attrs.is_empty(), "refused patches change nothing");
        assert_eq!(depth(&json!({"a": {"b": [1, {"c": 2}]}})), 4);
    }
}
