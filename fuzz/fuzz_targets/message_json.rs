//! Typed-message JSON: the text of a `direct` (`{"_lctype":-1,"_lctext":"hi",…}` from the
//! SDKs, or anything a client sends), and the same text as a conversation's stored `attr`.
//!
//! Checked: nothing panics; `lctype` only reports a type the text really has; the text
//! survives the store's record encoding; a conversation document built on the text keeps
//! the server's own columns whatever the attributes say, and `where` conditions on it
//! evaluate.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use xinshi::conversation::direct::lctype;
use xinshi::conversation::doc::{RESERVED, add_last_message, document};
use xinshi::query::Filter;
use xinshi::store::records::{self, ConvRecord, MsgRecord};

fn filters() -> &'static [Filter] {
    static FILTERS: OnceLock<Vec<Filter>> = OnceLock::new();
    FILTERS.get_or_init(|| {
        [
            json!({"name": {"$regex": "^\\Qpro\\E", "$options": "i"}}),
            json!({"_lctype": {"$lt": 0}, "attr.a": {"$exists": true}}),
            json!({"$or": [{"m": "alice"}, {"level": {"$gte": 2}}], "lm": {"$gt": {"__type": "Date", "iso": "2020-01-01T00:00:00Z"}}}),
            json!({"tags": {"$all": ["x"], "$size": 2}, "objectId": {"$in": ["c1", "c2"]}}),
        ]
        .iter()
        .map(|cond| Filter::parse(cond).expect("the fixed conditions are valid"))
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    if let Some(kind) = lctype(text) {
        // An object with that key. (Not necessarily a `Value`: a number too large for an
        // f64, like `1e999`, fails `Value` but is JSON, and `JSON.parse` reads it.)
        let keys: HashMap<String, IgnoredAny> = serde_json::from_str(text).expect("a typed message is a JSON object");
        assert!(keys.contains_key("_lctype"), "lctype made up a type");
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            assert_eq!(value.get("_lctype").and_then(Value::as_i64), Some(i64::from(kind)), "lctype misread the type");
        }
    }

    let msg = MsgRecord {
        mid: "m1".into(),
        from: "alice".into(),
        ts: 1_795_641_565_576,
        data: Some(text.to_owned()),
        lctype: lctype(text),
        mention_pids: vec!["bob".into()],
        ..Default::default()
    };
    let stored: MsgRecord = records::decode(&records::encode(&msg)).expect("a record decodes");
    assert_eq!(stored, msg);

    let conv = ConvRecord {
        creator: "alice".into(),
        members: vec!["alice".into(), "bob".into()],
        attrs: text.to_owned(),
        created_ms: 1_795_641_565_000,
        updated_ms: 1_795_641_565_576,
        ..Default::default()
    };
    let mut doc = document("c1", &conv, Some(&msg));
    assert_eq!(doc.get("objectId"), Some(&json!("c1")));
    assert_eq!(doc.get("c"), Some(&json!("alice")));
    assert_eq!(doc.get("m"), Some(&json!(["alice", "bob"])));
    assert_eq!(doc.get("createdAt"), Some(&json!("2026-11-25T21:19:25.000Z")));
    for key in ["sys", "temp", "ttl", "msg", "msg_from"] {
        assert!(!doc.contains_key(key), "attribute {key} got past the reserved keys");
    }
    add_last_message(&mut doc, &msg);
    assert_eq!(doc.get("msg"), Some(&json!(text)));
    assert!(doc.keys().all(|k| !RESERVED.contains(&k.as_str()) || k != "sys"));
    let doc = Value::Object(doc);
    for filter in filters() {
        filter.matches(&doc);
    }
});
