//! LoRA adapters made by Hugging Face PEFT (`tests/fixtures/lora-parity`, see its README) load in
//! odqa with PEFT's logits, merged or not; adapter directories that odqa cannot apply exactly are
//! refused by name.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use odqa_reader::features::Feature;
use odqa_reader::read::batch_input;
use odqa_reader::{ModelSource, QaModel};
use serde_json::Value;

type B = Flex;

mod common;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(path)
}

fn numbers<T>(v: &Value, f: impl Fn(f64) -> T) -> Vec<T> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| f(x.as_f64().unwrap()))
        .collect()
}

/// The windows of `expected.json` as features (ids, mask, token types; no offsets needed).
fn features(expected: &Value) -> Vec<Feature> {
    expected["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let input_ids = numbers(&f["input_ids"], |x| x as u32);
            let n = input_ids.len();
            let token_type_ids = match f.get("token_type_ids") {
                Some(t) => numbers(t, |x| x as u32),
                None => vec![0; n],
            };
            Feature {
                example_index: 0,
                attention_mask: numbers(&f["attention_mask"], |x| x as u32),
                token_type_ids,
                input_ids,
                offsets: vec![(0, 0); n],
                sequence_ids: vec![None; n],
                start_position: None,
                end_position: None,
            }
        })
        .collect()
}

/// Largest |odqa − PEFT| over the start and end logits of every window (`merged` picks PEFT's
/// `merge_and_unload()` logits).
fn worst_difference(adapter: &str, merge: bool) -> f32 {
    let dir = fixture(&format!("lora-parity/{adapter}"));
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let device = Default::default();
    let loaded =
        QaModel::<B>::load_source(&ModelSource::new(&dir), None, 1, merge, &device).unwrap();
    assert!(!loaded.fresh_head);
    assert!(loaded.adapter.is_some());
    assert!(loaded.model.encoder().has_lora() != merge);
    let features = features(&expected);
    let refs: Vec<&Feature> = features.iter().collect();
    let (start, end) = loaded
        .model
        .forward(batch_input(&loaded.config, &refs, &device), false);
    let start = start.into_data().to_vec::<f32>().unwrap();
    let end = end.into_data().to_vec::<f32>().unwrap();
    let l = features[0].input_ids.len();
    let prefix = if merge { "merged_" } else { "" };
    let mut worst = 0f32;
    for (k, f) in expected["features"].as_array().unwrap().iter().enumerate() {
        for (ours, key) in [(&start, "start_logits"), (&end, "end_logits")] {
            let theirs = numbers(&f[format!("{prefix}{key}")], |x| x as f32);
            for (i, want) in theirs.iter().enumerate() {
                worst = worst.max((ours[k * l + i] - want).abs());
            }
        }
    }
    eprintln!("{adapter} (merged: {merge}): max |Δlogit| = {worst:e}");
    worst
}

#[test]
fn a_peft_bert_adapter_gives_peft_logits() {
    assert!(worst_difference("tiny-bert-qa-lora", false) < 1e-4);
    assert!(worst_difference("tiny-bert-qa-lora", true) < 1e-4);
}

#[test]
fn a_peft_rslora_roberta_adapter_gives_peft_logits() {
    assert!(worst_difference("tiny-roberta-qa-lora", false) < 1e-4);
    assert!(worst_difference("tiny-roberta-qa-lora", true) < 1e-4);
}

/// A copy of the BERT adapter with `edit` applied to its `adapter_config.json`.
fn edited_adapter(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> tempfile::TempDir {
    let src = fixture("lora-parity/tiny-bert-qa-lora");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        src.join("adapter_model.safetensors"),
        dir.path().join("adapter_model.safetensors"),
    )
    .unwrap();
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(src.join("adapter_config.json")).unwrap()).unwrap();
    let base = fixture("reader-parity/tiny-bert-qa");
    config["base_model_name_or_path"] = Value::from(base.to_string_lossy().into_owned());
    edit(config.as_object_mut().unwrap());
    std::fs::write(
        dir.path().join("adapter_config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    dir
}

fn load_error(dir: &Path) -> String {
    match QaModel::<B>::load_dir(dir, &Default::default()) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn adapters_odqa_cannot_apply_exactly_are_refused_by_name() {
    let cases: [(&str, Value, &str); 9] = [
        // Options this version has never heard of are refused, not ignored.
        (
            "arrow_config",
            serde_json::json!({"top_k": 3}),
            "arrow_config",
        ),
        ("some_future_option", Value::from(1), "some_future_option"),
        (
            "odqa_head_config",
            serde_json::json!({"layer_norm_eps": 0.5}),
            "layer_norm_eps",
        ),
        ("use_dora", Value::Bool(true), "use_dora"),
        ("bias", Value::from("all"), "bias"),
        (
            "rank_pattern",
            serde_json::json!({"query": 8}),
            "rank_pattern",
        ),
        ("lora_bias", Value::Bool(true), "lora_bias"),
        (
            "exclude_modules",
            serde_json::json!(["key"]),
            "exclude_modules",
        ),
        ("peft_type", Value::from("IA3"), "IA3"),
    ];
    for (key, value, named) in cases {
        let dir = edited_adapter(|c| {
            c.insert(key.to_string(), value);
        });
        let err = load_error(dir.path());
        assert!(
            err.contains(named) && err.contains("adapter_config.json"),
            "{key}: {err}"
        );
    }
    // A base that is not there is named, with where it was looked for.
    let dir = edited_adapter(|c| {
        c.insert(
            "base_model_name_or_path".into(),
            Value::from("no/such-model"),
        );
    });
    let err = load_error(dir.path());
    assert!(
        err.contains("no/such-model") && err.contains("config.json"),
        "{err}"
    );
    // A target that names no linear layer is named.
    let dir = edited_adapter(|c| {
        let targets = serde_json::json!(["query", "word_embeddings"]);
        c.insert("target_modules".into(), targets);
    });
    let err = load_error(dir.path());
    assert!(err.contains("word_embeddings"), "{err}");
    // A missing update tensor is named: the RoBERTa adapter's file updates query and value only.
    let dir = edited_adapter(|c| {
        c.insert("target_modules".into(), Value::from("all-linear"));
    });
    std::fs::copy(
        fixture("lora-parity/tiny-roberta-qa-lora/adapter_model.safetensors"),
        dir.path().join("adapter_model.safetensors"),
    )
    .unwrap();
    let err = load_error(dir.path());
    assert!(
        err.contains("missing tensor") && err.contains("key.lora_A"),
        "{err}"
    );
}

/// Fully qualified PEFT target names load as their short forms do.
#[test]
fn qualified_target_names_load_like_short_ones() {
    let qualified: Vec<String> = (0..2)
        .flat_map(|i| {
            odqa_reader::lora::LAYER_LINEARS
                .map(|l| format!("bert.encoder.layer.{i}.{l}"))
                .to_vec()
        })
        .collect();
    let dir = edited_adapter(|c| {
        c.insert("target_modules".into(), serde_json::json!(qualified));
    });
    let device = Default::default();
    let adapter = fixture("lora-parity/tiny-bert-qa-lora");
    let short = QaModel::<B>::load_dir(&adapter, &device).unwrap();
    let long = QaModel::<B>::load_dir(dir.path(), &device).unwrap();
    let expected: Value =
        serde_json::from_slice(&std::fs::read(adapter.join("expected.json")).unwrap()).unwrap();
    let features = features(&expected);
    let refs: Vec<&Feature> = features.iter().collect();
    let logits = |m: &odqa_reader::LoadedModel<B>| {
        let (s, _) = m
            .model
            .forward(batch_input(&m.config, &refs, &device), false);
        s.into_data().to_vec::<f32>().unwrap()
    };
    assert_eq!(logits(&short), logits(&long));
}

/// A merge that would write a random head (neither the adapter nor its base holds one) is
/// refused.
#[test]
fn merging_an_adapter_without_any_head_is_refused() {
    let base = common::copy_model("tiny-bert-qa");
    common::edit(base.path(), |t| {
        t.retain(|n, _| !n.starts_with("qa_outputs"))
    });
    let adapter = edited_adapter(|c| {
        let base = base.path().to_string_lossy().into_owned();
        c.insert("base_model_name_or_path".into(), Value::from(base));
    });
    let weights = adapter.path().join("adapter_model.safetensors");
    let mut tensors = common::read_tensors(&weights);
    tensors.retain(|n, _| !n.contains("qa_outputs"));
    common::write_tensors(&weights, &tensors);
    let out = adapter.path().join("merged");
    let source = ModelSource::new(adapter.path());
    let err =
        odqa_reader::lora::merge_adapter::<B>(&source, &out, &Default::default()).unwrap_err();
    assert!(err.to_string().contains("holds a QA head"), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_base_given_to_a_full_model_is_refused() {
    let source = ModelSource {
        dir: fixture("reader-parity/tiny-bert-qa"),
        base: Some(fixture("reader-parity/tiny-bert-cnn")),
        base_mismatch_ok: false,
    };
    match QaModel::<B>::load_source(&source, None, 1, true, &Default::default()) {
        Ok(_) => panic!("loaded"),
        Err(e) => assert!(e.to_string().contains("not a LoRA adapter"), "{e}"),
    }
}

/// `merge_adapter` writes a full model whose logits are the adapter's bit for bit, and refuses an
/// output that exists.
#[test]
fn a_merged_adapter_reads_exactly_as_the_adapter() {
    let adapter = fixture("lora-parity/tiny-bert-qa-lora");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(adapter.join("expected.json")).unwrap()).unwrap();
    let features = features(&expected);
    let refs: Vec<&Feature> = features.iter().collect();
    let device = Default::default();
    let logits = |loaded: odqa_reader::LoadedModel<B>| {
        let (s, e) = loaded
            .model
            .forward(batch_input(&loaded.config, &refs, &device), false);
        let mut v = s.into_data().to_vec::<f32>().unwrap();
        v.extend(e.into_data().to_vec::<f32>().unwrap());
        v
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged");
    let source = ModelSource::new(&adapter);
    let merged = odqa_reader::lora::merge_adapter::<B>(&source, &out, &device).unwrap();
    assert!(merged.base.ends_with("tiny-bert-qa"), "{:?}", merged.base);
    let from_adapter = logits(QaModel::<B>::load_dir(&adapter, &device).unwrap());
    let from_merged = logits(QaModel::<B>::load_dir(&out, &device).unwrap());
    assert_eq!(from_adapter, from_merged);
    assert!(out.join("tokenizer.json").is_file());
    assert!(!out.join("adapter_config.json").exists());

    let err = odqa_reader::lora::merge_adapter::<B>(&source, &out, &device).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let err = odqa_reader::lora::merge_adapter::<B>(
        &ModelSource::new(fixture("reader-parity/tiny-bert-qa")),
        &dir.path().join("other"),
        &device,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a LoRA adapter"), "{err}");
    // Nothing was left beside the output by the refused runs.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("merged")]);
}
