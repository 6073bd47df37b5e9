//! `sort` / `order` strings and document ordering.
//!
//! `"-lm,name"` means: by `lm` descending, then by `name` ascending.
//!
//! Values of different kinds are ranked
//! `missing/null < numbers < strings and dates < bools < objects/arrays`,
//! so missing fields come first ascending and last descending. Objects
//! and arrays (other than dates) are all equal to each other; the caller
//! should use a stable sort to keep their original order.
//!
//! Dates share the string rank. Two Date objects compare by instant. A
//! Date object and a string compare as if the Date object were written
//! in the canonical form `YYYY-MM-DDTHH:MM:SS.sssZ`, which is the form the
//! server stores in `createdAt` / `updatedAt`, so such comparisons are by
//! time. Keeping dates in the byte order of that form (rather than
//! parsing arbitrary strings as times) makes the comparison a true total
//! order, which Rust's sort functions rely on.

use serde_json::Value;
use std::cmp::Ordering;

use super::QueryError;
use super::budget::{Budget, over};
use super::date::{date_millis, format_iso_millis, is_date_object};
use super::matcher::lookup;

/// One component of a sort specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// Dotted field path.
    pub path: String,
    pub descending: bool,
}

/// Parses `"-lm,name"` into keys; a leading `-` means descending.
/// Whitespace around parts is ignored, and so are empty parts.
pub fn parse_sort(s: &str) -> Vec<SortKey> {
    s.split(',')
        .filter_map(|part| {
            let part = part.trim();
            let (path, descending) = match part.strip_prefix('-') {
                Some(rest) => (rest.trim(), true),
                None => (part, false),
            };
            (!path.is_empty()).then(|| SortKey { path: path.to_owned(), descending })
        })
        .collect()
}

/// [`parse_sort`] within `budget`: more than `max_sort_keys` keys are over budget.
pub fn parse_sort_within(s: &str, budget: &Budget) -> Result<Vec<SortKey>, QueryError> {
    let keys = parse_sort(s);
    if keys.len() > budget.max_sort_keys {
        return Err(over(format!("more than {} sort keys", budget.max_sort_keys)));
    }
    Ok(keys)
}

/// Orders two documents by `keys`, the first differing key deciding.
pub fn compare_docs(a: &Value, b: &Value, keys: &[SortKey]) -> Ordering {
    keys.iter()
        .map(|key| {
            let path: Vec<&str> = key.path.split('.').collect();
            let ord = SortValue::of(lookup(a, &path)).compare(&SortValue::of(lookup(b, &path)));
            if key.descending { ord.reverse() } else { ord }
        })
        .find(|ord| ord.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// A field value reduced to what ordering needs.
enum SortValue<'a> {
    Null,
    Number(f64),
    Text(&'a str),
    Date(i64),
    Bool(bool),
    Other,
}

impl<'a> SortValue<'a> {
    fn of(v: Option<&'a Value>) -> Self {
        match v {
            None | Some(Value::Null) => SortValue::Null,
            Some(Value::Number(n)) => SortValue::Number(n.as_f64().unwrap_or(0.0)),
            Some(Value::String(s)) => SortValue::Text(s),
            Some(Value::Bool(b)) => SortValue::Bool(*b),
            Some(v) if is_date_object(v) => date_millis(v).map_or(SortValue::Other, SortValue::Date),
            Some(_) => SortValue::Other,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            SortValue::Null => 0,
            SortValue::Number(_) => 1,
            SortValue::Text(_) | SortValue::Date(_) => 2,
            SortValue::Bool(_) => 3,
            SortValue::Other => 4,
        }
    }

    fn compare(&self, other: &Self) -> Ordering {
        use SortValue::*;
        match (self, other) {
            (Number(x), Number(y)) => x.total_cmp(y),
            (Text(x), Text(y)) => x.as_bytes().cmp(y.as_bytes()),
            (Date(x), Date(y)) => x.cmp(y),
            (Date(x), Text(y)) => format_iso_millis(*x).as_bytes().cmp(y.as_bytes()),
            (Text(x), Date(y)) => x.as_bytes().cmp(format_iso_millis(*y).as_bytes()),
            (Bool(x), Bool(y)) => x.cmp(y),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sort_handles_signs_spaces_and_empty_parts() {
        let keys = parse_sort(" -lm , name,, ,- attr.type,-");
        let got: Vec<(&str, bool)> = keys.iter().map(|k| (k.path.as_str(), k.descending)).collect();
        assert_eq!(got, [("lm", true), ("name", false), ("attr.type", true)]);
        assert!(parse_sort("").is_empty());
    }
}
