//! An index built by one user is usable by others: opening it for search writes nothing (no lock
//! file), and its files get the umask's mode like any other file the user creates.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{build_index, BuildOptions, CancelToken, Retriever};

const CORPUS: &str = r#"{"id": "p1", "title": "서울", "text": "서울은 대한민국의 수도이다."}
{"id": "p2", "title": "도쿄", "text": "도쿄는 일본의 수도이다."}
{"id": "p3", "title": "서울 (동음이의)", "text": "서울은 대한민국의 수도이다."}
{"id": "p4", "title": "東京", "text": "도쿄는 일본의 수도이다."}
"#;

/// A tiny index of [`CORPUS`] in a fresh directory.
pub(crate) fn tiny_index() -> (tempfile::TempDir, PathBuf) {
    let dir = odqa_testkit::temp_dir();
    let index = index_of(dir.path(), CORPUS);
    (dir, index)
}

/// Writes `corpus` (JSONL) to `dir/c.jsonl` and builds (or rebuilds) `dir/idx` from it with one
/// thread and a small memory budget; returns the index directory.
pub(crate) fn index_of(dir: &Path, corpus: &str) -> PathBuf {
    let path = dir.join("c.jsonl");
    std::fs::write(&path, corpus).unwrap();
    let index = dir.join("idx");
    let opts = BuildOptions {
        threads: 1,
        memory_budget: 20 << 20,
        ..BuildOptions::default()
    };
    build_index(&[path], &index, &opts, &CancelToken::new()).unwrap();
    index
}

/// Every entry of `dir`: name, mode, modification time and content.
fn snapshot(dir: &Path) -> Vec<(String, u32, std::time::SystemTime, Vec<u8>)> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let meta = e.metadata().unwrap();
            let content = if meta.is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (
                e.file_name().to_string_lossy().into_owned(),
                meta.permissions().mode(),
                meta.modified().unwrap(),
                content,
            )
        })
        .collect();
    entries.sort();
    entries
}

/// tantivy's reader takes `.tantivy-meta.lock` (opened for writing, created when missing), which
/// fails for another user or on a read-only mount. A directory in its place makes that open fail
/// for root too (`EISDIR`), so the test sees what a read-only volume would.
#[test]
fn opening_for_search_takes_no_lock_and_writes_nothing() {
    let (_dir, index) = tiny_index();
    let lock = index.join(".tantivy-meta.lock");
    if lock.exists() {
        std::fs::remove_file(&lock).unwrap();
    }
    std::fs::create_dir(&lock).unwrap();
    let before = snapshot(&index);
    let retriever = Retriever::open(&index).unwrap();
    assert_eq!(retriever.search("대한민국의 수도", 2).unwrap()[0].id, "p1");
    assert_eq!(retriever.get("p3").unwrap().unwrap().id, "p3");
    drop(retriever);
    assert_eq!(
        snapshot(&index),
        before,
        "opening and searching changed the index directory"
    );
}

/// The index directory and every file in it get the mode a plain `create` gets under the
/// process's umask (not a temporary file's 0600 or a temporary directory's 0700).
#[test]
fn index_files_get_the_umask_mode() {
    let (dir, index) = tiny_index();
    let reference_file = dir.path().join("reference");
    std::fs::write(&reference_file, b"x").unwrap();
    let reference_dir = dir.path().join("reference-dir");
    std::fs::create_dir(&reference_dir).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&index), mode(&reference_dir), "{}", index.display());
    let mut files = 0;
    for entry in std::fs::read_dir(&index).unwrap().flatten() {
        if entry.file_type().unwrap().is_file() {
            files += 1;
            assert_eq!(
                mode(&entry.path()),
                mode(&reference_file),
                "{}",
                entry.path().display()
            );
        }
    }
    assert!(files >= 4, "{files} files");
}
