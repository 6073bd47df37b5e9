//! How much work one `where` / `sort` may ask for.
//!
//! Parsing a condition compiles its regular expressions, and evaluating it costs about
//! (clauses + operands) per document, so a hostile condition can make the server spend
//! seconds and gigabytes (issue 9, point 1). [`Filter::parse_within`] counts as it parses
//! and stops with [`QueryError::OverBudget`] at the first bound passed, before the work
//! past it is done (the regex that would be one too many is not compiled).
//!
//! The defaults are generous for what the SDKs send: the JS SDK fetches conversations by
//! `{"objectId": {"$in": [up to 999 ids]}}`, asks `{"m": {"$all": [..]}}` and searches
//! names with one or two `$regex`es.
//!
//! [`Filter::parse_within`]: super::Filter::parse_within

use super::QueryError;

/// Bounds on one parsed condition and sort order. The `[query]` section of the
/// configuration carries the same fields (and takes its defaults from here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Most clauses: every field test (`"name": "x"` is one, `{"$gt": 1, "$lt": 5}` two) and
    /// every condition inside an `$and` / `$or` list.
    pub max_clauses: usize,
    /// Most operands in the lists of `$in`, `$nin` and `$all`, over the whole condition.
    pub max_operands: usize,
    /// Most levels of `$and` / `$or` (a condition without them has depth 1).
    pub max_depth: usize,
    /// Most `$regex` tests.
    pub max_regexes: usize,
    /// Most bytes one regex may compile to (`regex::RegexBuilder::size_limit`).
    pub regex_size_limit: usize,
    /// Most bytes of lazy-DFA cache one regex may use while matching
    /// (`regex::RegexBuilder::dfa_size_limit`); past it the engine falls back to slower
    /// search, it does not fail.
    pub regex_dfa_size_limit: usize,
    /// Most keys in a `sort` string.
    pub max_sort_keys: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_clauses: 200,
            max_operands: 2000,
            max_depth: 8,
            max_regexes: 16,
            regex_size_limit: 256 * 1024,
            regex_dfa_size_limit: 256 * 1024,
            max_sort_keys: 8,
        }
    }
}

/// What a condition has used so far while it is parsed.
#[derive(Debug, Default)]
pub(super) struct Spent {
    clauses: usize,
    operands: usize,
    regexes: usize,
}

impl Spent {
    /// Counts `n` more clauses.
    pub(super) fn clauses(&mut self, budget: &Budget, n: usize) -> Result<(), QueryError> {
        self.clauses = self.clauses.saturating_add(n);
        if self.clauses > budget.max_clauses {
            return Err(over(format!("more than {} clauses", budget.max_clauses)));
        }
        Ok(())
    }

    /// Counts `n` more list operands.
    pub(super) fn operands(&mut self, budget: &Budget, n: usize) -> Result<(), QueryError> {
        self.operands = self.operands.saturating_add(n);
        if self.operands > budget.max_operands {
            return Err(over(format!("more than {} operands of $in, $nin and $all", budget.max_operands)));
        }
        Ok(())
    }

    /// Counts one more regex; called before it is compiled.
    pub(super) fn regex(&mut self, budget: &Budget) -> Result<(), QueryError> {
        self.regexes += 1;
        if self.regexes > budget.max_regexes {
            return Err(over(format!("more than {} $regex tests", budget.max_regexes)));
        }
        Ok(())
    }
}

/// Checks the nesting level `depth` (1 for the top-level condition).
pub(super) fn check_depth(budget: &Budget, depth: usize) -> Result<(), QueryError> {
    if depth > budget.max_depth {
        return Err(over(format!("$and / $or nested more than {} levels deep", budget.max_depth)));
    }
    Ok(())
}

pub(super) fn over(what: String) -> QueryError {
    QueryError::OverBudget(what)
}
