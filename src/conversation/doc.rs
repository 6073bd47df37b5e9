//! The JSON shape of a conversation, as `conv/query` returns it (the `_Conversation`
//! columns, spec/wire-protocol.md §5.8) and as `where` conditions see it.
//!
//! Creation attributes (`name` and custom keys, as the SDK put them in `conv/start`'s
//! `attr`) are top-level keys, so an SDK reads back exactly what it created. The server's
//! own columns always win over attributes of the same name.
//!
//! `conv_type` is 1 for normal conversations, 2 for chat rooms, 4 for temporary ones. A
//! temporary conversation has `temp: true` and no `unique`/`uniqueId` (its member-set index
//! is internal); its `ttl` depends on the time and is added by the look-up
//! ([`super::temp`]).

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::clock::iso8601;
use crate::store::records::{ConvRecord, MsgRecord};

/// Keys the server owns; `conv/start` attributes cannot set them.
pub const RESERVED: &[&str] = &[
    "objectId",
    "c",
    "m",
    "mu",
    "tr",
    "sys",
    "unique",
    "uniqueId",
    "lm",
    "createdAt",
    "updatedAt",
    "temp",
    "ttl",
    "msg",
    "bin",
    "msg_from",
    "msg_mid",
    "msg_timestamp",
    "patch_timestamp",
    "mention_all",
    "mention_pids",
    "conv_type",
];

/// The conversation as a JSON object. `last` is its newest message (for `lm`).
pub fn document(cid: &str, record: &ConvRecord, last: Option<&MsgRecord>) -> Map<String, Value> {
    let mut doc = match serde_json::from_str::<Value>(&record.attrs) {
        Ok(Value::Object(attrs)) => attrs,
        _ => Map::new(),
    };
    doc.retain(|key, _| !RESERVED.contains(&key.as_str()));
    doc.insert("objectId".into(), cid.into());
    doc.insert("c".into(), record.creator.clone().into());
    doc.insert("m".into(), record.members.clone().into());
    doc.insert("mu".into(), record.muted.clone().into());
    doc.insert("tr".into(), record.transient.into());
    if record.temp {
        doc.insert("temp".into(), true.into());
    } else {
        doc.insert("unique".into(), record.unique.into());
        if let Some(unique_id) = &record.unique_id {
            doc.insert("uniqueId".into(), unique_id.clone().into());
        }
    }
    doc.insert("conv_type".into(), conv_type(record).into());
    doc.insert("createdAt".into(), iso8601(record.created_ms).into());
    doc.insert("updatedAt".into(), iso8601(record.updated_ms).into());
    if let Some(last) = last {
        doc.insert("lm".into(), json!({"__type": "Date", "iso": iso8601(last.ts)}));
    }
    doc
}

/// 1 normal, 2 chat room (transient), 4 temporary (3, system, is not built).
pub fn conv_type(record: &ConvRecord) -> i32 {
    match (record.temp, record.transient) {
        (true, _) => 4,
        (false, true) => 2,
        (false, false) => 1,
    }
}

/// Adds the last-message fields (`conv/query` flag 2, "withLastMessagesRefreshed").
pub fn add_last_message(doc: &mut Map<String, Value>, last: &MsgRecord) {
    let (msg, bin) = match &last.bin {
        Some(bytes) => (base64::engine::general_purpose::STANDARD.encode(bytes), true),
        None => (last.data.clone().unwrap_or_default(), false),
    };
    doc.insert("msg".into(), msg.into());
    doc.insert("bin".into(), bin.into());
    doc.insert("msg_from".into(), last.from.clone().into());
    doc.insert("msg_mid".into(), last.mid.clone().into());
    doc.insert("msg_timestamp".into(), last.ts.into());
    if let Some(patch_ts) = last.patch_ts {
        doc.insert("patch_timestamp".into(), patch_ts.into());
    }
    doc.insert("mention_all".into(), last.mention_all.into());
    doc.insert("mention_pids".into(), last.mention_pids.clone().into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_top_level_but_cannot_shadow_columns() {
        let record = ConvRecord {
            creator: "alice".into(),
            members: vec!["alice".into(), "bob".into()],
            attrs: r#"{"name":"chat","type":"private","objectId":"forged"}"#.into(),
            created_ms: 0,
            updated_ms: 1000,
            ..Default::default()
        };
        let doc = document("5f0000000000000000000001", &record, None);
        assert_eq!(doc["name"], "chat");
        assert_eq!(doc["type"], "private");
        assert_eq!(doc["objectId"], "5f0000000000000000000001");
        assert_eq!(doc["m"], json!(["alice", "bob"]));
        assert_eq!(doc["updatedAt"], "1970-01-01T00:00:01.000Z");
        assert!(!doc.contains_key("lm"));
        assert_eq!((doc["conv_type"].as_i64(), doc["unique"].as_bool()), (Some(1), Some(false)));
        assert!(!doc.contains_key("temp"));
        let temp = ConvRecord { temp: true, expires_ms: 5, unique_id: Some("u".into()), ..record.clone() };
        let temp_doc = document("_tmp:x", &temp, None);
        assert_eq!((temp_doc["conv_type"].as_i64(), temp_doc["temp"].as_bool()), (Some(4), Some(true)));
        assert!(!temp_doc.contains_key("unique") && !temp_doc.contains_key("uniqueId"));
        let last =
            MsgRecord { mid: "m1".into(), from: "bob".into(), ts: 5, bin: Some(vec![1, 2]), ..Default::default() };
        let mut doc = document("c", &record, Some(&last));
        assert_eq!(doc["lm"], json!({"__type": "Date", "iso": "1970-01-01T00:00:00.005Z"}));
        add_last_message(&mut doc, &last);
        assert_eq!((doc["msg"].as_str(), doc["bin"].as_bool()), (Some("AQI="), Some(true)));
    }
}
