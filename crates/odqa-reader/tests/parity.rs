//! Parity with Hugging Face transformers on the reference fixtures of `tests/fixtures/reader-parity`
//! (random tiny BERT, RoBERTa and BERT+CNN models; see its README): features, logits, loss,
//! gradient norms and n-best decoding.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use odqa_reader::decode::{decode_example, DecodeSettings};
use odqa_reader::features::{Feature, FeatureTokenizer, WindowSettings};
use odqa_reader::model::qa_loss;
use odqa_reader::precision::Precision;
use odqa_reader::read::{batch_input, Progress, Reader};
use odqa_reader::{QaModel, ReaderConfig, TokenizerFiles};
use serde_json::Value;

type B = Flex;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/reader-parity")
        .join(name)
}

fn reference(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name).join("reference.json")).unwrap()).unwrap()
}

fn settings(r: &Value) -> WindowSettings {
    WindowSettings {
        max_seq_len: r["settings"]["max_length"].as_u64().unwrap() as usize,
        doc_stride: r["settings"]["stride"].as_u64().unwrap() as usize,
    }
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Our features for every reference example, in order (example, then window).
fn our_features(name: &str, r: &Value) -> Vec<Feature> {
    let config = ReaderConfig::read(&fixture(name).join("config.json")).unwrap();
    let pad = r["settings"]["pad_token_id"].as_u64().unwrap() as usize;
    assert_eq!(
        config.pad_token_id, pad,
        "{name}: the model pads with the tokenizer's pad"
    );
    let files = TokenizerFiles::in_dir(fixture(name));
    let tok = FeatureTokenizer::open(&files, &config, settings(r)).unwrap();
    let passed = r["settings"]["token_type_ids_passed_to_model"]
        .as_bool()
        .unwrap();
    assert_eq!(tok.uses_segment_ids(), passed, "{name}: segment ids");
    let mut out = Vec::new();
    for (i, ex) in r["examples"].as_array().unwrap().iter().enumerate() {
        let answer = &ex["answers"];
        let start = answer["answer_start"][0].as_u64().unwrap() as usize;
        let text = answer["text"][0].as_str().unwrap();
        let context = ex["context"].as_str().unwrap();
        out.extend(
            tok.features(
                i,
                ex["question"].as_str().unwrap(),
                context,
                Some((start, text)),
            )
            .unwrap(),
        );
    }
    out
}

fn check_features(name: &str) -> (Value, Vec<Feature>) {
    let r = reference(name);
    let ours = our_features(name, &r);
    let theirs = r["features"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "{name}: number of windows");
    let passes_types = r["settings"]["token_type_ids_passed_to_model"]
        .as_bool()
        .unwrap();
    for (k, (f, t)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(
            f.example_index,
            t["example_index"].as_u64().unwrap() as usize,
            "{name} #{k}"
        );
        assert_eq!(f.input_ids, u32s(&t["input_ids"]), "{name} #{k} input_ids");
        assert_eq!(
            f.attention_mask,
            u32s(&t["attention_mask"]),
            "{name} #{k} attention_mask"
        );
        if passes_types {
            assert_eq!(
                f.token_type_ids,
                u32s(&t["token_type_ids"]),
                "{name} #{k} token_type_ids"
            );
        } else {
            assert!(
                f.token_type_ids.iter().all(|&x| x == 0),
                "{name} #{k}: RoBERTa gets zeros"
            );
        }
        let offsets: Vec<(usize, usize)> = t["offset_mapping"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_u64().unwrap() as usize,
                    p[1].as_u64().unwrap() as usize,
                )
            })
            .collect();
        assert_eq!(f.offsets, offsets, "{name} #{k} offsets");
        let seq: Vec<Option<usize>> = t["sequence_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().map(|x| x as usize))
            .collect();
        assert_eq!(f.sequence_ids, seq, "{name} #{k} sequence_ids");
        for (i, c) in t["context_offset_mapping"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let want = c.as_array().map(|p| {
                (
                    p[0].as_u64().unwrap() as usize,
                    p[1].as_u64().unwrap() as usize,
                )
            });
            assert_eq!(f.context_offset(i), want, "{name} #{k} context offset {i}");
        }
        assert_eq!(
            f.start_position,
            Some(t["start_positions"].as_u64().unwrap() as usize),
            "{name} #{k} start label"
        );
        assert_eq!(
            f.end_position,
            Some(t["end_positions"].as_u64().unwrap() as usize),
            "{name} #{k} end label"
        );
    }
    (r, ours)
}

fn check_logits(name: &str) {
    let (r, features) = check_features(name);
    let device = Default::default();
    let loaded = QaModel::<B>::load_dir(&fixture(name), &device).unwrap();
    assert!(!loaded.fresh_head);
    let refs: Vec<&Feature> = features.iter().collect();
    let (start, end) = loaded
        .model
        .forward(batch_input(&loaded.config, &refs, &device), false);
    let start = start.into_data().to_vec::<f32>().unwrap();
    let end = end.into_data().to_vec::<f32>().unwrap();
    let l = features[0].input_ids.len();
    let mut worst = 0f32;
    for (k, t) in r["features"].as_array().unwrap().iter().enumerate() {
        for (ours, theirs) in [
            (&start, f32s(&t["start_logits"])),
            (&end, f32s(&t["end_logits"])),
        ] {
            for (i, want) in theirs.iter().enumerate() {
                worst = worst.max((ours[k * l + i] - want).abs());
            }
        }
    }
    eprintln!("{name}: max |Δlogit| = {worst:e}");
    assert!(worst < 1e-4, "{name}: max |Δlogit| = {worst}");
    check_batched_logits(name, &r, &refs, Precision::Fp32, 1e-4);
}

/// The reader in a reduced `precision` (bf16: AMX tiles where the CPU has them, the same rounded
/// values in f32 elsewhere; int8: the CPU's int8 kernel) against the f32 reference: logits
/// within `tolerance`, and the same bits whatever the batch size and thread count.
fn check_reduced_logits(name: &str, precision: Precision, tolerance: f32) {
    let (r, features) = check_features(name);
    let refs: Vec<&Feature> = features.iter().collect();
    let worst = check_batched_logits(name, &r, &refs, precision, tolerance);
    eprintln!(
        "{name} in {}: max |Δlogit| = {worst:e}",
        precision.describe()
    );
}

/// Through [`Reader::logits`], the path of `odqa read` and the open-domain pipeline (windows
/// sorted by length, padding cut per batch, batches side by side): every window alone, in batches
/// of 3 and all together, on 1 and 3 threads. The real tokens' logits stay the reference's, and
/// are the same bits whatever the batch size and thread count.
fn check_batched_logits(
    name: &str,
    r: &Value,
    windows: &[&Feature],
    precision: Precision,
    tolerance: f32,
) -> f32 {
    let reader = Reader::<B>::load(&fixture(name), settings(r), &Default::default())
        .unwrap()
        .with_precision(precision);
    let logits = |batch: usize, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let Ok(logits) = pool.install(|| reader.logits(windows, batch, &Progress(&|_, _| {})));
        logits
    };
    let alone = logits(1, 1);
    let mut worst = 0f32;
    for (k, (f, (start, end))) in windows.iter().zip(&alone).enumerate() {
        let t = &r["features"][k];
        let real = f.attention_mask.iter().filter(|&&m| m == 1).count();
        for (ours, theirs) in [
            (start, f32s(&t["start_logits"])),
            (end, f32s(&t["end_logits"])),
        ] {
            assert_eq!(
                ours.len(),
                real,
                "{name} #{k}: logits of the real tokens only"
            );
            for (i, (o, want)) in ours.iter().zip(&theirs).enumerate() {
                let d = (o - want).abs();
                worst = worst.max(d);
                assert!(
                    d < tolerance,
                    "{name} #{k} alone ({precision}): token {i} differs by {d}"
                );
            }
        }
    }
    for (batch, threads) in [
        (1, 3),
        (3, 1),
        (3, 3),
        (windows.len(), 1),
        (windows.len(), 3),
    ] {
        assert!(
            logits(batch, threads) == alone,
            "{name} ({precision}): logits differ at batch {batch}, {threads} threads"
        );
    }
    worst
}

/// The fixtures the reduced precisions are checked on: each encoder family and the CNN head.
const REDUCED_FIXTURES: [&str; 4] = [
    "tiny-bert-qa",
    "tiny-roberta-qa",
    "tiny-bert-cnn",
    "tiny-electra-qa",
];

#[test]
fn bf16_logits_stay_near_the_reference_and_do_not_depend_on_batching() {
    for name in REDUCED_FIXTURES {
        check_reduced_logits(name, Precision::Bf16, 0.05);
    }
}

#[test]
fn int8_logits_stay_near_the_reference_and_do_not_depend_on_batching() {
    for name in REDUCED_FIXTURES {
        check_reduced_logits(name, Precision::Int8, 0.05);
    }
}

#[test]
fn bert_features_and_logits_match_transformers() {
    check_logits("tiny-bert-qa");
}

#[test]
fn roberta_features_and_logits_match_transformers() {
    check_logits("tiny-roberta-qa");
}

#[test]
fn cnn_head_features_and_logits_match_reference() {
    check_logits("tiny-bert-cnn");
}

#[test]
fn electra_features_and_logits_match_transformers() {
    // Embeddings of 16 projected to the hidden 32; vocab.txt only (no tokenizer.json).
    check_logits("tiny-electra-qa");
}

#[test]
fn klue_roberta_features_and_logits_match_transformers() {
    // A WordPiece vocab.txt on a RoBERTa with one token type (no segment ids fed), RoBERTa
    // positions, weights only in pytorch_model.bin.
    check_logits("tiny-klue-roberta-qa");
}

fn norm<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> f64 {
    t.powf_scalar(2.0).sum().into_scalar().elem::<f64>().sqrt()
}

fn check_loss(name: &str) {
    let (r, features) = check_features(name);
    type A = Autodiff<Flex>;
    let device = Default::default();
    let loaded = QaModel::<A>::load_dir(&fixture(name), &device).unwrap();
    let loss_ref = &r["loss"];
    let mut cases: Vec<(Vec<usize>, &Value)> =
        vec![((0..features.len()).collect(), &loss_ref["all_features"])];
    cases.push((
        (0..features.len()).collect(),
        &loss_ref["clamped_and_ignored"],
    ));
    for per in loss_ref["per_feature"].as_array().unwrap().iter().take(3) {
        cases.push((vec![per["feature_index"].as_u64().unwrap() as usize], per));
    }
    for (indices, case) in cases {
        let refs: Vec<&Feature> = indices.iter().map(|&i| &features[i]).collect();
        let starts: Vec<i64> = case["start_positions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        let ends: Vec<i64> = case["end_positions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        let (s, e) = loaded
            .model
            .forward(batch_input(&loaded.config, &refs, &device), false);
        let (total, sl, el) = qa_loss(s, e, &starts, &ends);
        for (got, key) in [(&total, "loss"), (&sl, "start_loss"), (&el, "end_loss")] {
            let got = got.clone().into_scalar().elem::<f64>();
            let want = case[key].as_f64().unwrap();
            assert!((got - want).abs() < 1e-4, "{name} {key}: {got} vs {want}");
        }
        let grads = total.backward();
        let model = &loaded.model;
        let mut checked = 0;
        for (key, want) in case["grad_l2_norms"].as_object().unwrap() {
            let want = want.as_f64().unwrap();
            let got = if key.ends_with("word_embeddings.weight") {
                norm(
                    model
                        .encoder()
                        .word_embeddings()
                        .val()
                        .grad(&grads)
                        .unwrap(),
                )
            } else if key.ends_with("embeddings_project.weight") {
                let projection = model.encoder().embeddings_projection().unwrap();
                norm(projection.val().grad(&grads).unwrap())
            } else if key == "qa_outputs.weight" {
                norm(model.head().qa_outputs_weight().grad(&grads).unwrap())
            } else {
                let (c1, c2, ln) = model.head().cnn_weights().unwrap();
                match key.as_str() {
                    "conv1.weight" => norm(c1.grad(&grads).unwrap()),
                    "conv2.weight" => norm(c2.grad(&grads).unwrap()),
                    "layer_norm.weight" => norm(ln.grad(&grads).unwrap()),
                    other => panic!("unexpected gradient key {other}"),
                }
            };
            assert!(
                (got - want).abs() <= 1e-4,
                "{name} grad {key}: {got} vs {want}"
            );
            checked += 1;
        }
        assert!(checked >= 2);
    }
}

#[test]
fn bert_loss_and_gradients_match_transformers() {
    check_loss("tiny-bert-qa");
}

#[test]
fn roberta_loss_and_gradients_match_transformers() {
    // RoBERTa positions (pads at `padding_idx`, whose embedding row gets no gradient).
    check_loss("tiny-roberta-qa");
}

#[test]
fn cnn_loss_and_gradients_match_reference() {
    check_loss("tiny-bert-cnn");
}

#[test]
fn electra_loss_and_gradients_match_transformers() {
    check_loss("tiny-electra-qa");
}

#[test]
fn klue_roberta_loss_and_gradients_match_transformers() {
    check_loss("tiny-klue-roberta-qa");
}

fn check_nbest(name: &str) {
    let (r, features) = check_features(name);
    let n_best = r["settings"]["n_best_size"].as_u64().unwrap() as usize;
    let max_answer_len = r["settings"]["max_answer_length"].as_u64().unwrap() as usize;
    // transformers' ranking: no length penalty, no rule of the question.
    let settings = DecodeSettings {
        n_best,
        max_answer_len,
        length_penalty: 0.0,
        year_answers: false,
    };
    let logits: Vec<(Vec<f32>, Vec<f32>)> = r["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (f32s(&t["start_logits"]), f32s(&t["end_logits"])))
        .collect();
    for (i, ex) in r["examples"].as_array().unwrap().iter().enumerate() {
        let windows: Vec<(&Feature, &[f32], &[f32])> = features
            .iter()
            .zip(&logits)
            .filter(|(f, _)| f.example_index == i)
            .map(|(f, (s, e))| (f, s.as_slice(), e.as_slice()))
            .collect();
        let id = ex["id"].as_str().unwrap();
        let ours = decode_example(ex["context"].as_str().unwrap(), &windows, settings);
        let theirs = r["nbest"][id].as_array().unwrap();
        assert_eq!(ours.len(), theirs.len(), "{name} {id}");
        for (o, t) in ours.iter().zip(theirs) {
            assert_eq!(o.text, t["text"].as_str().unwrap(), "{name} {id}");
            assert_eq!(
                o.start,
                t["start_char"].as_u64().map(|x| x as usize),
                "{name} {id}"
            );
            assert_eq!(
                o.end,
                t["end_char"].as_u64().map(|x| x as usize),
                "{name} {id}"
            );
            assert!(
                (o.score as f64 - t["score"].as_f64().unwrap()).abs() < 1e-6,
                "{name} {id} score"
            );
            assert!(
                (o.probability as f64 - t["probability"].as_f64().unwrap()).abs() < 1e-6,
                "{name} {id} probability"
            );
        }
        let predicted = ours.first().map(|c| c.text.as_str()).unwrap();
        assert_eq!(predicted, r["predictions"][id].as_str().unwrap());
    }
}

#[test]
fn nbest_decoding_matches_utils_qa() {
    for name in [
        "tiny-bert-qa",
        "tiny-roberta-qa",
        "tiny-bert-cnn",
        "tiny-electra-qa",
        "tiny-klue-roberta-qa",
    ] {
        check_nbest(name);
    }
}
