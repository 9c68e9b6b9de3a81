//! Training LoRA adapters on the committed tiny fixtures: the base stays as it was, the loss goes
//! down, the output is a PEFT adapter directory whose merged model reproduces the trained one, an
//! interrupted run resumes to the same adapter, and an adapter can be trained further.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::backend::Flex;
use burn::prelude::*;
use odqa_reader::features::Feature;
use odqa_reader::model::qa_loss;
use odqa_reader::read::batch_input;
use odqa_reader::{HeadKind, ModelSource, QaModel, ReaderConfig};
use odqa_train::{train_model, TrainOptions, TrainSettings};

mod common;

use common::{repo, resuming, serial, stopped_at_once, windows};

type B = Flex;

const TINY: &str = "tests/fixtures/reader-parity/tiny-bert-qa";
const TINY_CNN: &str = "tests/fixtures/reader-parity/tiny-bert-cnn";

/// The tiny model with a head of kind `head`.
fn tiny(head: HeadKind) -> &'static str {
    match head {
        HeadKind::Linear => TINY,
        HeadKind::Cnn => TINY_CNN,
    }
}

fn settings(head: HeadKind, out: &Path) -> TrainSettings {
    TrainSettings {
        model: Some(repo(tiny(head))),
        head: Some(head),
        train: vec![repo("corpus/korquad-sample.json")],
        out: Some(out.to_path_buf()),
        epochs: 3,
        learning_rate: 5e-3,
        batch_size: 4,
        gradient_accumulation_steps: 2,
        max_seq_len: 128,
        doc_stride: 48,
        save_steps: 1000,
        lora_rank: Some(4),
        ..TrainSettings::default()
    }
}

fn start_end(
    model: &QaModel<B>,
    config: &ReaderConfig,
    f: &[Feature],
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let refs: Vec<&Feature> = f.iter().collect();
    model.forward(batch_input(config, &refs, &Default::default()), false)
}

fn mean_loss(model: &QaModel<B>, config: &ReaderConfig, f: &[Feature]) -> f64 {
    let starts: Vec<i64> = f.iter().map(|x| x.start_position.unwrap() as i64).collect();
    let ends: Vec<i64> = f.iter().map(|x| x.end_position.unwrap() as i64).collect();
    let (s, e) = start_end(model, config, f);
    qa_loss(s, e, &starts, &ends).0.into_scalar().elem::<f64>()
}

fn logits(model: &QaModel<B>, config: &ReaderConfig, f: &[Feature]) -> Vec<f32> {
    let (s, e) = start_end(model, config, &f[..6]);
    let mut v = s.into_data().to_vec::<f32>().unwrap();
    v.extend(e.into_data().to_vec::<f32>().unwrap());
    v
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// name → shape of an adapter file.
fn adapter_tensors(dir: &Path) -> BTreeMap<String, Vec<usize>> {
    let bytes = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec()))
        .collect()
}

fn sha256(path: &Path) -> String {
    odqa_reader::lora::file_sha256(path).unwrap()
}

fn check_adapter_training(head: HeadKind) {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adapter");
    let device = Default::default();
    let s = settings(head, &out);
    let base_sha = sha256(&repo(tiny(head)).join("model.safetensors"));
    let base =
        QaModel::<B>::load_dir_with_head(&repo(tiny(head)), Some(head), s.seed, &device).unwrap();
    let (features, config) = windows(&repo(tiny(head)));
    let before = mean_loss(&base.model, &base.config, &features);

    let (report, trained) = train_model::<B>(&s, &TrainOptions::default(), &device).unwrap();
    assert_eq!(report.state.step, report.state.total_steps);
    let after = mean_loss(&trained, &base.config, &features);
    assert!(
        after < 0.8 * before,
        "{head}: loss {before:.4} → {after:.4}"
    );
    assert_eq!(
        sha256(&repo(tiny(head)).join("model.safetensors")),
        base_sha
    );

    // A PEFT adapter directory: no full checkpoint, PEFT's names, every linear layer updated.
    assert!(!out.join("model.safetensors").exists());
    let names = adapter_tensors(&out);
    let layers = config.num_hidden_layers;
    let pairs = names.keys().filter(|n| n.contains(".lora_")).count();
    assert_eq!(pairs, layers * 6 * 2, "{names:?}");
    let q = "base_model.model.bert.encoder.layer.0.attention.self.query";
    assert_eq!(
        names[&format!("{q}.lora_A.weight")],
        vec![4, config.hidden_size]
    );
    assert_eq!(
        names[&format!("{q}.lora_B.weight")],
        vec![config.hidden_size, 4]
    );
    assert!(names.contains_key("base_model.model.qa_outputs.weight"));
    assert!(names.keys().all(|n| n.starts_with("base_model.model.")));
    let adapter_config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(adapter_config["peft_type"], "LORA");
    assert_eq!(adapter_config["task_type"], "QUESTION_ANS");
    assert_eq!(adapter_config["r"], 4);
    assert_eq!(adapter_config["lora_alpha"], 8);
    assert_eq!(adapter_config["odqa_base_sha256"], base_sha.as_str());

    // Loaded (merged on the base it names): the trained model's logits; merging in memory gives
    // the very same weights.
    let loaded = QaModel::<B>::load_dir(&out, &device).unwrap();
    assert!(!loaded.fresh_head);
    assert_eq!(loaded.config.head(), head);
    let from_disk = logits(&loaded.model, &loaded.config, &features);
    let unmerged = logits(&trained, &config, &features);
    assert!(max_diff(&from_disk, &unmerged) < 1e-4);
    assert_eq!(from_disk, logits(&trained.merged(), &config, &features));
    if head == HeadKind::Linear {
        export_for_peft(&out, &loaded.model, &loaded.config);
    }
}

/// With `ODQA_PEFT_CHECK_OUT=DIR` (see scripts/lora-peft-check.sh): copies the adapter to
/// `DIR/adapter` and writes odqa's logits on the windows of the PEFT fixture's `expected.json` to
/// `DIR/odqa-logits.json`, for `tools/fixtures/make_lora_parity.py --check-odqa` to compare with
/// the logits PEFT computes from the same adapter.
fn export_for_peft(adapter: &Path, model: &QaModel<B>, config: &ReaderConfig) {
    let Some(dir) = std::env::var_os("ODQA_PEFT_CHECK_OUT").map(PathBuf::from) else {
        return;
    };
    let copy = dir.join("adapter");
    std::fs::create_dir_all(&copy).unwrap();
    for name in ["adapter_config.json", "adapter_model.safetensors"] {
        std::fs::copy(adapter.join(name), copy.join(name)).unwrap();
    }
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo(
            "tests/fixtures/lora-parity/tiny-bert-qa-lora/expected.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    let mut out = Vec::new();
    for f in expected["features"].as_array().unwrap() {
        let input_ids = ids(&f["input_ids"]);
        let n = input_ids.len();
        let feature = Feature {
            example_index: 0,
            attention_mask: ids(&f["attention_mask"]),
            token_type_ids: ids(&f["token_type_ids"]),
            input_ids,
            offsets: vec![(0, 0); n],
            sequence_ids: vec![None; n],
            start_position: None,
            end_position: None,
        };
        let (s, e) = start_end(model, config, std::slice::from_ref(&feature));
        out.push(serde_json::json!({
            "start_logits": s.into_data().to_vec::<f32>().unwrap(),
            "end_logits": e.into_data().to_vec::<f32>().unwrap(),
        }));
    }
    let logits = serde_json::json!({ "features": out });
    std::fs::write(
        dir.join("odqa-logits.json"),
        serde_json::to_vec(&logits).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_cnn_head_adapter_trains_and_loads_merged() {
    check_adapter_training(HeadKind::Cnn);
}

#[test]
fn a_linear_head_adapter_trains_and_loads_merged() {
    check_adapter_training(HeadKind::Linear);
}

/// Stopped after one step and resumed: the same adapter as a run never stopped.
#[test]
fn a_resumed_adapter_run_matches_an_uninterrupted_one() {
    let _serial = serial();
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(HeadKind::Cnn, &dir.path().join("straight"));
    s.epochs = 2;
    s.max_train_examples = Some(10);
    let (_, straight) = train_model::<B>(&s, &TrainOptions::default(), &device).unwrap();

    let out = dir.path().join("resumed");
    s.out = Some(out.clone());
    let (first, _) = train_model::<B>(&s, &stopped_at_once(), &device).unwrap();
    assert!(first.interrupted);
    let checkpoint = out.join("checkpoint-1");
    assert!(checkpoint.join("adapter_model.safetensors").is_file());
    assert!(checkpoint.join("optimizer.safetensors").is_file());
    let resume = resuming(&out);
    let (_, resumed) = train_model::<B>(&s, &resume, &device).unwrap();
    let (features, config) = windows(&repo(TINY_CNN));
    let d = max_diff(
        &logits(&straight, &config, &features),
        &logits(&resumed, &config, &features),
    );
    assert!(d < 1e-5, "resumed adapter differs by {d}");
}

/// `--model ADAPTER` with LoRA settings trains the same adapter further (its updates, not fresh
/// ones); a base other than the recorded one is refused unless accepted.
#[test]
fn an_adapter_trains_further_and_refuses_another_base() {
    let _serial = serial();
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let mut s = settings(HeadKind::Linear, &first);
    s.max_steps = Some(3);
    let (_, one) = train_model::<B>(&s, &TrainOptions::default(), &device).unwrap();
    let mut again = s.clone();
    again.model = Some(first.clone());
    again.out = Some(dir.path().join("second"));
    again.max_steps = Some(1);
    again.learning_rate = 1e-9;
    let (_, two) = train_model::<B>(&again, &TrainOptions::default(), &device).unwrap();
    let (features, config) = windows(&repo(TINY));
    // A near-zero rate leaves the continued adapter where the first run left it.
    let d = max_diff(
        &logits(&one, &config, &features),
        &logits(&two, &config, &features),
    );
    assert!(d < 1e-3, "continued adapter moved by {d}");

    // The same base stored in f16: another file, so another sha256.
    let other = dir.path().join("other-base");
    let base = QaModel::<B>::load_dir(&repo(TINY), &device).unwrap();
    base.model
        .save_dir(
            &base.config,
            &other,
            "",
            odqa_reader::weights::StoredType::F16,
        )
        .unwrap();
    std::fs::copy(
        repo(TINY).join("tokenizer.json"),
        other.join("tokenizer.json"),
    )
    .unwrap();
    let source = ModelSource {
        dir: first.clone(),
        base: Some(other.clone()),
        base_mismatch_ok: false,
    };
    let err = QaModel::<B>::load_source(&source, None, 1, true, &device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not the one the adapter was trained on"),
        "{err}"
    );
    let accepted = ModelSource {
        base_mismatch_ok: true,
        ..source
    };
    let loaded = QaModel::<B>::load_source(&accepted, None, 1, true, &device).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
}

/// An adapter continued with other LoRA settings, or a run resumed with other ones, is refused by
/// setting name; without LoRA settings the adapter's merged model is fine-tuned whole.
#[test]
fn an_adapter_keeps_its_lora_settings_or_is_fine_tuned_whole() {
    let _serial = serial();
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let mut s = settings(HeadKind::Linear, &first);
    s.max_steps = Some(2);
    s.save_steps = 1;
    train_model::<B>(&s, &TrainOptions::default(), &device).unwrap();

    let mut other_rank = s.clone();
    other_rank.model = Some(first.clone());
    other_rank.out = Some(dir.path().join("second"));
    other_rank.lora_rank = Some(8);
    let err = train_model::<B>(&other_rank, &TrainOptions::default(), &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("lora_rank 4 (not 8)"), "{err}");

    let mut resumed = s.clone();
    resumed.lora_rank = Some(8);
    let resume = resuming(&first.join("checkpoint-2"));
    let err = train_model::<B>(&resumed, &resume, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("lora_rank 4 (not 8)"), "{err}");
    resumed.lora_rank = None;
    let err = train_model::<B>(&resumed, &resume, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not the whole model"), "{err}");

    let mut whole = s.clone();
    whole.model = Some(first.clone());
    whole.out = Some(dir.path().join("whole"));
    whole.lora_rank = None;
    whole.max_steps = Some(1);
    train_model::<B>(&whole, &TrainOptions::default(), &device).unwrap();
    let full = dir.path().join("whole");
    assert!(full.join("model.safetensors").is_file());
    assert!(full.join("tokenizer.json").is_file());
    assert!(!full.join("adapter_config.json").exists());
}
