//! `where` evaluation.
//!
//! A condition is first parsed into a [`Filter`] — a tree of field tests
//! joined by AND / OR — which rejects malformed input up front and
//! compiles regular expressions once. Evaluating the tree against a
//! document cannot fail.
//!
//! Comparison rules, shared by every operator:
//! * If either side is a Date object, both sides are read as instants
//!   (a Date object or an ISO string); if either does not parse, the
//!   comparison is false.
//! * Numbers compare as `f64`, strings by bytes. Other type pairs are
//!   equal only when they are deeply equal and never ordered.
//! * As in MongoDB, a field holding an array satisfies an equality or
//!   ordering test when the whole array or any of its elements does.

use ::regex::Regex;
use serde_json::{Map, Value};
use std::cmp::Ordering;

use super::budget::{Budget, Spent, check_depth};
use super::date::{date_millis, is_date_object};

/// Why a condition could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("invalid query condition: {0}")]
    BadCondition(String),
    #[error("invalid regular expression: {0}")]
    BadRegex(String),
    /// The condition asks for more work than the [`Budget`] allows.
    #[error("query over budget: {0}")]
    OverBudget(String),
}

/// Whether `doc` satisfies the `where` condition `cond`.
///
/// Parses `cond` on every call; use [`Filter`] to reuse a parsed condition.
pub fn matches(doc: &Value, cond: &Value) -> Result<bool, QueryError> {
    Ok(Filter::parse(cond)?.matches(doc))
}

/// A parsed, validated `where` condition. Every clause must hold.
#[derive(Debug, Clone)]
pub struct Filter {
    clauses: Vec<Clause>,
}

#[derive(Debug, Clone)]
enum Clause {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Field { path: Vec<String>, tests: Vec<Test> },
}

#[derive(Debug, Clone)]
enum Test {
    Eq(Value),
    Ne(Value),
    Order(Ordering, bool, Value), // wanted ordering of field vs operand; whether Equal also passes
    In(Vec<Value>),
    Nin(Vec<Value>),
    All(Vec<Value>),
    Size(usize),
    Exists(bool),
    Regex(Regex),
}

impl Filter {
    /// Parses and validates a `where` condition, which must be an object, within the
    /// default [`Budget`].
    pub fn parse(cond: &Value) -> Result<Self, QueryError> {
        Filter::parse_within(cond, &Budget::default())
    }

    /// Parses and validates a `where` condition within `budget`: the first bound passed
    /// stops the parse with [`QueryError::OverBudget`].
    pub fn parse_within(cond: &Value, budget: &Budget) -> Result<Self, QueryError> {
        Parser { budget, spent: Spent::default() }.filter(cond, 1)
    }

    /// Whether `doc` satisfies every clause.
    pub fn matches(&self, doc: &Value) -> bool {
        self.clauses.iter().all(|clause| match clause {
            Clause::And(filters) => filters.iter().all(|f| f.matches(doc)),
            Clause::Or(filters) => filters.iter().any(|f| f.matches(doc)),
            Clause::Field { path, tests } => {
                let field = lookup(doc, path);
                tests.iter().all(|t| t.accepts(field))
            }
        })
    }
}

fn bad(msg: String) -> QueryError {
    QueryError::BadCondition(msg)
}

/// One parse: the budget and what has been spent of it.
struct Parser<'b> {
    budget: &'b Budget,
    spent: Spent,
}

impl Parser<'_> {
    /// A condition object at nesting level `depth`.
    fn filter(&mut self, cond: &Value, depth: usize) -> Result<Filter, QueryError> {
        check_depth(self.budget, depth)?;
        let Value::Object(map) = cond else {
            return Err(bad(format!("a condition must be a JSON object, got {}", brief(&cond.to_string()))));
        };
        let mut clauses = Vec::with_capacity(map.len());
        for (key, value) in map {
            let clause = match key.as_str() {
                "$and" => Clause::And(self.list(key, value, depth)?),
                "$or" => Clause::Or(self.list(key, value, depth)?),
                op if op.starts_with('$') => return Err(bad(format!("unknown top-level operator `{}`", brief(op)))),
                path => Clause::Field {
                    path: path.split('.').map(str::to_owned).collect(),
                    tests: self.field(path, value)?,
                },
            };
            clauses.push(clause);
        }
        Ok(Filter { clauses })
    }

    /// The operand of `$and` / `$or`: a non-empty array of conditions, one level deeper.
    fn list(&mut self, op: &str, value: &Value, depth: usize) -> Result<Vec<Filter>, QueryError> {
        match value {
            Value::Array(items) if !items.is_empty() => {
                self.spent.clauses(self.budget, items.len())?;
                items.iter().map(|item| self.filter(item, depth + 1)).collect()
            }
            _ => Err(bad(format!("`{op}` needs a non-empty array of conditions"))),
        }
    }

    /// A field's condition: an operator object, or else a literal.
    fn field(&mut self, path: &str, cond: &Value) -> Result<Vec<Test>, QueryError> {
        match cond {
            Value::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => self.operators(path, ops),
            literal => {
                self.spent.clauses(self.budget, 1)?;
                Ok(vec![Test::Eq(literal.clone())])
            }
        }
    }

    fn operators(&mut self, path: &str, ops: &Map<String, Value>) -> Result<Vec<Test>, QueryError> {
        let path = brief(path);
        let mut tests = Vec::with_capacity(ops.len());
        for (op, arg) in ops {
            if op != "$options" {
                self.spent.clauses(self.budget, 1)?;
            }
            let test = match op.as_str() {
                "$eq" => Test::Eq(arg.clone()),
                "$ne" => Test::Ne(arg.clone()),
                "$lt" => Test::Order(Ordering::Less, false, arg.clone()),
                "$lte" => Test::Order(Ordering::Less, true, arg.clone()),
                "$gt" => Test::Order(Ordering::Greater, false, arg.clone()),
                "$gte" => Test::Order(Ordering::Greater, true, arg.clone()),
                "$in" => Test::In(self.array_arg(&path, op, arg)?),
                "$nin" => Test::Nin(self.array_arg(&path, op, arg)?),
                "$all" => Test::All(self.array_arg(&path, op, arg)?),
                "$size" => match arg.as_u64().and_then(|n| usize::try_from(n).ok()) {
                    Some(n) => Test::Size(n),
                    None => {
                        return Err(bad(format!("`$size` on `{path}` needs a non-negative integer")));
                    }
                },
                "$exists" => match arg {
                    Value::Bool(b) => Test::Exists(*b),
                    _ => return Err(bad(format!("`$exists` on `{path}` needs true or false"))),
                },
                "$regex" => {
                    let Some(pattern) = arg.as_str() else {
                        return Err(bad(format!("`$regex` on `{path}` needs a string")));
                    };
                    let options = match ops.get("$options") {
                        None => "",
                        Some(Value::String(s)) => s,
                        Some(_) => return Err(bad(format!("`$options` on `{path}` needs a string"))),
                    };
                    self.spent.regex(self.budget)?;
                    Test::Regex(super::regex::compile(pattern, options, self.budget)?)
                }
                "$options" if ops.contains_key("$regex") => continue,
                "$options" => return Err(bad(format!("`$options` on `{path}` without `$regex`"))),
                other if other.starts_with('$') => {
                    return Err(bad(format!("unknown operator `{}` on field `{path}`", brief(other))));
                }
                other => {
                    return Err(bad(format!("field `{path}` mixes operators with the plain key `{}`", brief(other))));
                }
            };
            tests.push(test);
        }
        Ok(tests)
    }

    fn array_arg(&mut self, path: &str, op: &str, arg: &Value) -> Result<Vec<Value>, QueryError> {
        match arg {
            Value::Array(items) => {
                self.spent.operands(self.budget, items.len())?;
                Ok(items.clone())
            }
            _ => Err(bad(format!("`{op}` on `{path}` needs an array"))),
        }
    }
}

/// `text` cut to at most 64 bytes (at a character boundary) with `…` when cut, so that an
/// error detail does not echo a huge key or pattern back.
pub(super) fn brief(text: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 64;
    if text.len() <= MAX {
        return text.into();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

impl Test {
    /// Applies the test to the field value (`None` when the field is missing).
    fn accepts(&self, field: Option<&Value>) -> bool {
        match self {
            Test::Eq(v) => field_equals(field, v),
            Test::Ne(v) => !field_equals(field, v),
            Test::Order(want, or_equal, operand) => {
                any_element(field, |v| compare(v, operand).is_some_and(|o| o == *want || (*or_equal && o.is_eq())))
            }
            Test::In(list) => list.iter().any(|v| field_equals(field, v)),
            Test::Nin(list) => !list.iter().any(|v| field_equals(field, v)),
            Test::All(list) => !list.is_empty() && list.iter().all(|v| field_equals(field, v)),
            Test::Size(n) => matches!(field, Some(Value::Array(items)) if items.len() == *n),
            Test::Exists(wanted) => field.is_some() == *wanted,
            Test::Regex(re) => any_element(field, |v| v.as_str().is_some_and(|s| re.is_match(s))),
        }
    }
}

/// Follows a dotted path through nested objects.
pub(super) fn lookup<'a, S: AsRef<str>>(doc: &'a Value, path: &[S]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, key| v.as_object()?.get(key.as_ref()))
}

/// True when `pred` holds for the field itself or, for an array field,
/// for any of its elements. A missing field never satisfies it.
fn any_element(field: Option<&Value>, pred: impl Fn(&Value) -> bool) -> bool {
    match field {
        None => false,
        Some(Value::Array(items)) => items.iter().any(&pred),
        Some(v) => pred(v),
    }
}

/// Mongo-style equality of a field with a literal. `null` also matches a
/// missing field.
fn field_equals(field: Option<&Value>, literal: &Value) -> bool {
    match field {
        None => literal.is_null(),
        Some(whole @ Value::Array(items)) => {
            values_equal(whole, literal) || items.iter().any(|item| values_equal(item, literal))
        }
        Some(v) => values_equal(v, literal),
    }
}

/// Deep equality with numbers as `f64`, object keys in any order and
/// Date objects compared as instants.
fn values_equal(a: &Value, b: &Value) -> bool {
    if is_date_object(a) || is_date_object(b) {
        return matches!((date_millis(a), date_millis(b)), (Some(x), Some(y)) if x == y);
    }
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| values_equal(p, q)))
        }
        _ => false,
    }
}

/// Ordering for `$lt`-style operators; `None` when the pair is not comparable.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    if is_date_object(a) || is_date_object(b) {
        return Some(date_millis(a)?.cmp(&date_millis(b)?));
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}
