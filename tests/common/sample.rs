//! The sample KorQuAD contexts indexed once per test binary, read by the tiny random fixture
//! reader (its answers are arbitrary but deterministic).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{odqa, path_str, repo, stderr};

/// The tiny random BERT QA fixture.
pub const TINY_QA: &str = "tests/fixtures/reader-parity/tiny-bert-qa";
/// The tiny model has 128 positions.
pub const WINDOW: [&str; 4] = ["--max-seq-len", "128", "--doc-stride", "32"];

/// The tiny reader's directory.
pub fn model() -> String {
    repo().join(TINY_QA).display().to_string()
}

/// The sample KorQuAD questions (SQuAD JSON).
pub fn questions() -> PathBuf {
    repo().join("corpus/korquad-sample.json")
}

/// The contexts of the sample KorQuAD questions, indexed once.
pub fn index() -> &'static Path {
    static INDEX: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = INDEX.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let index = index_into(&dir.path().join("index"));
        (dir, index)
    });
    path
}

/// The contexts of the sample KorQuAD questions indexed into `index`, a new index of its own.
pub fn index_into(index: &Path) -> PathBuf {
    let out = odqa(&[
        "index",
        "--corpus",
        path_str(&questions()),
        "--index",
        path_str(index),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    index.to_path_buf()
}

/// `odqa CMD --index I --model M --max-seq-len 128 --doc-stride 32 EXTRA…`.
pub fn run(cmd: &str, extra: &[&str]) -> std::process::Output {
    let model = model();
    let mut args = vec![cmd, "--index", path_str(index()), "--model", &model];
    args.extend(WINDOW);
    args.extend(extra);
    odqa(&args)
}
