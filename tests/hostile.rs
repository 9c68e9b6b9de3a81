//! Hostile inputs found by probing the release binary: each is refused up front with exit status 2
//! and a message naming what is wrong, instead of aborting, hanging, answering NaN or failing
//! halfway with status 1. (A module of `tests/cli.rs`.)

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{odqa, path_str, repo, stderr, write};

/// A writable copy of the fixture model `name` in `dir`.
fn model_copy(dir: &Path, name: &str) -> PathBuf {
    let model = dir.join(name);
    std::fs::create_dir(&model).unwrap();
    let fixture = repo().join("tests/fixtures/reader-parity").join(name);
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture.join(file), model.join(file)).unwrap();
    }
    model
}

/// Sets `key` of `model/config.json` to the JSON literal `value`.
fn set_config(model: &Path, key: &str, value: &str) {
    let path = model.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config[key] = serde_json::from_str(value).unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}

/// `odqa read --model MODEL` of the fixture questions into `dir/p.json`, with `extra` flags.
fn read(model: &Path, dir: &Path, extra: &[&str]) -> Output {
    let data = repo().join("tests/fixtures/read-cases.json");
    let out = dir.join("p.json");
    #[rustfmt::skip]
    let mut args = vec!["read", "--model", path_str(model), "--data", path_str(&data),
        "--out", path_str(&out), "--max-seq-len", "64", "--doc-stride", "16"];
    args.extend(extra);
    odqa(&args)
}

/// Asserts exit status 2, a message containing every one of `needles`, and no panic.
fn assert_refused(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "{needle:?} not in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn huge_config_sizes_exit_2_naming_config_json_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    // 1e12 layers aborted on a 5 PB allocation (status 134); 100 shared CNN blocks were read
    // (1e9 ran for ever).
    for (name, field, value) in [
        ("tiny-bert-qa", "num_hidden_layers", "1000000000000"),
        ("tiny-bert-qa", "hidden_size", "1099511627776"),
        ("tiny-bert-qa", "vocab_size", "1000000000000"),
        ("tiny-bert-cnn", "cnn_blocks", "100"),
    ] {
        let model = model_copy(dir.path(), name);
        set_config(&model, field, value);
        let out = read(&model, dir.path(), &[]);
        assert_refused(&out, &["config.json", &format!("{field} = {value}")]);
        std::fs::remove_dir_all(&model).unwrap();
    }
    assert!(!dir.path().join("p.json").exists());
}

#[test]
fn more_threads_than_the_limit_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo().join("tests/fixtures/reader-parity/tiny-bert-qa");
    // 100000 spawned threads for minutes; 5000 is past the limit too.
    let out = read(&model, dir.path(), &["--threads", "5000"]);
    assert_refused(&out, &["--threads 5000", "at most 1024"]);
    assert!(!dir.path().join("p.json").exists());
    // The pipeline commands parse it in one place (args.rs) before opening anything.
    let out = odqa(&[
        "ask",
        "--index",
        "nowhere",
        "--model",
        "nowhere",
        "--threads",
        "100000",
        "q",
    ]);
    assert_refused(&out, &["--threads", "100000", "at most 1024"]);
    // The limit itself is accepted.
    let out = read(&model, dir.path(), &["--threads", "1024"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_garbage_tokenizer_or_a_model_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy(dir.path(), "tiny-bert-qa");
    write(&model, "tokenizer.json", b"\xff\xfe\x00 not a tokenizer");
    let out = read(&model, dir.path(), &[]);
    assert_refused(&out, &["tokenizer.json", "not UTF-8"]);
    let file = model.join("config.json");
    let out = read(&file, dir.path(), &[]);
    assert_refused(&out, &["config.json: not a directory"]);
    assert!(!dir.path().join("p.json").exists());
}

#[test]
fn an_error_and_its_source_are_printed_once() {
    // ReaderError::Io prints "{path}: {source}" and returns the same I/O error as its source;
    // anyhow's chain printed "No such file or directory (os error 2)" twice.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("empty-model");
    std::fs::create_dir(&model).unwrap();
    let out = read(&model, dir.path(), &[]);
    assert_refused(&out, &["config.json: No such file or directory"]);
    let err = stderr(&out);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn nan_weights_exit_2_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_copy(dir.path(), "tiny-bert-qa");
    let path = model.join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    // The data of the checkpoint's first tensor (the header sorts them by name) starts right
    // after the header: its first element becomes NaN.
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let (name, info) = header
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, v)| v["data_offsets"][0] == 0)
        .unwrap();
    assert_eq!(info["dtype"], "F32");
    bytes[8 + header_len..12 + header_len].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let out = read(&model, dir.path(), &[]);
    assert_refused(
        &out,
        &["model.safetensors", &format!("tensor {name}"), "NaN"],
    );
    assert!(!dir.path().join("p.json").exists());
}

/// `odqa ARGS…` with arguments that need not be UTF-8.
fn odqa_os(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_odqa"))
        .args(args)
        .output()
        .expect("run odqa")
}

#[test]
fn non_utf8_paths_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read(repo().join("corpus/kowiki-sample-2k.jsonl")).unwrap();
    // A corpus file whose name is not UTF-8 (Latin-1 "é"): it exists and is valid, but the index
    // records corpus paths as text.
    let corpus = dir.path().join(OsStr::from_bytes(b"caf\xe9.jsonl"));
    std::fs::write(&corpus, sample).unwrap();
    let index = dir.path().join("index");
    let out = odqa_os(&[
        "index".as_ref(),
        "--corpus".as_ref(),
        corpus.as_os_str(),
        "--index".as_ref(),
        index.as_os_str(),
    ]);
    assert_refused(&out, &["not valid UTF-8", "caf\u{fffd}.jsonl"]);
    assert!(!index.exists());
    // train --out: refused before training (it left `.checkpoint-1.tmp` behind).
    let model = repo().join("tests/fixtures/reader-parity/tiny-bert-qa");
    let data = repo().join("tests/fixtures/read-cases.json");
    let out_dir = dir.path().join(OsStr::from_bytes(b"run\xff"));
    #[rustfmt::skip]
    let args: Vec<&OsStr> = vec![
        "train".as_ref(), "--model".as_ref(), model.as_os_str(), "--train".as_ref(),
        data.as_os_str(), "--out".as_ref(), out_dir.as_os_str(), "--max-steps".as_ref(),
        "1".as_ref(), "--max-seq-len".as_ref(), "64".as_ref(), "--doc-stride".as_ref(),
        "16".as_ref(), "--quiet".as_ref(),
    ];
    let out = odqa_os(&args);
    assert_refused(&out, &["not valid UTF-8", "run\u{fffd}"]);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the corpus file: {left:?}");
}
