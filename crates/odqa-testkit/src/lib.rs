//! Test support for odqa's property tests (`tests/fuzz.rs` of the crates that parse input).
//!
//! - [`config`]: the case count, 2,000 per target unless `PROPTEST_CASES` says otherwise
//!   (`scripts/fuzz-long.sh`, i.e. `PROPTEST_CASES=100000` in release, is the long run);
//! - [`temp_dir`]: a scratch directory in memory where the system has one (an index build syncs
//!   every file it writes);
//! - [`mutated`]: bytes of a valid seed file after a few random edits (JSON and TOML punctuation,
//!   invalid UTF-8, control characters, cuts), which reach far deeper into a parser than random
//!   bytes do;
//! - [`text`]: any Unicode text, with the shapes that break text code most often (Hangul and
//!   combining marks, controls, no spaces for thousands of characters, empty);
//! - [`dir_names`]: what a directory holds, sorted by name (what a run, a swap or a failure left).
//!
//! A failing case is printed, minimised, by proptest; it is then kept as a plain `#[test]` of the
//! crate (no `proptest-regressions` files are written).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError};

/// The names of the entries of `dir`, sorted; panics when it cannot be read.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the directory can be listed")
        .map(|e| {
            e.expect("its entries can be read")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Cases per target when `PROPTEST_CASES` is not set.
pub const DEFAULT_CASES: u32 = 2_000;

/// The proptest configuration of every target: `PROPTEST_CASES` or [`DEFAULT_CASES`] cases, no
/// failure persistence files.
pub fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The cases of a slow target (one index build per case) in the default run: [`DEFAULT_CASES`]
/// divided by `divisor`, at least 10. It reduces the default run only: proptest's macro applies
/// `PROPTEST_CASES` over any configuration, so a long run gives every target the cases it names.
pub fn config_reduced(divisor: u32) -> Config {
    let mut c = config();
    c.cases = (DEFAULT_CASES / divisor.max(1)).max(10);
    c
}

/// A fresh temporary directory (removed when the guard drops), under `/dev/shm` where that is a
/// writable directory (no disk syncs), else under the system's temporary directory.
pub fn temp_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let in_memory = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).ok())
        .flatten();
    in_memory.unwrap_or_else(|| tempfile::tempdir().expect("temporary directory"))
}

/// `bytes` written to a new file `name` in a fresh [`temp_dir`].
pub fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = temp_dir();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write the input file");
    (dir, path)
}

/// Fails the case unless the error message names `path`, as every reader's errors must.
pub fn names_file(message: &str, path: &Path) -> Result<(), TestCaseError> {
    let shown = path.display().to_string();
    prop_assert!(
        message.contains(&shown),
        "{message:?} does not name {shown}"
    );
    Ok(())
}

/// Byte strings that often break parsers when inserted anywhere.
const SPLICES: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"\n",
    b"\r\n",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"0.5",
    b"\"\"",
    b"=",
    b"#",
    b"'''",
    b"\x1b[31m",
    "\u{200b}".as_bytes(),
    "가".as_bytes(),
    "\u{0301}".as_bytes(),
];

/// One edit of a byte string; positions are taken modulo the current length.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Insert one of the splice strings.
    Splice(Index, Index),
    /// Insert arbitrary bytes.
    Insert(Index, Vec<u8>),
    /// Remove up to this many bytes.
    Delete(Index, usize),
    /// Cut the input here.
    Truncate(Index),
    /// Replace one byte.
    Set(Index, u8),
    /// Repeat a slice (up to this many bytes) a few times.
    Repeat(Index, usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<Index>(), any::<Index>()).prop_map(|(at, which)| Edit::Splice(at, which)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        2 => (any::<Index>(), 1usize..16).prop_map(|(at, n)| Edit::Delete(at, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Edit::Set(at, b)),
        1 => (any::<Index>(), 1usize..32, 2usize..50).prop_map(|(at, n, times)| Edit::Repeat(at, n, times)),
    ]
}

/// Applies `edits` to `bytes`.
pub fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = bytes.len();
        let at = |i: &Index| if len == 0 { 0 } else { i.index(len + 1) };
        match e {
            Edit::Splice(i, which) => {
                let splice = SPLICES[which.index(SPLICES.len())];
                let p = at(i);
                bytes.splice(p..p, splice.iter().copied());
            }
            Edit::Insert(i, more) => {
                let p = at(i);
                bytes.splice(p..p, more.iter().copied());
            }
            Edit::Delete(i, n) => {
                let p = at(i).min(len);
                bytes.drain(p..(p + n).min(len));
            }
            Edit::Truncate(i) => bytes.truncate(at(i)),
            Edit::Set(i, b) => {
                if len > 0 {
                    bytes[i.index(len)] = *b;
                }
            }
            Edit::Repeat(i, n, times) => {
                let p = at(i).min(len);
                let slice: Vec<u8> = bytes[p..(p + n).min(len)].to_vec();
                for _ in 0..*times {
                    bytes.splice(p..p, slice.iter().copied());
                }
            }
        }
    }
    bytes
}

/// One of `seeds` after 0 to 5 random edits (0 keeps the valid input in the mix).
pub fn mutated(seeds: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    (any::<Index>(), prop::collection::vec(edit(), 0..6))
        .prop_map(move |(which, edits)| apply(seeds[which.index(seeds.len())].to_vec(), &edits))
}

/// Any Unicode text, weighted towards what breaks text code: Hangul, Latin, digits, spaces and
/// punctuation mixed with combining marks, controls and zero-width characters; long runs without
/// a space; empty.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        4 => "[가-힣a-zA-Z0-9 .,?!()《》\"'\\-\u{0301}\u{200b}\u{0000}-\u{001f}\u{00a0}\u{3000}ﬁ①Ⅻ]{0,80}",
        1 => ("[가-힣a-z]", 1usize..5_000).prop_map(|(c, n)| c.repeat(n)),
        1 => Just(String::new()),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A reduced target runs `DEFAULT_CASES / 20` cases by default and exactly `PROPTEST_CASES`
    /// when that is set (the long run is not reduced).
    #[test]
    fn a_reduced_target_runs_the_cases_the_environment_names() {
        let run = Cell::new(0u32);
        proptest!(config_reduced(20), |(_x in any::<u8>())| {
            run.set(run.get() + 1);
        });
        let expected = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_CASES / 20);
        assert_eq!(run.get(), expected);
    }

    #[test]
    fn temp_files_hold_their_bytes_and_go_with_their_guard() {
        let (dir, path) = temp_file("x.json", b"{}");
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        let root = dir.path().to_path_buf();
        drop(dir);
        assert!(!root.exists());
    }
}
