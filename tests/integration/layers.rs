//! The import graph runs one way (docs/actors.md, "Imports"): gateway → session → node / cluster →
//! conversation → delivery / services / signature → store → kv, with the leaves below.
//! A module may name (`crate::x`) only modules at its own layer or below.

use std::path::Path;

/// Each top-level module's layer; higher may use lower, never the reverse.
const LAYERS: &[(&str, u8)] = &[
    ("main", 9),
    ("lib", 9),
    ("server", 8),
    ("gateway", 7),
    ("session", 6),
    ("node", 5),
    ("conversation", 4),
    ("delivery", 3),
    ("cluster", 5),
    ("services", 3),
    ("signature", 3),
    ("store", 2),
    ("query", 2),
    ("protocol", 1),
    ("config", 1),
    ("clock", 1),
    ("ids", 1),
    ("error", 1),
    ("pem", 1),
];

/// Leaves that use a helper one layer up, on purpose: a date formatter, the query budget
/// the configuration describes, and store errors turned into IM errors.
const ALLOWED: &[(&str, &str)] = &[("clock", "query"), ("config", "query"), ("error", "store")];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(name, _)| *name == module).map(|(_, layer)| *layer)
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn imports_run_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut wrong = Vec::new();
    for path in all {
        let relative = path.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let own = relative.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
        let mine = layer(&own).unwrap_or_else(|| panic!("src/{relative}: add its module to LAYERS"));
        for (n, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let used: String = line[at + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if let Some(theirs) = layer(&used)
                    && theirs > mine
                    && !ALLOWED.contains(&(own.as_str(), used.as_str()))
                {
                    wrong.push(format!("src/{relative}:{}: {own} uses {used}", n + 1));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "imports that reach up a layer:\n{}", wrong.join("\n"));
}
