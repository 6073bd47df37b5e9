//! `$regex` support: translating the Java/PCRE `\Q…\E` quoting sent by the
//! SDKs into syntax the Rust `regex` crate understands, and compiling the
//! result with the `$options` flags.
//!
//! Between `\Q` and the next `\E` (or the end of the pattern) every
//! character is literal, so that span is escaped. Everywhere else a
//! backslash and the character after it are copied as one unit, which
//! keeps `\\Q` an escaped backslash followed by `Q` rather than the start
//! of a quote. A stray `\E` with no open quote is dropped, as PCRE does.

use ::regex::{Regex, RegexBuilder};

use super::QueryError;
use super::budget::{Budget, over};
use super::matcher::brief;

/// Compiles a `$regex` pattern with its optional `$options` string. The compiled program
/// and the lazy DFA's cache are held to the budget's `regex_size_limit` and
/// `regex_dfa_size_limit`, so a hostile pattern (`\w{1000}`) costs at most that much memory
/// and (compiling is linear in the size) time; a pattern too big is over budget.
pub(super) fn compile(pattern: &str, options: &str, budget: &Budget) -> Result<Regex, QueryError> {
    let mut builder = RegexBuilder::new(&translate_quotes(pattern));
    builder.size_limit(budget.regex_size_limit).dfa_size_limit(budget.regex_dfa_size_limit);
    for flag in options.chars() {
        match flag {
            'i' => builder.case_insensitive(true),
            'm' => builder.multi_line(true),
            's' => builder.dot_matches_new_line(true),
            'x' => builder.ignore_whitespace(true),
            other => {
                return Err(QueryError::BadRegex(format!("unsupported $options flag `{other}` (allowed: i, m, s, x)")));
            }
        };
    }
    builder.build().map_err(|e| match e {
        ::regex::Error::CompiledTooBig(limit) => {
            over(format!("regular expression {:?} compiles to more than {limit} bytes", brief(pattern)))
        }
        e => QueryError::BadRegex(format!("pattern {:?}: {e}", brief(pattern))),
    })
}

/// Rewrites every `\Q…\E` span as escaped literal text.
pub(super) fn translate_quotes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(slash) = rest.find('\\') {
        out.push_str(&rest[..slash]);
        let after = &rest[slash + 1..];
        match after.chars().next() {
            Some('Q') => {
                let quoted = &after[1..];
                let (literal, tail) = match quoted.find("\\E") {
                    Some(end) => (&quoted[..end], &quoted[end + 2..]),
                    None => (quoted, ""),
                };
                push_literal(&mut out, literal);
                rest = tail;
            }
            Some('E') => rest = &after[1..],
            Some(c) => {
                out.push('\\');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
            None => {
                // A trailing lone backslash; let the regex compiler reject it.
                out.push('\\');
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Appends `text` so that it matches itself literally. Whitespace is
/// written as a hex escape so it stays significant under the `x` flag.
fn push_literal(out: &mut String, text: &str) {
    let mut run = 0;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            out.push_str(&::regex::escape(&text[run..i]));
            out.push_str(&format!("\\x{{{:X}}}", u32::from(c)));
            run = i + c.len_utf8();
        }
    }
    out.push_str(&::regex::escape(&text[run..]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(pattern: &str, options: &str) -> Result<Regex, QueryError> {
        super::compile(pattern, options, &Budget::default())
    }

    #[test]
    fn translation_escapes_only_the_quoted_span() {
        assert_eq!(translate_quotes(r"^\Qfoo.bar\E"), r"^foo\.bar");
        assert_eq!(translate_quotes(r"^\Qa+b"), r"^a\+b");
        assert_eq!(translate_quotes(r"\d+\Q(x)\E$"), r"\d+\(x\)$");
        assert_eq!(translate_quotes(r"a\\Qb"), r"a\\Qb");
        assert_eq!(translate_quotes(r"a\Eb"), "ab");
        assert_eq!(translate_quotes("\\Q好 a\\E"), "好\\x{20}a");
    }

    #[test]
    fn literal_backslash_e_inside_quote() {
        // Java's Pattern.quote("a\\Eb") is `\Qa\E\\E\Qb\E`.
        let re = compile(r"^\Qa\E\\E\Qb\E$", "").unwrap();
        assert!(re.is_match(r"a\Eb"));
        assert!(!re.is_match("aEb"));
    }

    #[test]
    fn quoted_whitespace_survives_verbose_mode() {
        let re = compile(r"^\Qa b\E$", "x").unwrap();
        assert!(re.is_match("a b"));
        assert!(!re.is_match("ab"));
    }

    #[test]
    fn flags_and_failures() {
        assert!(compile("^ABC$", "i").unwrap().is_match("abc"));
        assert!(compile("^b$", "m").unwrap().is_match("a\nb"));
        assert!(compile("a.b", "s").unwrap().is_match("a\nb"));
        assert!(matches!(compile("a", "g"), Err(QueryError::BadRegex(_))));
        assert!(matches!(compile("(", ""), Err(QueryError::BadRegex(_))));
        assert!(matches!(compile("a\\", ""), Err(QueryError::BadRegex(_))));
        // Valid syntax, but a program past the size limit: over budget.
        assert!(matches!(compile("a{1000}{1000}", ""), Err(QueryError::OverBudget(_))));
    }
}
