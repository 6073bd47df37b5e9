//! Evaluation of LeanCloud/Parse style `where` conditions and `sort`
//! strings against conversation documents kept as `serde_json::Value`.
//!
//! The SDKs describe conversation queries with a small subset of the
//! MongoDB query language. This module interprets that subset directly
//! against in-memory JSON documents; it never touches storage.
//!
//! * [`matches`] answers whether one document satisfies a condition.
//!   When the same condition is applied to many documents, parse it once
//!   with [`Filter::parse`] and call [`Filter::matches`] per document:
//!   the condition is then validated (and its regular expressions
//!   compiled) a single time, and errors never depend on the data.
//! * [`parse_sort`] turns an `order` string such as `"-lm,name"` into
//!   [`SortKey`]s and [`compare_docs`] orders two documents by them.
//!
//! Dates appear in two encodings: the Parse object
//! `{"__type":"Date","iso":"…"}` and a bare ISO-8601 string. Whenever a
//! Date object takes part in a comparison both sides are turned into a
//! point in time, so the encodings can be mixed freely in conditions.
//!
//! Every parse runs within a [`Budget`] (clauses, operands, nesting, regexes and their
//! compiled size, sort keys): a condition asking for more is refused with
//! [`QueryError::OverBudget`] before the work past the bound is done.
//!
//! Regular expressions written with the Java/PCRE `\Q…\E` quoting used by
//! the SDKs are translated for the Rust `regex` engine.

mod budget;
pub(crate) mod date;
mod matcher;
mod regex;
mod sort;

#[cfg(test)]
mod tests;

pub use budget::Budget;
pub use matcher::{Filter, QueryError, matches};
pub use sort::{SortKey, compare_docs, parse_sort, parse_sort_within};
