//! [`Embedder`]: mean-pooled, unit-length sentence vectors equal to sentence-transformers' on the
//! tiny BERT and RoBERTa fixtures (tests/fixtures/reader-parity/*/embeddings.json, from
//! tools/fixtures/make_embedding_parity.py), the same ids as transformers' tokenizer, and vectors
//! that do not depend on the batch they were computed in.

#![allow(clippy::unwrap_used)]

mod common;

use burn::backend::Flex;
use odqa_core::control::Unobserved;
use odqa_reader::embed::Embedder;

/// The reference: texts, their token ids and their vectors.
struct Reference {
    max_len: usize,
    texts: Vec<String>,
    ids: Vec<Vec<u32>>,
    vectors: Vec<Vec<f32>>,
}

fn reference(model: &str) -> Reference {
    let path = common::fixture(model).join("embeddings.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let list = |key: &str| json[key].as_array().unwrap().clone();
    Reference {
        max_len: json["max_len"].as_u64().unwrap() as usize,
        texts: list("texts")
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect(),
        ids: list("input_ids")
            .iter()
            .map(|r| serde_json::from_value(r.clone()).unwrap())
            .collect(),
        vectors: list("embeddings")
            .iter()
            .map(|r| serde_json::from_value(r.clone()).unwrap())
            .collect(),
    }
}

fn check(model: &str) {
    let r = reference(model);
    let embedder =
        Embedder::<Flex>::load(&common::fixture(model), r.max_len, &Default::default()).unwrap();
    for (text, ids) in r.texts.iter().zip(&r.ids) {
        assert_eq!(&embedder.token_ids(text).unwrap(), ids, "{model}: {text}");
    }
    for batch_size in [1, 4, 16] {
        let got = embedder.embed(&r.texts, batch_size, &Unobserved).unwrap();
        assert_eq!(got.len(), r.texts.len());
        for ((text, want), got) in r.texts.iter().zip(&r.vectors).zip(&got) {
            assert_eq!(
                (got.len(), want.len()),
                (embedder.dim(), embedder.dim()),
                "{text}"
            );
            let diff = want
                .iter()
                .zip(got)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                diff < 1e-5,
                "{model} batch {batch_size}: {text}: max |Δ| {diff}"
            );
        }
    }
}

#[test]
fn bert_vectors_match_sentence_transformers() {
    check("tiny-bert-qa");
}

#[test]
fn roberta_vectors_match_sentence_transformers() {
    check("tiny-roberta-qa");
}

#[test]
fn a_token_limit_beyond_the_positions_is_refused() {
    let err = Embedder::<Flex>::load(&common::fixture("tiny-bert-qa"), 4096, &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("4096") && err.contains("1 to 128"), "{err}");
}
