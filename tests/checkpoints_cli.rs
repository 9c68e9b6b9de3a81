//! The checkpoint families Korean users load, through the real binary: an ELECTRA with a
//! `vocab.txt`-only tokenizer (KoELECTRA-like) and a klue/roberta-like RoBERTa with a WordPiece
//! `vocab.txt`, one token type and only `pytorch_model.bin` (fixtures in
//! `tests/fixtures/reader-parity`). Each trains a few steps with its loss falling, saves with
//! transformers' names and its own tokenizer files, and reads back; `odqa model convert` gives
//! the same answers from safetensors; bad files are refused with exit 2 naming them.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{odqa, path_str, read_json, read_short, repo, stderr};

const ELECTRA: &str = "tests/fixtures/reader-parity/tiny-electra-qa";
const KLUE: &str = "tests/fixtures/reader-parity/tiny-klue-roberta-qa";

/// `odqa read` of the KorQuAD sample with `model` into `out`, with 64-token windows.
fn run_read(model: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    read_short(
        model,
        &repo().join("corpus/korquad-sample.json"),
        out,
        extra,
    )
}

/// `odqa read` of the KorQuAD sample with `model`; returns the n-best file's bytes.
fn read(model: &Path, out: &Path) -> Vec<u8> {
    let nbest = out.with_extension("nbest.json");
    let run = run_read(model, out, &["--nbest-out", path_str(&nbest)]);
    assert!(run.status.success(), "{}", stderr(&run));
    std::fs::read(nbest).unwrap()
}

/// Trains `model` 12 steps on the KorQuAD sample into `out`; returns the logged losses.
fn train(model: &str, out: &Path) -> Vec<f64> {
    let data = repo().join("corpus/korquad-sample.json");
    let run = odqa(&[
        "train",
        "--model",
        path_str(&repo().join(model)),
        "--train",
        path_str(&data),
        "--out",
        path_str(out),
        "--max-seq-len",
        "64",
        "--doc-stride",
        "16",
        "--batch-size",
        "4",
        "--gradient-accumulation-steps",
        "1",
        "--max-steps",
        "12",
        "--learning-rate",
        "1e-3",
        "--warmup-ratio",
        "0",
        "--quiet",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let log = read_json(&out.join("training.json"))["log"].clone();
    let losses = log.as_array().unwrap().iter();
    losses.map(|e| e["loss"].as_f64().unwrap()).collect()
}

/// The mean of the first and of the last third of `losses`.
fn first_and_last(losses: &[f64]) -> (f64, f64) {
    let third = losses.len() / 3;
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    (
        mean(&losses[..third]),
        mean(&losses[losses.len() - third..]),
    )
}

/// Names of the tensors in a safetensors file.
fn tensor_names(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

fn check_trains_saves_and_reads(model: &str, prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("trained");
    let losses = train(model, &out);
    assert_eq!(losses.len(), 12);
    let (first, last) = first_and_last(&losses);
    eprintln!("{model}: loss {first:.3} (first 4 steps) → {last:.3} (last 4)");
    assert!(last < first, "{model}: the loss does not fall: {losses:?}");
    // transformers' names, and the tokenizer as it came: vocab.txt and its settings.
    let names = tensor_names(&out.join("model.safetensors"));
    assert!(names
        .iter()
        .all(|n| n.starts_with(prefix) || n.starts_with("qa_outputs.")));
    for file in [
        "vocab.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        let copied = std::fs::read(out.join(file)).unwrap();
        assert_eq!(
            copied,
            std::fs::read(repo().join(model).join(file)).unwrap(),
            "{file}"
        );
    }
    assert!(!out.join("tokenizer.json").exists());
    let nbest = read(&out, &dir.path().join("answers.json"));
    assert!(!nbest.is_empty());
}

#[test]
fn an_electra_with_only_vocab_txt_trains_saves_and_reads_back() {
    check_trains_saves_and_reads(ELECTRA, "electra.");
    let config = read_json(&repo().join(ELECTRA).join("config.json"));
    assert_ne!(config["embedding_size"], config["hidden_size"]);
}

#[test]
fn a_klue_roberta_from_pytorch_model_bin_trains_saves_and_reads_back() {
    check_trains_saves_and_reads(KLUE, "roberta.");
}

#[test]
fn a_converted_model_reads_as_the_pytorch_one() {
    let dir = tempfile::tempdir().unwrap();
    let converted = dir.path().join("converted");
    let args = |out: &Path| {
        let model = repo().join(KLUE);
        odqa(&["model", "convert", path_str(&model), "--out", path_str(out)])
    };
    let run = args(&converted);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(converted.join("model.safetensors").is_file());
    assert!(!converted.join("pytorch_model.bin").exists());
    assert!(converted.join("tokenizer.json").is_file());
    let again = args(&converted);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let original = read(&repo().join(KLUE), &dir.path().join("original.json"));
    assert_eq!(
        read(&converted, &dir.path().join("converted.json")),
        original
    );
    // The tokenizer.json written for the vocab.txt reads as vocab.txt does.
    std::fs::remove_file(converted.join("vocab.txt")).unwrap();
    assert_eq!(read(&converted, &dir.path().join("json.json")), original);
}

/// A copy of the klue-style model in `dir` with `file` replaced by `bytes`.
fn broken_copy(dir: &Path, file: &str, bytes: &[u8]) -> PathBuf {
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for entry in std::fs::read_dir(repo().join(KLUE)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, model.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(model.join(file), bytes).unwrap();
    model
}

fn refused(model: &Path) -> String {
    let out = model.with_file_name("answers.json");
    let run = run_read(model, &out, &[]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(!out.exists());
    stderr(&run)
}

#[test]
fn a_vocabulary_without_cls_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let vocab = std::fs::read_to_string(repo().join(KLUE).join("vocab.txt")).unwrap();
    let without: String = vocab
        .lines()
        .filter(|l| *l != "[CLS]")
        .map(|l| format!("{l}\n"))
        .collect();
    let err = refused(&broken_copy(dir.path(), "vocab.txt", without.as_bytes()));
    assert!(err.contains("vocab.txt") && err.contains("[CLS]"), "{err}");
}

#[test]
fn bad_pytorch_files_are_refused_naming_them() {
    let cases = repo().join("tests/fixtures/pytorch-bin");
    for (name, says) in [
        ("not-a-state-dict.bin", "state dict"),
        ("evil.bin", "posix.system"),
        ("not-zip.bin", "pytorch_model.bin"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(cases.join(name)).unwrap();
        let err = refused(&broken_copy(dir.path(), "pytorch_model.bin", &bytes));
        assert!(
            err.contains("pytorch_model.bin") && err.contains(says),
            "{name}: {err}"
        );
    }
    assert!(!Path::new("/tmp/odqa-pwned").exists());
}

/// An encoder-only copy of the ELECTRA fixture in `dir` (its `qa_outputs` dropped, the encoder
/// saved by odqa under transformers' names), as KoELECTRA's discriminator checkpoints come.
fn encoder_only_electra(dir: &Path) -> PathBuf {
    use odqa_reader::weights::{CheckpointWriter, StoredType};
    use odqa_reader::{CpuBackend, QaModel, TokenizerFiles};
    let fixture = repo().join(ELECTRA);
    let loaded = QaModel::<CpuBackend>::load_dir(&fixture, &Default::default()).unwrap();
    let out = dir.join("electra-encoder");
    std::fs::create_dir_all(&out).unwrap();
    let mut writer = CheckpointWriter::default();
    loaded
        .model
        .encoder()
        .save(&loaded.config, &mut writer, "electra.")
        .unwrap();
    writer
        .write(&out.join("model.safetensors"), StoredType::F32)
        .unwrap();
    std::fs::copy(fixture.join("config.json"), out.join("config.json")).unwrap();
    TokenizerFiles::in_dir(&fixture).copy_into(&out).unwrap();
    out
}

#[test]
fn an_encoder_only_electra_trains_a_cnn_head() {
    let dir = tempfile::tempdir().unwrap();
    let base = encoder_only_electra(dir.path());
    let out = dir.path().join("cnn");
    let data = repo().join("corpus/korquad-sample.json");
    let run = odqa(&[
        "train",
        "--model",
        path_str(&base),
        "--head",
        "cnn",
        "--train",
        path_str(&data),
        "--out",
        path_str(&out),
        "--max-seq-len",
        "64",
        "--doc-stride",
        "16",
        "--batch-size",
        "4",
        "--max-steps",
        "12",
        "--learning-rate",
        "1e-3",
        "--warmup-ratio",
        "0",
        "--quiet",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let log = read_json(&out.join("training.json"))["log"].clone();
    let losses: Vec<f64> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["loss"].as_f64().unwrap())
        .collect();
    let (first, last) = first_and_last(&losses);
    eprintln!("ELECTRA + CNN head: loss {first:.3} (first 4 steps) → {last:.3} (last 4)");
    assert!(last < first, "the loss does not fall: {losses:?}");
    let names = tensor_names(&out.join("model.safetensors"));
    assert!(names.iter().any(|n| n.starts_with("conv1.")), "{names:?}");
    assert!(names.contains(&"electra.embeddings_project.weight".to_string()));
    assert_eq!(
        read_json(&out.join("config.json"))["architectures"][0],
        "ElectraCnnForQuestionAnswering"
    );
    assert!(!read(&out, &dir.path().join("answers.json")).is_empty());
}
