//! `conv/query`: the `where` condition and the `sort` string, parsed and evaluated against
//! conversation documents.
//!
//! Input: the `sort` string on the first line, the `where` JSON after it (the shape of the
//! seeds in `corpus/query_where`). The documents are a fixed set shaped like
//! `conv/query` results plus every object inside the condition itself, so the fuzzer
//! controls documents too.
//!
//! Checked: nothing panics; `matches` agrees with a parsed `Filter`; `compare_docs` is a
//! total order on the documents (antisymmetric and transitive), which the sort relies on.
#![no_main]

use std::cmp::Ordering;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use xinshi::query::{Filter, compare_docs, matches, parse_sort};

/// Most documents in all (fixed ones included), so one input stays cheap.
const MAX_DOCS: usize = 10;

fn fixed_docs() -> &'static [Value] {
    static DOCS: OnceLock<Vec<Value>> = OnceLock::new();
    DOCS.get_or_init(|| {
        vec![
            json!({
                "objectId": "5f3a9c2e8d1b4a0012345678", "c": "alice", "m": ["alice", "bob"], "mu": [],
                "tr": false, "unique": true, "uniqueId": "u-1", "name": "probe", "attr": {"a": {"b": 1}},
                "createdAt": "2026-11-25T21:19:25.576Z", "updatedAt": "2026-11-25T21:19:25.576Z",
                "lm": {"__type": "Date", "iso": "2026-11-25T21:20:00.000Z"},
            }),
            json!({
                "objectId": "5f3a9c2e8d1b4a0012345679", "c": "bob", "m": ["bob", "carol", "dave"], "mu": ["dave"],
                "tr": false, "unique": false, "name": "Group (3)", "level": 3, "tags": ["x", 2, null, true],
                "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-06-01T12:00:00Z",
            }),
            json!({
                "objectId": "c3", "c": "carol", "m": [], "mu": [], "tr": true, "sys": true, "unique": false,
                "name": null, "level": 2.5, "createdAt": "1970-01-01T00:00:00.000Z",
                "lm": "2024-02-29T23:59:59.999Z", "nested": {"deep": {"deeper": [1, 2, 3]}},
            }),
            json!({}),
        ]
    })
}

/// Every object inside `v` (itself included), depth first, at most `MAX_DOCS` of them.
fn objects_in<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    if out.len() >= MAX_DOCS {
        return;
    }
    match v {
        Value::Object(map) => {
            out.push(v);
            map.values().for_each(|v| objects_in(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| objects_in(v, out)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (sort, cond) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(cond) = serde_json::from_str::<Value>(cond) else { return };

    let mut docs: Vec<&Value> = fixed_docs().iter().collect();
    objects_in(&cond, &mut docs);

    match Filter::parse(&cond) {
        Ok(filter) => {
            let hits: Vec<bool> = docs.iter().map(|doc| filter.matches(doc)).collect();
            let last = docs.len() - 1;
            assert_eq!(matches(docs[last], &cond), Ok(hits[last]), "matches() disagrees with Filter::matches");
        }
        Err(err) => assert_eq!(matches(docs[0], &cond), Err(err), "matches() disagrees with Filter::parse"),
    }

    let keys = parse_sort(sort);
    let cmp = |a: &Value, b: &Value| compare_docs(a, b, &keys);
    for a in &docs {
        assert_eq!(cmp(a, a), Ordering::Equal, "a document must equal itself");
        for b in &docs {
            let ab = cmp(a, b);
            assert_eq!(ab, cmp(b, a).reverse(), "compare_docs is not antisymmetric");
            for c in &docs {
                if ab != Ordering::Greater && cmp(b, c) != Ordering::Greater {
                    assert_ne!(cmp(a, c), Ordering::Greater, "compare_docs is not transitive");
                }
            }
        }
    }
    let mut sorted = docs.clone();
    sorted.sort_by(|a, b| cmp(a, b));
});
