//! Behaviour tests through the public API.

use serde_json::{Value, json};
use std::cmp::Ordering;

use super::*;

fn conv() -> Value {
    json!({
        "objectId": "5f0000000000000000000001",
        "m": ["alice", "bob"],
        "c": "alice",
        "name": "Team foo.bar",
        "attr": {"type": "private", "level": 3, "tags": ["a", "b"]},
        "tr": false,
        "sys": false,
        "lm": {"__type": "Date", "iso": "2026-11-25T10:00:00.000Z"},
        "createdAt": "2026-11-25T09:00:00.000Z",
        "updatedAt": "2026-11-25T09:30:00.000Z",
        "unique": true,
        "mu": [],
        "note": null,
        "count": 7
    })
}

fn check(cond: Value) -> bool {
    matches(&conv(), &cond).unwrap_or_else(|e| panic!("{cond}: {e}"))
}

fn date(iso: &str) -> Value {
    json!({"__type": "Date", "iso": iso})
}

#[test]
fn empty_condition_matches_everything() {
    assert!(check(json!({})));
    assert!(matches(&json!({}), &json!({})).unwrap());
}

#[test]
fn non_object_condition_is_rejected() {
    for cond in [json!([]), json!("m"), json!(null), json!(1)] {
        assert!(matches!(matches(&conv(), &cond), Err(QueryError::BadCondition(_))), "{cond}");
    }
    assert!(matches!(matches(&conv(), &json!({"$or": [1]})), Err(QueryError::BadCondition(_))));
}

#[test]
fn unknown_operators_are_named_in_the_error() {
    let err = matches(&conv(), &json!({"m": {"$near": 1}})).unwrap_err();
    assert!(matches!(&err, QueryError::BadCondition(msg) if msg.contains("$near")), "{err}");
    assert!(err.to_string().contains("$near"));
    let err = matches(&conv(), &json!({"$where": "1"})).unwrap_err();
    assert!(err.to_string().contains("$where"));
    // Errors do not depend on the data: a later clause is still validated.
    assert!(matches(&conv(), &json!({"c": "nobody", "m": {"$bogus": 1}})).is_err());
}

#[test]
fn malformed_operands_are_rejected() {
    for cond in [
        json!({"m": {"$in": "alice"}}),
        json!({"m": {"$nin": 1}}),
        json!({"m": {"$all": {}}}),
        json!({"m": {"$size": -1}}),
        json!({"m": {"$size": 1.5}}),
        json!({"m": {"$exists": 1}}),
        json!({"name": {"$regex": 1}}),
        json!({"name": {"$options": "i"}}),
        json!({"name": {"$regex": "a", "$options": 1}}),
        json!({"name": {"$eq": "a", "plain": 1}}),
        json!({"$and": []}),
        json!({"$or": {}}),
    ] {
        assert!(matches!(matches(&conv(), &cond), Err(QueryError::BadCondition(_))), "{cond}");
    }
}

#[test]
fn literal_equality_and_eq() {
    assert!(check(json!({"c": "alice"})));
    assert!(!check(json!({"c": "bob"})));
    assert!(check(json!({"c": {"$eq": "alice"}})));
    assert!(check(json!({"tr": false, "unique": true})));
    assert!(check(json!({"count": 7.0})));
    assert!(!check(json!({"count": "7"})));
    assert!(check(json!({"attr": {"level": 3, "type": "private", "tags": ["a", "b"]}})));
    assert!(!check(json!({"attr": {"type": "private"}})));
    assert!(!check(json!({"missing": "x"})));
    assert!(!check(json!({"missing": false})));
}

#[test]
fn null_literal_matches_missing_or_null() {
    assert!(check(json!({"missing": null})));
    assert!(check(json!({"note": null})));
    assert!(!check(json!({"c": null})));
    assert!(check(json!({"c": {"$ne": null}})));
    assert!(!check(json!({"note": {"$ne": null}})));
}

#[test]
fn dotted_paths_walk_nested_objects() {
    assert!(check(json!({"attr.type": "private"})));
    assert!(check(json!({"attr.level": {"$gte": 3}})));
    assert!(check(json!({"attr.tags": "b"})));
    assert!(!check(json!({"attr.type.deeper": "private"})));
    assert!(check(json!({"attr.nope": {"$exists": false}})));
    assert!(!check(json!({"c.length": {"$exists": true}})));
}

#[test]
fn array_equality_follows_mongo() {
    assert!(check(json!({"m": "alice"})));
    assert!(check(json!({"m": "bob"})));
    assert!(!check(json!({"m": "carol"})));
    assert!(check(json!({"m": ["alice", "bob"]})));
    assert!(!check(json!({"m": ["bob", "alice"]})));
    assert!(!check(json!({"m": ["alice"]})));
    assert!(check(json!({"mu": []})));
}

#[test]
fn ne_operator() {
    assert!(check(json!({"c": {"$ne": "bob"}})));
    assert!(!check(json!({"c": {"$ne": "alice"}})));
    assert!(check(json!({"missing": {"$ne": "x"}})));
    assert!(check(json!({"m": {"$ne": "carol"}})));
    assert!(!check(json!({"m": {"$ne": "alice"}})));
    assert!(check(json!({"tr": {"$ne": true}})));
}

#[test]
fn ordering_operators() {
    assert!(check(json!({"count": {"$gt": 6}})));
    assert!(!check(json!({"count": {"$gt": 7}})));
    assert!(check(json!({"count": {"$gte": 7}})));
    assert!(check(json!({"count": {"$lt": 7.5}})));
    assert!(!check(json!({"count": {"$lt": 7}})));
    assert!(check(json!({"count": {"$lte": 7, "$gt": 1}})));
    assert!(!check(json!({"count": {"$lte": 7, "$gt": 7}})));
    assert!(check(json!({"c": {"$gt": "a", "$lt": "b"}})));
    assert!(check(json!({"c": {"$gte": "alice", "$lte": "alice"}})));
    assert!(check(json!({"m": {"$gt": "b"}})), "any array element may satisfy it");
    assert!(!check(json!({"m": {"$gt": "c"}})));
    // Type mismatches and missing fields never satisfy an ordering.
    assert!(!check(json!({"count": {"$gt": "1"}})));
    assert!(!check(json!({"c": {"$lt": 10}})));
    assert!(!check(json!({"tr": {"$lt": true}})));
    assert!(!check(json!({"missing": {"$lt": 10}})));
    assert!(!check(json!({"missing": {"$gt": null}})));
}

#[test]
fn in_and_nin() {
    assert!(check(json!({"c": {"$in": ["bob", "alice"]}})));
    assert!(!check(json!({"c": {"$in": ["bob"]}})));
    assert!(!check(json!({"c": {"$in": []}})));
    assert!(check(json!({"m": {"$in": ["carol", "bob"]}})));
    assert!(!check(json!({"m": {"$in": ["carol"]}})));
    assert!(check(json!({"missing": {"$in": [null]}})));
    assert!(check(json!({"c": {"$nin": ["bob"]}})));
    assert!(!check(json!({"c": {"$nin": ["alice"]}})));
    assert!(!check(json!({"m": {"$nin": ["bob"]}})));
    assert!(check(json!({"missing": {"$nin": ["x"]}})));
    assert!(check(json!({"count": {"$in": [7.0]}})));
}

#[test]
fn all_and_size() {
    assert!(check(json!({"m": {"$all": ["bob", "alice"]}})));
    assert!(check(json!({"m": {"$all": ["bob"]}})));
    assert!(!check(json!({"m": {"$all": ["bob", "carol"]}})));
    assert!(!check(json!({"m": {"$all": []}})));
    assert!(!check(json!({"missing": {"$all": ["x"]}})));
    assert!(check(json!({"m": {"$size": 2}})));
    assert!(!check(json!({"m": {"$size": 3}})));
    assert!(check(json!({"mu": {"$size": 0}})));
    assert!(!check(json!({"c": {"$size": 5}})));
    assert!(!check(json!({"missing": {"$size": 0}})));
    assert!(check(json!({"m": {"$all": ["alice"], "$size": 2}})));
}

#[test]
fn exists() {
    assert!(check(json!({"c": {"$exists": true}})));
    assert!(!check(json!({"c": {"$exists": false}})));
    assert!(check(json!({"missing": {"$exists": false}})));
    assert!(!check(json!({"missing": {"$exists": true}})));
    assert!(check(json!({"note": {"$exists": true}})), "a stored null counts as present");
    assert!(check(json!({"tr": {"$exists": true}})));
}

#[test]
fn and_or_nesting() {
    assert!(check(json!({"$or": [{"c": "bob"}, {"m": "alice"}]})));
    assert!(!check(json!({"$or": [{"c": "bob"}, {"m": "carol"}]})));
    assert!(check(json!({"$and": [{"c": "alice"}, {"m": "bob"}]})));
    assert!(!check(json!({"$and": [{"c": "alice"}, {"m": "carol"}]})));
    assert!(check(json!({
        "tr": false,
        "$or": [
            {"$and": [{"c": "bob"}, {"sys": false}]},
            {"$and": [{"m": {"$all": ["alice", "bob"]}}, {"$or": [{"unique": true}, {"x": 1}]}]}
        ]
    })));
    // Top-level keys are ANDed with $or.
    assert!(!check(json!({"tr": true, "$or": [{"c": "alice"}]})));
}

#[test]
fn dates_in_both_encodings() {
    // lm is stored as a Date object; conditions may use either form.
    assert!(check(json!({"lm": date("2026-11-25T10:00:00.000Z")})));
    assert!(check(json!({"lm": date("2026-11-25T18:00:00+08:00")})));
    assert!(check(json!({"lm": "2026-11-25T10:00:00Z"})));
    assert!(check(json!({"lm": {"$gt": date("2026-11-25T09:59:59.999Z")}})));
    assert!(!check(json!({"lm": {"$gt": date("2026-11-25T10:00:00.000Z")}})));
    assert!(check(json!({"lm": {"$gte": "2026-11-25T10:00:00.000Z"}})));
    assert!(check(json!({"lm": {"$lt": date("2026-11-25T10:00:00.001Z")}})));
    assert!(check(json!({"lm": {"$in": [date("2026-11-25T10:00:00Z")]}})));
    assert!(check(json!({"lm": {"$ne": date("2026-11-25T11:00:00Z")}})));
    // createdAt is stored as a string; compare it against Date objects.
    assert!(check(json!({"createdAt": {"$lt": date("2026-11-25T09:00:00.001Z")}})));
    assert!(check(json!({"createdAt": {"$gte": date("2026-11-25T17:00:00+08:00")}})));
    assert!(check(json!({"createdAt": date("2026-11-25T09:00:00Z")})));
    assert!(check(json!({
        "createdAt": {"$gt": date("2026-11-25T08:00:00Z")},
        "updatedAt": {"$lte": date("2026-11-25T09:30:00Z")}
    })));
    // Unparsable dates never match, and are not errors.
    assert!(!check(json!({"lm": {"$gt": date("not a date")}})));
    assert!(!check(json!({"lm": {"$lt": date("not a date")}})));
    assert!(!check(json!({"lm": date("2026-13-45")})));
    assert!(!check(json!({"lm": {"$gt": {"__type": "Date"}}})));
    assert!(!check(json!({"c": {"$lt": date("2026-11-25T08:00:00Z")}})));
    assert!(!check(json!({"count": {"$lt": date("2026-11-25T08:00:00Z")}})));
}

#[test]
fn regex_basics_and_options() {
    assert!(check(json!({"name": {"$regex": "^Team"}})));
    assert!(!check(json!({"name": {"$regex": "^team"}})));
    assert!(check(json!({"name": {"$regex": "^team", "$options": "i"}})));
    assert!(check(json!({"m": {"$regex": "^bo"}})), "any string element of an array");
    assert!(!check(json!({"m": {"$regex": "^car"}})));
    assert!(!check(json!({"count": {"$regex": "7"}})));
    assert!(!check(json!({"missing": {"$regex": ".*"}})));
}

#[test]
fn regex_quote_translation() {
    // `\Qfoo.bar\E`: the dot is literal.
    assert!(check(json!({"name": {"$regex": r"\Qfoo.bar\E$"}})));
    assert!(!check(json!({"name": {"$regex": r"\Qfoo.baz\E"}})));
    let doc = json!({"name": "fooXbar"});
    assert!(matches(&doc, &json!({"name": {"$regex": "^foo.bar"}})).unwrap());
    assert!(!matches(&doc, &json!({"name": {"$regex": r"^\Qfoo.bar\E"}})).unwrap());
    // Prefix search as sent by the SDKs, with a literal `\E` in the text.
    let doc = json!({"name": r"a\Eb.c and more"});
    assert!(matches(&doc, &json!({"name": {"$regex": r"^\Qa\E\\E\Qb.c\E"}})).unwrap());
    assert!(!matches(&doc, &json!({"name": {"$regex": r"^\Qa\E\\E\Qbxc\E"}})).unwrap());
    // An unterminated quote runs to the end of the pattern.
    assert!(matches(&doc, &json!({"name": {"$regex": r"^\Qa\"}})).unwrap());
    // Combined with options.
    assert!(check(json!({"name": {"$regex": r"^\QTEAM FOO.\E", "$options": "i"}})));
}

#[test]
fn regex_errors() {
    let err = matches(&conv(), &json!({"name": {"$regex": "("}})).unwrap_err();
    assert!(matches!(err, QueryError::BadRegex(_)));
    assert!(err.to_string().starts_with("invalid regular expression"));
    let err = matches(&conv(), &json!({"name": {"$regex": "a", "$options": "ig"}})).unwrap_err();
    assert!(matches!(&err, QueryError::BadRegex(msg) if msg.contains('g')), "{err}");
}

#[test]
fn filter_can_be_reused() {
    let filter = Filter::parse(&json!({"m": "alice", "tr": {"$ne": true}})).unwrap();
    assert!(filter.matches(&conv()));
    assert!(!filter.matches(&json!({"m": ["bob"]})));
    assert!(filter.matches(&json!({"m": ["alice"]})));
}

fn sorted(mut docs: Vec<Value>, order: &str) -> Vec<Value> {
    let keys = parse_sort(order);
    docs.sort_by(|a, b| compare_docs(a, b, &keys));
    docs.into_iter().map(|d| d["id"].clone()).collect()
}

#[test]
fn sort_by_date_descending_with_missing_last() {
    let docs = vec![
        json!({"id": 1, "lm": date("2026-11-25T10:00:00.000Z")}),
        json!({"id": 2}),
        json!({"id": 3, "lm": date("2026-11-26T10:00:00.000Z")}),
        json!({"id": 4, "lm": date("2026-11-25T19:00:00+08:00")}), // 11:00Z
        json!({"id": 5, "lm": null}),
    ];
    assert_eq!(sorted(docs.clone(), "-lm"), [json!(3), json!(4), json!(1), json!(2), json!(5)]);
    assert_eq!(sorted(docs, "lm"), [json!(2), json!(5), json!(1), json!(4), json!(3)]);
}

#[test]
fn sort_by_several_keys() {
    let docs = vec![
        json!({"id": 1, "attr": {"rank": 2}, "name": "b"}),
        json!({"id": 2, "attr": {"rank": 1}, "name": "z"}),
        json!({"id": 3, "attr": {"rank": 2}, "name": "a"}),
        json!({"id": 4, "name": "m"}),
    ];
    assert_eq!(sorted(docs.clone(), "-attr.rank, name"), [json!(3), json!(1), json!(2), json!(4)]);
    assert_eq!(sorted(docs.clone(), "attr.rank,-name"), [json!(4), json!(2), json!(1), json!(3)]);
    assert_eq!(sorted(docs, ""), [json!(1), json!(2), json!(3), json!(4)]);
}

#[test]
fn sort_mixed_types_and_date_strings() {
    let docs = vec![
        json!({"id": 1, "v": {"k": 1}}),
        json!({"id": 2, "v": true}),
        json!({"id": 3, "v": "b"}),
        json!({"id": 4, "v": 10}),
        json!({"id": 5, "v": 9.5}),
        json!({"id": 6}),
        json!({"id": 7, "v": "B"}),
    ];
    assert_eq!(sorted(docs, "v"), [json!(6), json!(5), json!(4), json!(7), json!(3), json!(2), json!(1)]);

    // A Date object and canonical ISO strings interleave by time.
    let docs = vec![
        json!({"id": 1, "t": "2026-11-25T11:00:00.000Z"}),
        json!({"id": 2, "t": date("2026-11-25T10:30:00Z")}),
        json!({"id": 3, "t": "2026-11-25T10:00:00.000Z"}),
    ];
    assert_eq!(sorted(docs, "t"), [json!(3), json!(2), json!(1)]);
}

#[test]
fn compare_docs_direct() {
    let a = json!({"n": 1});
    let b = json!({"n": 2});
    let asc = parse_sort("n");
    let desc = parse_sort("-n");
    assert_eq!(compare_docs(&a, &b, &asc), Ordering::Less);
    assert_eq!(compare_docs(&a, &b, &desc), Ordering::Greater);
    assert_eq!(compare_docs(&a, &a, &desc), Ordering::Equal);
    assert_eq!(compare_docs(&a, &b, &[]), Ordering::Equal);
    assert_eq!(compare_docs(&json!({}), &a, &asc), Ordering::Less);
    assert_eq!(compare_docs(&json!({}), &a, &desc), Ordering::Greater);
}

// Budgets (issue 9, point 1): every bound lets its maximum through and refuses one more.

fn within(cond: &Value, budget: &Budget) -> Result<Filter, QueryError> {
    Filter::parse_within(cond, budget)
}

fn over_budget(result: Result<Filter, QueryError>, what: &str) {
    match result {
        Err(QueryError::OverBudget(msg)) => assert!(msg.contains(what), "{msg:?} should name {what:?}"),
        other => panic!("expected over budget ({what}), got {other:?}"),
    }
}

#[test]
fn budget_bounds_clauses() {
    let budget = Budget { max_clauses: 4, ..Budget::default() };
    let fields = |n: usize| Value::Object((0..n).map(|i| (format!("f{i}"), json!(i))).collect());
    assert!(within(&fields(4), &budget).is_ok());
    over_budget(within(&fields(5), &budget), "more than 4 clauses");
    // Each operator is a clause, `$options` is part of its `$regex`.
    assert!(within(&json!({"a": {"$gt": 1, "$lt": 5}, "b": {"$regex": "x", "$options": "i"}}), &budget).is_ok());
    over_budget(within(&json!({"a": {"$gt": 1, "$lt": 5, "$ne": 3}, "b": 1, "c": 2}), &budget), "clauses");
    // So is every entry of an `$or` / `$and`, with what is inside it.
    assert!(within(&json!({"$or": [{"a": 1}, {"b": 2}]}), &budget).is_ok());
    over_budget(within(&json!({"$or": [{"a": 1}, {"b": 2}, {"c": 3}]}), &budget), "clauses");
}

#[test]
fn budget_bounds_operands() {
    let budget = Budget { max_operands: 10, ..Budget::default() };
    let ids = |n: usize| (0..n).map(|i| json!(format!("id{i}"))).collect::<Vec<_>>();
    assert!(within(&json!({"objectId": {"$in": ids(10)}}), &budget).is_ok());
    over_budget(within(&json!({"objectId": {"$in": ids(11)}}), &budget), "more than 10 operands");
    // Summed over `$in`, `$nin` and `$all` everywhere in the condition.
    let split = json!({"m": {"$all": ids(4)}, "$or": [{"objectId": {"$nin": ids(4)}}, {"c": {"$in": ids(3)}}]});
    over_budget(within(&split, &budget), "operands");
}

#[test]
fn budget_bounds_nesting() {
    let budget = Budget { max_depth: 3, ..Budget::default() };
    let nested = |levels: usize| (0..levels).fold(json!({"a": 1}), |inner, _| json!({"$and": [inner]}));
    // A condition without $and / $or is depth 1; each level adds one.
    assert!(within(&nested(2), &budget).is_ok());
    over_budget(within(&nested(3), &budget), "nested more than 3 levels");
    // Deep nesting is refused, not a stack overflow (serde_json itself stops at 128).
    over_budget(Filter::parse(&nested(60)), "nested");
}

#[test]
fn budget_bounds_regex_count_before_compiling() {
    let budget = Budget { max_regexes: 2, ..Budget::default() };
    let regexes =
        |patterns: &[&str]| json!({"$or": patterns.iter().map(|p| json!({"name": {"$regex": p}})).collect::<Vec<_>>()});
    assert!(within(&regexes(&["^a", "b$"]), &budget).is_ok());
    over_budget(within(&regexes(&["^a", "b$", "c"]), &budget), "more than 2 $regex");
    // The one too many is refused before it is compiled: its syntax error is never seen.
    over_budget(within(&regexes(&["^a", "b$", "("]), &budget), "$regex");
}

#[test]
fn budget_bounds_compiled_regex_size() {
    // Unicode `\w` repeated compiles to about a megabyte: over the default.
    over_budget(Filter::parse(&json!({"name": {"$regex": r"\w{20}"}})), "compiles to more than");
    assert!(Filter::parse(&json!({"name": {"$regex": r"\w+"}})).is_ok());
    let small = Budget { regex_size_limit: 4096, ..Budget::default() };
    assert!(within(&json!({"name": {"$regex": "^team"}}), &small).is_ok());
    over_budget(within(&json!({"name": {"$regex": r"\w"}}), &small), "more than 4096 bytes");
    // The detail quotes a long pattern only in part.
    let long = format!("{}\\w{{50}}", "a".repeat(1000));
    let err = Filter::parse(&json!({"name": {"$regex": long}})).unwrap_err().to_string();
    assert!(err.len() < 300 && err.contains('…'), "{err}");
}

#[test]
fn tiny_dfa_cache_still_matches() {
    // Past `regex_dfa_size_limit` the engine searches more slowly, it does not fail.
    let budget = Budget { regex_dfa_size_limit: 1, ..Budget::default() };
    let filter = within(&json!({"name": {"$regex": r"^\w+ foo\.bar$"}}), &budget).unwrap();
    assert!(filter.matches(&conv()));
    assert!(!filter.matches(&json!({"name": "Team foo-bar"})));
}

#[test]
fn budget_bounds_sort_keys() {
    let budget = Budget { max_sort_keys: 3, ..Budget::default() };
    assert_eq!(parse_sort_within("-lm,name,c", &budget).unwrap().len(), 3);
    let err = parse_sort_within("-lm,name,c,updatedAt", &budget).unwrap_err();
    assert!(matches!(&err, QueryError::OverBudget(msg) if msg.contains("more than 3 sort keys")), "{err}");
}

#[test]
fn sdk_queries_fit_the_default_budget() {
    // The JS SDK fetches unknown conversations by id, up to 999 at a time.
    let ids: Vec<String> = (0..999).map(|i| format!("{i:024x}")).collect();
    assert!(Filter::parse(&json!({"objectId": {"$in": ids}})).is_ok());
    // Conversations with exactly these members; a member cap's worth of them.
    let members: Vec<String> = (0..500).map(|i| format!("client{i}")).collect();
    assert!(Filter::parse(&json!({"m": {"$all": members}, "m.size": {"$exists": false}})).is_ok());
    // Name searches, as `Query.contains` / `startsWith` write them, combined with or/and.
    let cond = json!({"$and": [
        {"$or": [
            {"name": {"$regex": r"^\QTeam (1)\E", "$options": "i"}},
            {"name": {"$regex": r".*\Qfoo.bar\E.*"}},
            {"topic": {"$regex": r"[\p{Han}\w]+"}}
        ]},
        {"m": "alice", "tr": {"$ne": true}, "lm": {"$gt": {"__type": "Date", "iso": "2026-01-01T00:00:00.000Z"}}}
    ]});
    assert!(Filter::parse(&cond).unwrap().matches(&conv()));
    assert!(parse_sort_within("-lm,-updatedAt,name", &Budget::default()).is_ok());
}
