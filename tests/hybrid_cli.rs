//! Dense and hybrid retrieval through the real binary: `odqa index-dense` on the sample KorQuAD
//! contexts with the tiny fixture encoder (its vectors are arbitrary but deterministic, so the
//! tests check the plumbing: the fused order is the reciprocal-rank fusion of the BM25 and dense
//! lists the binary prints, every command takes `--retriever`, errors are clear).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{assert_exit_2, odqa, path_str, read_json, repo, stderr, stdout};

const TINY: &str = "tests/fixtures/reader-parity/tiny-bert-qa";
const QUESTION: &str = "임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배된 연도는?";

fn sample() -> PathBuf {
    repo().join("corpus/korquad-sample.json")
}

fn build(dir: &Path) -> PathBuf {
    common::sample::index_into(&dir.join("index"))
}

fn embed(index: &Path) -> serde_json::Value {
    let model = repo().join(TINY);
    let out = odqa(&[
        "index-dense",
        "--index",
        path_str(index),
        "--model",
        path_str(&model),
        "--dense-max-len",
        "128",
        "--dense-chunk",
        "7",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn retrieve(index: &Path, k: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["retrieve", "--index", path_str(index), "-k", k, "--json"];
    args.extend(extra);
    args.push(QUESTION);
    let out = odqa(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn hybrid_is_the_rank_fusion_of_the_two_lists_the_binary_prints() {
    let dir = tempfile::tempdir().unwrap();
    let index = build(dir.path());
    let out = odqa(&[
        "retrieve",
        "--index",
        path_str(&index),
        "--retriever",
        "dense",
        "x",
    ]);
    assert_exit_2(&out, &["odqa index-dense"]);

    let summary = embed(&index);
    let meta = read_json(&index.join("odqa-index.json"));
    assert_eq!(summary["passages"], meta["unique_texts"]);
    assert_eq!(summary["dim"], 32);

    let bm25 = retrieve(&index, "100", &[]);
    let dense = retrieve(&index, "100", &["--retriever", "dense"]);
    assert_eq!(dense["retriever"], "dense");
    let scores: Vec<f64> = dense["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["dense_score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // Reciprocal-rank fusion (c = 10 here), computed from the two printed lists.
    let mut fused: HashMap<String, (f64, usize)> = HashMap::new();
    for list in [&bm25, &dense] {
        for (rank, id) in ids(list).into_iter().enumerate() {
            let e = fused.entry(id).or_insert((0.0, usize::MAX));
            e.0 += 1.0 / (10.0 + rank as f64 + 1.0);
            e.1 = e.1.min(rank);
        }
    }
    let mut want: Vec<(String, (f64, usize))> = fused.into_iter().collect();
    want.sort_by(|a, b| {
        b.1 .0
            .total_cmp(&a.1 .0)
            .then(a.1 .1.cmp(&b.1 .1))
            .then(a.0.cmp(&b.0))
    });
    let want: Vec<String> = want.into_iter().take(5).map(|(id, _)| id).collect();
    let hybrid = retrieve(
        &index,
        "5",
        &[
            "--retriever",
            "hybrid",
            "--rrf-c",
            "10",
            "--dense-depth",
            "100",
        ],
    );
    assert_eq!(hybrid["retriever"], "hybrid");
    assert_eq!(ids(&hybrid), want);
    // The depth is checked against the k asked for, not a default.
    let shallow = retrieve(
        &index,
        "5",
        &["--retriever", "hybrid", "--dense-depth", "10"],
    );
    assert_eq!(shallow["hits"].as_array().unwrap().len(), 5);
    // The text output shows both retrievers' scores in the wording of `ask` and the page.
    let out = odqa(&[
        "retrieve",
        "--index",
        path_str(&index),
        "-k",
        "3",
        "--retriever",
        "hybrid",
        QUESTION,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = stdout(&out).lines().next().unwrap().to_string();
    assert!(
        first.contains("(BM25 ") && first.contains(" · dense 0."),
        "{first}"
    );
    let out = odqa(&[
        "retrieve",
        "--index",
        path_str(&index),
        "-k",
        "20",
        "--retriever",
        "hybrid",
        "--dense-depth",
        "10",
        QUESTION,
    ]);
    assert_exit_2(&out, &["dense_depth must be at least top_k 20"]);
    // tune checks it at the largest k of its grid, before reading anything.
    let model = repo().join(TINY);
    let best = index.parent().unwrap().join("best.toml");
    let out = odqa(&[
        "tune",
        "--index",
        path_str(&index),
        "--model",
        path_str(&model),
        "--data",
        path_str(&sample()),
        "--top-k",
        "1,5",
        "--retriever",
        "hybrid",
        "--dense-depth",
        "3",
        "--out",
        path_str(&best),
    ]);
    assert_exit_2(&out, &["dense_depth must be at least top_k 5"]);
    assert!(!best.exists());
    assert!(hybrid["hits"][0]["dense_score"].is_number());

    // Recall evaluation and reading take the retriever too.
    let out = odqa(&[
        "eval",
        "retrieval",
        "--index",
        path_str(&index),
        "--data",
        path_str(&sample()),
        "--top-k",
        "1,5",
        "--retriever",
        "hybrid",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (report["retriever"].as_str(), report["failed"].as_u64()),
        (Some("hybrid"), Some(0))
    );
    let model = repo().join(TINY);
    let preds = dir.path().join("p.json");
    // Small windows, three passages, dense retrieval: the reading settings of predict and ask below.
    let reading = [
        "--max-seq-len",
        "128",
        "--doc-stride",
        "32",
        "--top-k",
        "3",
        "--retriever",
        "dense",
    ];
    let (index_arg, model_arg, questions) = (path_str(&index), path_str(&model), sample());
    let mut args = vec!["predict", "--index", index_arg, "--model", model_arg];
    args.extend([
        "--questions",
        path_str(&questions),
        "--out",
        path_str(&preds),
    ]);
    let out = odqa(&[&args[..], &reading[..]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(read_json(&preds).as_object().unwrap().len() > 10);
    // The passages read are the dense ones, with their scores.
    let ask_dense = |json: bool| {
        let mut args = vec!["ask", "--index", index_arg, "--model", model_arg];
        args.extend(reading);
        args.push(QUESTION);
        if json {
            args.push("--json");
        }
        odqa(&args)
    };
    let out = ask_dense(true);
    assert!(out.status.success(), "{}", stderr(&out));
    let asked: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let read: Vec<String> = asked["passages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(read, ids(&dense)[..3]);
    let first = &asked["passages"][0];
    let cosine = first["dense_score"].as_f64().unwrap();
    // Dense passages are weighed on BM25's scale: 100 × the cosine.
    assert!(
        (first["score"].as_f64().unwrap() - 100.0 * cosine).abs() < 1e-3,
        "{first}"
    );
    // The text output names the retriever's own score, not that number as a BM25 score.
    let out = ask_dense(false);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let evidence = text.lines().find(|l| l.contains("passage #")).unwrap();
    assert!(evidence.contains("(dense "), "{text}");
    assert!(!text.contains("BM25"), "{text}");
}

#[test]
fn another_encoder_and_a_rebuilt_index_are_refused_with_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let index = build(dir.path());
    embed(&index);
    let other = repo().join("tests/fixtures/reader-parity/tiny-roberta-qa");
    let out = odqa(&[
        "retrieve",
        "--index",
        path_str(&index),
        "--retriever",
        "hybrid",
        "--dense-model",
        path_str(&other),
        QUESTION,
    ]);
    assert_exit_2(&out, &["is not the encoder that computed"]);
    // `odqa index` replaces the whole index: the vectors of the old build go with it.
    build(dir.path());
    let out = odqa(&[
        "retrieve",
        "--index",
        path_str(&index),
        "--retriever",
        "dense",
        QUESTION,
    ]);
    assert_exit_2(&out, &["no dense vectors"]);
}

#[test]
fn index_with_dense_builds_both_in_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let model = repo().join(TINY);
    let out = odqa(&[
        "index",
        "--corpus",
        path_str(&sample()),
        "--index",
        path_str(&index),
        "--dense",
        path_str(&model),
        "--dense-max-len",
        "128",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // One JSON object: the index's summary with the vectors' inside.
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["dense"]["passages"], summary["unique_texts"]);
    let dense = read_json(&index.join("dense/dense.json"));
    assert_eq!(
        dense["count"],
        read_json(&index.join("odqa-index.json"))["unique_texts"]
    );
    assert_eq!(dense["encoder"]["max_len"], 128);
}
