//! Every repository path that the documentation and the scripts name exists: a README table's
//! "reproduce with `scripts/X.sh`", a config named in a usage line, a fixture's generator.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::repo;

/// Directories whose paths must exist when a document names them (`runs/`, `bench-out/` and
/// `../shared` are made by running things, so they are not checked).
const CHECKED: &[&str] = &[
    "configs/", "scripts/", "tests/", "corpus/", "docs/", "tools/", "crates/",
];

/// The documents and scripts to read: the READMEs and every script under `scripts/` and `tools/`.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.join("README.md"), root.join("configs/README.md")];
    let mut stack = vec![
        root.join("scripts"),
        root.join("tools"),
        root.join("tests/fixtures"),
    ];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".sh") || name.ends_with(".py") || name == "README.md" {
                out.push(path);
            }
        }
    }
    out
}

/// The repository paths named in `text`: a checked prefix at a word start, up to the first
/// character that cannot be in a path; trailing punctuation dropped; templates (`NAME`, `$X`,
/// `*`, a trailing `-` or `_`) skipped.
fn named_paths(text: &str) -> Vec<String> {
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    let mut out = Vec::new();
    for (i, _) in text.char_indices() {
        let starts_word = text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !is_path_char(c) && c != '$' && c != '}');
        if !starts_word || !CHECKED.iter().any(|p| text[i..].starts_with(p)) {
            continue;
        }
        let end = text[i..]
            .find(|c: char| !is_path_char(c))
            .map_or(text.len(), |e| i + e);
        let path = text[i..end].trim_end_matches(['.', ',', ':', ';']);
        let next = text[end..].chars().next();
        let template = path.contains("NAME")
            || path.ends_with('-')
            || path.ends_with('_')
            || matches!(next, Some('$' | '*' | '{' | '<'));
        if !template {
            out.push(path.to_string());
        }
    }
    out
}

#[test]
fn every_path_the_documents_name_exists() {
    let root = repo();
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in documents(&root) {
        let text = std::fs::read_to_string(&doc).unwrap();
        for path in named_paths(&text) {
            checked += 1;
            if !root.join(&path).exists() {
                missing.push(format!(
                    "{} names {path}",
                    doc.strip_prefix(&root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} paths found: is the scan broken?"
    );
    assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));
}

#[test]
fn the_scan_finds_paths_and_skips_templates() {
    assert_eq!(
        named_paths("see `scripts/bench.sh`, configs/a.toml. and runs/x"),
        ["scripts/bench.sh", "configs/a.toml"]
    );
    assert!(named_paths("configs/train-e5-small-NAME.toml configs/train-$X").is_empty());
    assert!(named_paths("myconfigs/a.toml $DIR/configs/b.toml").is_empty());
}
