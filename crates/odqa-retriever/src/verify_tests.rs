use std::panic::{catch_unwind, AssertUnwindSafe};

use super::*;
use crate::sharing_tests::tiny_index;
use crate::Retriever;

/// A copy of the index `from` at `to`.
fn copy_index(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Flips the lowest bit of the byte at `at` of `path`.
fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 1;
    std::fs::write(path, bytes).unwrap();
}

/// The files of the index `dir` (not tantivy's empty lock files), by name.
fn index_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    names.sort();
    names
}

/// What `verify_index` makes of `dir`, a panic included.
fn outcome(dir: &Path) -> std::result::Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| verify_index(dir))) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("panicked".into()),
    }
}

/// A byte flipped in the middle of any file of an index (tantivy's `.store`, `.idx`, `.term`,
/// `.fieldnorm`, `.fast`, `meta.json`, `.managed.json`; odqa's `odqa-index.json`, `aliases.jsonl`)
/// is found by `verify_index`, which names the file.
#[test]
fn a_flipped_byte_in_any_index_file_is_named_by_verify() {
    let (tmp, index) = tiny_index();
    verify_index(&index).unwrap();
    let files = index_files(&index);
    for kind in [
        ".store",
        ".idx",
        ".term",
        ".fieldnorm",
        ".fast",
        "meta.json",
        ".managed.json",
    ] {
        assert!(
            files.iter().any(|f| f.ends_with(kind)),
            "no {kind} in {files:?}"
        );
    }
    let mut wrong = Vec::new();
    for (i, name) in files.iter().enumerate() {
        let copy = tmp.path().join(format!("copy-{i}"));
        copy_index(&index, &copy);
        let path = copy.join(name);
        flip(&path, std::fs::metadata(&path).unwrap().len() as usize / 2);
        match outcome(&copy) {
            Err(message) if message.contains(name.as_str()) => {}
            other => wrong.push(format!("{name}: {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "not named as damaged:\n{}",
        wrong.join("\n")
    );
}

/// `aliases.jsonl` cut at a line end (its last alias lost) is found too.
#[test]
fn a_truncated_alias_table_is_named_by_verify() {
    let (_tmp, index) = tiny_index();
    let path = index.join(crate::layout::ALIASES_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    std::fs::write(&path, format!("{}\n", lines[0])).unwrap();
    let err = outcome(&index).unwrap_err();
    assert!(err.contains("aliases.jsonl"), "{err}");
}

/// Whatever byte of the document store is flipped, `verify_index` names the store, and opening
/// the index is an error naming it too (its CRC32 no longer matches) or, for the few bytes of
/// tantivy's footer that hold no data, gives the very same hits; never a panic or an abort
/// (before: a 2.8 PB allocation aborted the process, other bytes made tantivy panic).
#[test]
fn a_damaged_document_store_is_named_never_a_panic() {
    let (tmp, index) = tiny_index();
    let store = index_files(&index)
        .into_iter()
        .find(|n| n.ends_with(".store"))
        .unwrap();
    let answers = |retriever: &Retriever| {
        let search = retriever.search("수도", 4).map_err(|e| e.to_string());
        let get = retriever.get("p4").map_err(|e| e.to_string());
        format!("search {search:?}; get {get:?}")
    };
    let intact = answers(&Retriever::open(&index).unwrap());
    let len = std::fs::metadata(index.join(&store)).unwrap().len() as usize;
    let mut wrong = Vec::new();
    for at in 0..len {
        let copy = tmp.path().join(format!("copy-{at}"));
        copy_index(&index, &copy);
        flip(&copy.join(&store), at);
        match outcome(&copy) {
            Err(message) if message.contains(&store) => {}
            other => wrong.push(format!("byte {at}: verify {other:?}")),
        }
        let run = catch_unwind(AssertUnwindSafe(|| match Retriever::open(&copy) {
            Err(e) => e.to_string(),
            Ok(retriever) => answers(&retriever),
        }));
        match run {
            Ok(message) if message.contains(&store) || message == intact => {}
            Ok(message) => wrong.push(format!("byte {at}: {message}")),
            Err(_) => wrong.push(format!("byte {at}: panicked")),
        }
        std::fs::remove_dir_all(&copy).unwrap();
    }
    assert!(
        wrong.is_empty(),
        "{} of {len} bytes:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
