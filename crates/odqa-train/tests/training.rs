//! Training on the committed tiny fixtures: the loss goes down, the saved model reproduces the
//! trained model's logits exactly, an interrupted run resumed gives the same model as an
//! uninterrupted one, and the best dev checkpoint is kept.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use burn::backend::Flex;
use burn::prelude::*;
use odqa_reader::features::{Feature, WindowSettings};
use odqa_reader::model::qa_loss;
use odqa_reader::read::batch_input;
use odqa_reader::{HeadKind, QaModel, ReaderConfig};
use odqa_train::{train, train_model, TrainOptions, TrainSettings};

mod common;

use common::{repo, resuming, serial, stopped_at_once, windows};

type B = Flex;

fn settings(model: &str, head: HeadKind, out: &Path) -> TrainSettings {
    TrainSettings {
        model: Some(repo(model)),
        head: Some(head),
        train: vec![repo("corpus/korquad-sample.json")],
        out: Some(out.to_path_buf()),
        epochs: 3,
        learning_rate: 2e-3,
        batch_size: 4,
        gradient_accumulation_steps: 2,
        max_seq_len: 128,
        doc_stride: 48,
        save_steps: 1000,
        ..TrainSettings::default()
    }
}

/// The two-layer BERT fixture with a linear head.
const TINY_BERT: &str = "tests/fixtures/reader-parity/tiny-bert-qa";

/// [`settings`] for `steps` optimizer steps of the linear-head fixture.
fn tiny_linear(out: &Path, steps: usize) -> TrainSettings {
    TrainSettings {
        max_steps: Some(steps),
        ..settings(TINY_BERT, HeadKind::Linear, out)
    }
}

/// Mean loss (dropout off) of `model` over `features`.
fn mean_loss(model: &QaModel<B>, config: &ReaderConfig, features: &[Feature]) -> f64 {
    let device = Default::default();
    let refs: Vec<&Feature> = features.iter().collect();
    let starts: Vec<i64> = features
        .iter()
        .map(|f| f.start_position.unwrap() as i64)
        .collect();
    let ends: Vec<i64> = features
        .iter()
        .map(|f| f.end_position.unwrap() as i64)
        .collect();
    let (s, e) = model.forward(batch_input(config, &refs, &device), false);
    let (loss, _, _) = qa_loss(s, e, &starts, &ends);
    loss.into_scalar().elem::<f64>()
}

fn logits(model: &QaModel<B>, config: &ReaderConfig, features: &[Feature]) -> Vec<f32> {
    let device = Default::default();
    let refs: Vec<&Feature> = features.iter().take(6).collect();
    let (s, e) = model.forward(batch_input(config, &refs, &device), false);
    let mut v = s.into_data().to_vec::<f32>().unwrap();
    v.extend(e.into_data().to_vec::<f32>().unwrap());
    v
}

/// `name → (dtype, shape)` of a model directory's checkpoint (pooler tensors aside).
fn tensor_shapes(dir: &Path) -> std::collections::BTreeMap<String, Vec<usize>> {
    tensors(dir)
        .into_iter()
        .map(|(n, (dtype, shape, _))| {
            assert_eq!(dtype, safetensors::Dtype::F32, "{n}");
            (n, shape)
        })
        .collect()
}

/// Every tensor of `dir/model.safetensors` but the pooler: name → (dtype, shape, raw bytes).
type Tensors = std::collections::BTreeMap<String, (safetensors::Dtype, Vec<usize>, Vec<u8>)>;

fn tensors(dir: &Path) -> Tensors {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .filter(|(n, _)| !n.contains("pooler"))
        .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
        .collect()
}

fn check_training_lowers_loss_and_saves_exactly(model: &str, head: HeadKind) {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let device = Default::default();
    let s = settings(model, head, &out);
    let base = QaModel::<B>::load_dir_with_head(&repo(model), Some(head), s.seed, &device).unwrap();
    let (features, _) = windows(&repo(model));
    let before = mean_loss(&base.model, &base.config, &features);

    let (report, trained) = train_model::<B>(&s, &TrainOptions::default(), &device).unwrap();
    assert_eq!(report.state.step, report.state.total_steps);
    assert_eq!(report.state.train_examples, 40);
    let after = mean_loss(&trained, &base.config, &features);
    assert!(
        after < 0.6 * before,
        "{head}: loss {before:.4} before, {after:.4} after training"
    );

    // The output directory is a complete model directory whose logits are the trained model's.
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "training.json",
    ] {
        assert!(out.join(name).is_file(), "{name} missing");
    }
    // Same tensor names and shapes as the transformers-written fixture (for the linear head: what
    // `BertForQuestionAnswering.from_pretrained` expects), stored in f32.
    assert_eq!(tensor_shapes(&out), tensor_shapes(&repo(model)));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    if head == HeadKind::Linear {
        assert_eq!(config["architectures"][0], "BertForQuestionAnswering");
    }
    let loaded = QaModel::<B>::load_dir(&out, &device).unwrap();
    assert_eq!(loaded.config.head(), head);
    assert!(!loaded.fresh_head);
    assert_eq!(
        logits(&trained, &base.config, &features),
        logits(&loaded.model, &loaded.config, &features)
    );
}

#[test]
fn cnn_head_training_lowers_the_loss_and_saves_exactly() {
    check_training_lowers_loss_and_saves_exactly(
        "tests/fixtures/reader-parity/tiny-bert-cnn",
        HeadKind::Cnn,
    );
}

#[test]
fn linear_head_training_lowers_the_loss_and_saves_exactly() {
    check_training_lowers_loss_and_saves_exactly(
        "tests/fixtures/reader-parity/tiny-bert-qa",
        HeadKind::Linear,
    );
}

/// Stopped after the first step and resumed: the same weights as a run that was never stopped
/// (data order, dropout masks, optimizer moments and schedule all restored).
#[test]
fn a_resumed_run_matches_an_uninterrupted_one() {
    let model = "tests/fixtures/reader-parity/tiny-bert-cnn";
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let _serial = serial();
    let mut s = settings(model, HeadKind::Cnn, &dir.path().join("straight"));
    s.epochs = 2;
    s.max_train_examples = Some(10);
    let (straight_report, straight) =
        train_model::<B>(&s, &TrainOptions::default(), &device).unwrap();

    let out = dir.path().join("resumed");
    s.out = Some(out.clone());
    let (first, _) = train_model::<B>(&s, &stopped_at_once(), &device).unwrap();
    assert!(first.interrupted);
    assert_eq!(first.state.step, 1);
    assert!(out
        .join("checkpoint-1")
        .join("optimizer.safetensors")
        .is_file());
    let resume = resuming(&out);
    let (second, resumed) = train_model::<B>(&s, &resume, &device).unwrap();
    assert!(!second.interrupted);
    assert_eq!(second.state.step, straight_report.state.step);
    let (features, config) = windows(&repo(model));
    let a = logits(&straight, &config, &features);
    let b = logits(&resumed, &config, &features);
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(max_diff < 1e-5, "resumed run differs by {max_diff}");
    let losses =
        |r: &odqa_train::TrainReport| -> Vec<f64> { r.state.log.iter().map(|l| l.loss).collect() };
    assert_eq!(losses(&straight_report).len(), losses(&second).len());
    // Only the newest checkpoint is kept.
    let checkpoints: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("checkpoint"))
        .collect();
    assert_eq!(
        checkpoints,
        vec![format!("checkpoint-{}", second.state.step)]
    );
}

/// With a dev set: evaluations at every epoch and every `eval_steps`, and the output directory
/// holds the best one, not the last. The run is seeded, so its scores are the same every time; the
/// test first checks that they let a wrong choice show (the best evaluation is not the last one and
/// scores differently from it).
#[test]
fn the_best_dev_checkpoint_is_kept() {
    let model = "tests/fixtures/reader-parity/tiny-bert-qa";
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let _serial = serial();
    let mut s = settings(model, HeadKind::Linear, &out);
    s.dev = Some(repo("corpus/korquad-sample.json"));
    s.eval_steps = Some(EVAL_STEPS);
    let report = train::<B>(&s, &TrainOptions::default(), &Default::default()).unwrap();
    let evals = &report.state.evaluations;
    let f1s: Vec<f64> = evals.iter().map(|e| e.scores.korquad_f1).collect();
    // The best is the first evaluation with the highest F1.
    let top = f1s.iter().copied().fold(f64::MIN, f64::max);
    let first_top = evals.iter().find(|e| e.scores.korquad_f1 == top).unwrap();
    let last = evals.last().unwrap();
    assert!(
        first_top.step != last.step && first_top.scores != last.scores,
        "test setup: the best evaluation must differ from the last one to show which is kept: {f1s:?}"
    );
    let best = report.state.best.clone().unwrap();
    assert_eq!(
        best.step, first_top.step,
        "the kept evaluation is not the best: {f1s:?}"
    );
    assert_eq!(best.scores, first_top.scores);
    // The model in the output directory is the best one: reading the dev set again gives its scores.
    let reader = odqa_reader::read::Reader::<B>::load(
        &out,
        WindowSettings {
            max_seq_len: 128,
            doc_stride: 48,
        },
        &Default::default(),
    )
    .unwrap();
    let dev = odqa_train::data::dev_examples(&repo("corpus/korquad-sample.json"), None).unwrap();
    let (again, _) = odqa_train::evaluate::evaluate(&reader, &dev, 16).unwrap();
    assert_eq!(again, best.scores, "{f1s:?}");
    assert_ne!(again, last.scores, "{f1s:?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("training.json")).unwrap()).unwrap();
    assert_eq!(summary["best"]["step"], best.step);
    assert_eq!(
        summary["evaluations"].as_array().unwrap().len(),
        evals.len()
    );
}

/// Optimizer steps between evaluations in [`the_best_dev_checkpoint_is_kept`].
const EVAL_STEPS: usize = 3;

/// `freeze_word_embeddings` leaves the word embedding matrix as it was; everything else moves.
#[test]
fn frozen_word_embeddings_do_not_change() {
    let _serial = serial();
    let model = "tests/fixtures/reader-parity/tiny-bert-qa";
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(model, HeadKind::Linear, &dir.path().join("out"));
    s.max_steps = Some(2);
    s.freeze_word_embeddings = true;
    let base = QaModel::<B>::load_dir(&repo(model), &device).unwrap().model;
    let (_, trained) = train_model::<B>(&s, &TrainOptions::default(), &device).unwrap();
    let words = |m: &QaModel<B>| m.encoder().word_embeddings().val().into_data();
    assert_eq!(words(&trained), words(&base));
    assert_ne!(
        trained.head().qa_outputs_weight().into_data(),
        base.head().qa_outputs_weight().into_data()
    );
}

/// `freeze_layers = 1` keeps the embeddings and layer 0 bit for bit; layer 1 and the head train.
#[test]
fn frozen_bottom_layers_do_not_change() {
    let _serial = serial();
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut s = tiny_linear(&out, 2);
    s.freeze_layers = 1;
    train::<B>(&s, &TrainOptions::default(), &device).unwrap();
    let base = tensors(&repo(TINY_BERT));
    let trained = tensors(&out);
    let mut moved = Vec::new();
    for (name, (_, _, bytes)) in &trained {
        let frozen = name.contains("embeddings.") || name.contains("layer.0.");
        if frozen {
            assert_eq!(bytes, &base[name].2, "{name} is frozen but changed");
        } else if bytes != &base[name].2 {
            moved.push(name.clone());
        }
    }
    assert!(
        moved.iter().any(|n| n.contains("layer.1."))
            && moved.iter().any(|n| n.contains("qa_outputs")),
        "layer 1 and the head should train: {moved:?}"
    );

    s.freeze_layers = 3;
    let err = train::<B>(&s, &TrainOptions::default(), &device).unwrap_err();
    assert!(
        err.to_string().contains("more than the model's 2 layers"),
        "{err}"
    );
}

/// Largest |after − before| over the f32 tensors of `after` whose names contain `part`.
fn largest_move(before: &Tensors, after: &Tensors, part: &str) -> f32 {
    let floats = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    after
        .iter()
        .filter(|(name, _)| name.contains(part))
        .flat_map(|(name, (_, _, bytes))| {
            let (a, b) = (floats(bytes), floats(&before[name].2));
            a.into_iter().zip(b).map(|(a, b)| (a - b).abs())
        })
        .fold(0.0, f32::max)
}

/// `layer_lr_decay = 0.5` on the two-layer fixture: Adam's first update moves a weight by its
/// rate, so layer 1 moves by the learning rate, layer 0 by half of it, the embeddings by a quarter,
/// the head by the full rate.
#[test]
fn layer_wise_decay_gives_each_layer_its_rate() {
    let _serial = serial();
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut s = tiny_linear(&out, 1);
    s.warmup_ratio = 0.0;
    s.weight_decay = 0.0;
    s.layer_lr_decay = 0.5;
    train::<B>(&s, &TrainOptions::default(), &device).unwrap();
    let (base, trained) = (tensors(&repo(TINY_BERT)), tensors(&out));
    let lr = s.learning_rate as f32;
    for (part, factor) in [
        ("layer.1.", 1.0),
        ("layer.0.", 0.5),
        ("embeddings.", 0.25),
        ("qa_outputs", 1.0),
    ] {
        let moved = largest_move(&base, &trained, part);
        assert!(
            (moved - lr * factor).abs() < 0.02 * lr,
            "{part} moved by {moved}, expected {factor} × {lr}"
        );
    }
    // A run interrupted with the decay is not resumed without it.
    s.out = Some(dir.path().join("stopped"));
    s.max_steps = Some(2);
    train::<B>(&s, &stopped_at_once(), &device).unwrap();
    s.layer_lr_decay = 1.0;
    let err = train::<B>(&s, &resuming(&dir.path().join("stopped")), &device).unwrap_err();
    assert!(
        err.to_string().contains("layer_lr_decay 0.5, not 1"),
        "{err}"
    );
    s.layer_lr_decay = 1.5;
    let err = train::<B>(&s, &TrainOptions::default(), &device).unwrap_err();
    assert!(err.to_string().contains("layer_lr_decay"), "{err}");
}
