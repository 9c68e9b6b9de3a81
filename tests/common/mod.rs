//! Helpers shared by the integration tests that run the real `odqa` binary.

#![allow(dead_code)]

pub mod sample;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the `odqa` binary with `args`.
pub fn odqa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_odqa"))
        .args(args)
        .output()
        .expect("run odqa")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts that `out` is a usage refusal: exit status 2 and every one of `words` on stderr.
pub fn assert_exit_2(out: &Output, words: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(words.iter().all(|w| err.contains(w)), "{words:?}: {err}");
}

/// A path as `&str` (test paths are UTF-8).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Writes `content` to `dir/name`.
pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Parses the JSON file at `path`.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Runs `odqa eval answers --data DATA --predictions PREDICTIONS EXTRA…`.
pub fn eval_answers(data: &Path, predictions: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["eval", "answers", "--data", path_str(data)];
    args.extend(["--predictions", path_str(predictions)]);
    args.extend(extra);
    odqa(&args)
}

/// Sends `signal` (`INT`, `TERM`) to `child`.
pub fn send_signal(child: &std::process::Child, signal: &str) {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} {}", child.id());
}

/// A child process killed when dropped, so a failing test leaves no server running.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines read from `lines` up to and including the first that starts with `prefix`; panics,
/// showing them, when the stream ends before one does.
pub fn lines_until(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    prefix: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    for line in lines {
        let line = line.expect("read a line of stderr");
        let found = line.starts_with(prefix);
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!("no line starting with {prefix:?}: {seen:?}");
}

/// `odqa read` of `data` with `model` into `out`, with the short windows the tiny fixtures are
/// read with (64 tokens, stride 16), plus `extra`.
pub fn read_short(model: &Path, data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "read",
        "--model",
        path_str(model),
        "--data",
        path_str(data),
        "--out",
        path_str(out),
        "--max-seq-len",
        "64",
        "--doc-stride",
        "16",
    ];
    args.extend(extra);
    odqa(&args)
}
