//! `--name value` flags, with typed getters and a check that no unknown flag was given.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

pub struct Args {
    values: BTreeMap<String, String>,
    used: RefCell<BTreeSet<String>>,
}

/// Prints `msg` and exits with status 2 (a usage error).
pub fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("loadtest: {msg}");
    std::process::exit(2)
}

impl Args {
    /// Parses `--name value` pairs; `--name` followed by another flag (or nothing) is `true`.
    pub fn parse(raw: &[String]) -> Args {
        let mut values = BTreeMap::new();
        let mut rest = raw.iter().peekable();
        while let Some(arg) = rest.next() {
            let Some(name) = arg.strip_prefix("--") else { fail(format!("unexpected argument {arg:?}")) };
            let value = match rest.peek() {
                Some(next) if !next.starts_with("--") => rest.next().unwrap().clone(),
                _ => "true".to_string(),
            };
            values.insert(name.to_string(), value);
        }
        Args { values, used: RefCell::default() }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.used.borrow_mut().insert(name.to_string());
        self.values.get(name).map(String::as_str)
    }

    pub fn get<T: FromStr>(&self, name: &str, default: T) -> T {
        match self.raw(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| fail(format!("--{name}: cannot read {v:?}"))),
        }
    }

    pub fn string(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or(default).to_string()
    }

    pub fn opt(&self, name: &str) -> Option<String> {
        self.raw(name).map(str::to_string)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.get(name, false)
    }

    /// A comma-separated list.
    pub fn list<T: FromStr + Clone>(&self, name: &str, default: &[T]) -> Vec<T> {
        match self.raw(name) {
            None => default.to_vec(),
            Some(v) => v
                .split(',')
                .map(|item| item.trim().parse().unwrap_or_else(|_| fail(format!("--{name}: cannot read {item:?}"))))
                .collect(),
        }
    }

    /// Exits if a flag was given that no getter asked for (a typo would otherwise be ignored).
    pub fn finish(&self) {
        let used = self.used.borrow();
        let unknown: Vec<_> = self.values.keys().filter(|k| !used.contains(*k)).collect();
        if !unknown.is_empty() {
            fail(format!("unknown flag(s): {unknown:?}"));
        }
    }
}
