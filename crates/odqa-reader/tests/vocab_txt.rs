//! Tokenizers built from `vocab.txt` against transformers 5.24's `BertTokenizer` on the cases of
//! `tests/fixtures/tokenizer-cases` (five `tokenizer_config.json` variants: lowercasing by
//! default, accent stripping, Chinese characters, klue's special-token order; texts with
//! accents, Hangul, hanja, literal special tokens, a word over 100 characters, control
//! characters): the tokenizer's settings as transformers serializes them, and every window's ids,
//! type ids, mask, offsets and sequence ids.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use odqa_reader::features::{FeatureTokenizer, WindowSettings};
use odqa_reader::TokenizerFiles;
use serde_json::Value;

fn variants() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tokenizer-cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("cases.json").is_file())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 5, "the five variants of the fixture");
    dirs
}

fn cases(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap()
}

fn u32s(v: &Value) -> Vec<u32> {
    let items = v.as_array().unwrap().iter();
    items.map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn the_tokenizer_is_built_with_transformers_settings() {
    for dir in variants() {
        let theirs = &cases(&dir)["backend_tokenizer"];
        let tokenizer = TokenizerFiles::in_dir(&dir).load().unwrap();
        let ours = serde_json::to_value(&tokenizer).unwrap();
        for part in ["normalizer", "pre_tokenizer", "post_processor", "decoder"] {
            assert_eq!(ours[part], theirs[part], "{}: {part}", dir.display());
        }
        for key in [
            "unk_token",
            "continuing_subword_prefix",
            "max_input_chars_per_word",
        ] {
            assert_eq!(ours["model"][key], theirs["model"][key], "{key}");
        }
        let added = |v: &Value| -> Vec<(u64, String, bool)> {
            let tokens = v["added_tokens"].as_array().unwrap().iter();
            let mut all: Vec<_> = tokens
                .map(|t| {
                    let content = t["content"].as_str().unwrap().to_string();
                    (t["id"].as_u64().unwrap(), content, t["normalized"] == true)
                })
                .collect();
            all.sort();
            all
        };
        assert_eq!(
            added(&ours),
            added(theirs),
            "{}: added tokens",
            dir.display()
        );
    }
}

#[test]
fn every_window_matches_transformers() {
    for dir in variants() {
        let r = cases(&dir);
        let s = &r["settings"];
        let settings = WindowSettings {
            max_seq_len: s["max_length"].as_u64().unwrap() as usize,
            doc_stride: s["stride"].as_u64().unwrap() as usize,
        };
        let pad = s["pad_token_id"].as_u64().unwrap() as u32;
        let files = TokenizerFiles::in_dir(&dir);
        let tokenizer = files.load().unwrap();
        let tok =
            FeatureTokenizer::new(tokenizer, &files.main_file(), settings, pad, true).unwrap();
        let mut ours = Vec::new();
        for (i, ex) in r["examples"].as_array().unwrap().iter().enumerate() {
            let (q, c) = (
                ex["question"].as_str().unwrap(),
                ex["context"].as_str().unwrap(),
            );
            ours.extend(tok.features(i, q, c, None).unwrap());
        }
        let theirs = r["features"].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{}: windows", dir.display());
        for (k, (f, t)) in ours.iter().zip(theirs).enumerate() {
            let at = format!("{} window {k} ({})", dir.display(), t["example_id"]);
            assert_eq!(f.input_ids, u32s(&t["input_ids"]), "{at}: ids");
            assert_eq!(f.token_type_ids, u32s(&t["token_type_ids"]), "{at}: types");
            assert_eq!(f.attention_mask, u32s(&t["attention_mask"]), "{at}: mask");
            let offsets: Vec<(usize, usize)> = t["offset_mapping"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    (
                        o[0].as_u64().unwrap() as usize,
                        o[1].as_u64().unwrap() as usize,
                    )
                })
                .collect();
            assert_eq!(f.offsets, offsets, "{at}: offsets");
            let sequence_ids: Vec<Option<usize>> = t["sequence_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().map(|x| x as usize))
                .collect();
            assert_eq!(f.sequence_ids, sequence_ids, "{at}: sequence ids");
        }
    }
}
