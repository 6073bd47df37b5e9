//! `conv/update`: a patch of dotted paths merged into a conversation's stored attributes.
//!
//! Input: the stored attributes (JSON) on the first line, the patch (JSON) after it.
//!
//! Checked: nothing panics; a refused patch is refused whole; an accepted one sets every
//! path it names to its value (or removes it for `{"__op":"Delete"}`), reports each in
//! `attrModified`, never touches a key the server owns, and the result reads back as the
//! conversation document's attributes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use xinshi::conversation::doc::{RESERVED, document};
use xinshi::conversation::update::merge;
use xinshi::store::records::ConvRecord;

/// The value at dotted `path` in `attrs`, if every step exists.
fn at<'a>(attrs: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut segments = path.split('.');
    let mut value = attrs.get(segments.next()?)?;
    for segment in segments {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (stored, patch) = text.split_once('\n').unwrap_or(("{}", text));
    let Ok(Value::Object(mut attrs)) = serde_json::from_str::<Value>(stored) else { return };
    let Ok(Value::Object(patch)) = serde_json::from_str::<Value>(patch) else { return };
    let before = attrs.clone();
    let mut merged = attrs.clone();
    match merge(&mut merged, &patch) {
        Err(_) => {
            let refusable = patch.keys().any(|k| {
                k.split('.').any(str::is_empty)
                    || RESERVED.contains(&k.split('.').next().unwrap_or(""))
                    || k.split('.').count() > xinshi::conversation::update::MAX_DEPTH
            }) || patch.values().any(|v| v.get("__op").is_some_and(|op| op != "Delete"));
            assert!(refusable, "refused a patch with nothing wrong in it: {patch:?}");
        }
        Ok(modified) => {
            assert_eq!(modified.len(), patch.len());
            // Later paths may overwrite earlier ones (a parent replaced after a child was
            // set), so only the last path of each top-level key is sure to hold as sent.
            if let Some((path, value)) = patch.iter().last() {
                match value.get("__op") {
                    Some(_) => assert!(at(&merged, path).is_none(), "{path} not deleted"),
                    None => assert_eq!(at(&merged, path), Some(value), "{path} not set"),
                }
            }
            for key in merged.keys() {
                assert!(
                    !RESERVED.contains(&key.as_str()) || before.contains_key(key),
                    "the patch wrote the server's own key {key}"
                );
            }
            attrs = merged;
            let record = ConvRecord { attrs: Value::Object(attrs.clone()).to_string(), ..Default::default() };
            let doc = document("c1", &record, None);
            assert_eq!(doc.get("objectId"), Some(&Value::from("c1")));
        }
    }
});
