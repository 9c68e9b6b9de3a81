//! The dense store and dense/hybrid search on a small index, with a toy question encoder (a
//! vector per known question): rows follow corpus order, a killed build resumes where it synced,
//! a changed encoder or a rebuilt index starts over or is refused, a damaged vectors file is
//! named, and dense and hybrid lists rank as their scores say.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::build::{DenseBuild, PARTIAL_DIR};
use super::*;
use crate::fusion::{Fusion, RetrieverMode};
use crate::search::{DenseSettings, QueryEncoder, Retriever};
use crate::sharing_tests::index_of;

const CORPUS: &str = r#"{"id": "p1", "title": "대한민국", "text": "대한민국의 수도는 서울특별시이다."}
{"id": "p2", "title": "일본", "text": "일본의 수도는 도쿄이다."}
{"id": "p3", "title": "부산", "text": "부산광역시는 대한민국 제2의 도시이자 최대의 항구 도시이다."}
{"id": "p4", "title": "도쿄", "text": "도쿄는 일본의 수도이며 최대 도시이다."}
"#;

fn index() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(dir.path(), CORPUS);
    (dir, index)
}

fn sum(index: &Path) -> crate::integrity::FileSum {
    super::build::index_checksum(index).unwrap()
}

fn encoder(name: &str) -> DenseEncoder {
    DenseEncoder {
        model: PathBuf::from(name),
        sha256: format!("sha-of-{name}"),
        query_prefix: "query: ".into(),
        passage_prefix: "passage: ".into(),
        pooling: "mean".into(),
        normalized: true,
        max_len: 512,
    }
}

/// Row `i` is the unit vector along axis `i` rotated a little towards axis 3.
fn row(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; 4];
    v[i % 4] = 0.96;
    v[3] += 0.28;
    v
}

fn write_all(index: &Path) {
    let mut build = DenseBuild::start(index, encoder("e5"), 4, 4, sum(index)).unwrap();
    build
        .append(&(0..4).map(row).collect::<Vec<_>>(), 1.0)
        .unwrap();
    build.finish("test").unwrap();
}

#[test]
fn a_killed_build_resumes_and_rows_follow_corpus_order() {
    let (_dir, index) = index();
    let mut first = DenseBuild::start(&index, encoder("e5"), 4, 4, sum(&index)).unwrap();
    first.append(&[row(0), row(1)], 2.0).unwrap();
    // Bytes past the synced rows (a write the kill cut short) are dropped on resume.
    drop(first);
    let partial = index.join(PARTIAL_DIR).join(VECTORS_FILE);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&partial)
        .unwrap();
    std::io::Write::write_all(&mut f, &[1, 2, 3]).unwrap();
    let mut again = DenseBuild::start(&index, encoder("e5"), 4, 4, sum(&index)).unwrap();
    assert_eq!(again.rows_done(), 2);
    again.append(&[row(2), row(3)], 1.0).unwrap();
    let meta = again.finish("test").unwrap();
    assert_eq!((meta.count, meta.dim, meta.seconds), (4, 4, 3.0));
    assert!(!index.join(PARTIAL_DIR).exists());
    let dense = DenseIndex::open(&index).unwrap();
    for i in 0..4 {
        let got = dense.vector(i as u64).unwrap();
        let want = row(i);
        assert!(
            got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-3),
            "{got:?}"
        );
    }
    // Row i is the passage of corpus order i.
    let retriever = Retriever::open(&index).unwrap();
    let ids: Vec<String> = (0..4)
        .map(|i| retriever.hit_by_order(i, 1, 0.0).unwrap().id)
        .collect();
    assert_eq!(ids, ["p1", "p2", "p3", "p4"]);
}

#[test]
fn another_encoder_starts_over_and_a_second_build_is_refused() {
    let (_dir, index) = index();
    let mut first = DenseBuild::start(&index, encoder("e5"), 4, 4, sum(&index)).unwrap();
    first.append(&[row(0)], 1.0).unwrap();
    let err = DenseBuild::start(&index, encoder("e5"), 4, 4, sum(&index))
        .err()
        .unwrap();
    assert!(err.to_string().contains("another process"), "{err}");
    drop(first);
    let other = DenseBuild::start(&index, encoder("other"), 4, 4, sum(&index)).unwrap();
    assert_eq!(other.rows_done(), 0);
    assert!(other
        .finish("test")
        .unwrap_err()
        .to_string()
        .contains("0 of 4"));
}

#[test]
fn damage_and_a_rebuilt_index_are_refused() {
    let (dir, index) = index();
    let missing = DenseIndex::open(&index).err().unwrap().to_string();
    assert!(missing.contains("odqa index-dense"), "{missing}");
    write_all(&index);
    let vectors = index.join(DENSE_DIR).join(VECTORS_FILE);
    let mut bytes = std::fs::read(&vectors).unwrap();
    bytes[5] ^= 0x40;
    std::fs::write(&vectors, &bytes).unwrap();
    let err = DenseIndex::open(&index).err().unwrap().to_string();
    assert!(
        err.contains("vectors.f16") && err.contains("checksum"),
        "{err}"
    );
    write_all(&index);
    assert!(DenseIndex::open(&index).is_ok());
    // A new build of the BM25 index (same place) makes the vectors stale.
    index_of(dir.path(), &CORPUS.replace("도쿄이다", "도쿄다"));
    assert!(
        !DenseIndex::exists(&index),
        "a rebuilt index has no dense/ any more"
    );
}

/// Questions map to fixed vectors.
struct Toy;

impl QueryEncoder for Toy {
    fn encode(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, String> {
        texts
            .iter()
            .map(|t| match t.as_str() {
                "query: 일본의 수도는?" => Ok(vec![0.0, 0.0, 0.2, 0.98]),
                "query: 부산" => Ok(vec![0.0, 0.0, 1.0, 0.0]),
                other => Err(format!("unknown question {other}")),
            })
            .collect()
    }
}

fn with_mode(index: &Path, mode: RetrieverMode, fusion: Fusion) -> Retriever {
    let settings = DenseSettings {
        mode,
        fusion,
        depth: 4,
    };
    Retriever::open(index)
        .unwrap()
        .with_dense(DenseIndex::open(index).unwrap(), Arc::new(Toy), settings)
        .unwrap()
}

#[test]
fn dense_and_hybrid_rank_as_their_scores_say() {
    let (_dir, index) = index();
    write_all(&index);
    let dense = with_mode(&index, RetrieverMode::Dense, Fusion::default());
    let hits = dense.search("일본의 수도는?", 4).unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    // Scores: p4 (axis 3) .96·.98 + .28·.98…; p3 (axis 2) .96·.2 + .28·.98; the rest .28·.98.
    assert_eq!(ids[..2], ["p4", "p3"]);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(hits
        .iter()
        .all(|h| h.dense_score == Some(h.score) && h.bm25_score.is_none()));

    let bm25 = Retriever::open(&index)
        .unwrap()
        .search("일본의 수도는?", 4)
        .unwrap();
    let hybrid = with_mode(&index, RetrieverMode::Hybrid, Fusion::Rrf { c: 60.0 });
    let fused = hybrid.search("일본의 수도는?", 4).unwrap();
    let bm25_ranks: Vec<(&str, f32)> = bm25.iter().map(|h| (h.id.as_str(), h.score)).collect();
    let dense_ranks: Vec<(&str, f32)> = hits.iter().map(|h| (h.id.as_str(), h.score)).collect();
    let want = crate::fusion::fuse(&bm25_ranks, &dense_ranks, Fusion::Rrf { c: 60.0 });
    let got: Vec<&str> = fused.iter().map(|h| h.id.as_str()).collect();
    let want: Vec<&str> = want.iter().map(|f| f.key).collect();
    assert_eq!(got, want);
    assert!(fused.iter().all(|h| h.dense_score.is_some()));
    // The batch path gives the same lists; an encoder error is the question's error.
    let batch = hybrid.search_batch(&["일본의 수도는?", "부산"], 4);
    assert_eq!(batch[0].as_ref().unwrap(), &fused);
    assert_eq!(batch[1].as_ref().unwrap()[0].id, "p3");
    let err = hybrid.search("서울", 2).unwrap_err().to_string();
    assert!(err.contains("unknown question"), "{err}");
    let batch = hybrid.search_batch(&["부산", "서울"], 2);
    let err = batch[0].as_ref().unwrap_err().to_string();
    assert_eq!(err.matches("cannot encode").count(), 1, "{err}");
    // A huge k is clamped to the passages there are.
    assert_eq!(dense.search("부산", usize::MAX).unwrap().len(), 4);
}

#[test]
fn a_vectors_file_shorter_than_its_progress_resumes_at_its_whole_rows() {
    let (_dir, index) = index();
    let mut first = DenseBuild::start(&index, encoder("e5"), 4, 4, sum(&index)).unwrap();
    first.append(&[row(0), row(1), row(2)], 1.0).unwrap();
    drop(first);
    // A file that lost its tail (progress.json says 3 rows): 1 whole row and a piece are left.
    let partial = index.join(PARTIAL_DIR).join(VECTORS_FILE);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&partial)
        .unwrap();
    f.set_len(8 + 5).unwrap();
    // Moving the model directory (same weights and settings) keeps the progress.
    let moved = DenseEncoder {
        model: PathBuf::from("/elsewhere/e5"),
        ..encoder("e5")
    };
    let mut again = DenseBuild::start(&index, moved, 4, 4, sum(&index)).unwrap();
    assert_eq!(again.rows_done(), 1);
    again.append(&[row(1), row(2), row(3)], 1.0).unwrap();
    let meta = again.finish("test").unwrap();
    assert_eq!(
        meta.encoder.model,
        PathBuf::from("/elsewhere/e5"),
        "recorded where it is now"
    );
    let dense = DenseIndex::open(&index).unwrap();
    assert!((dense.vector(3).unwrap()[3] - row(3)[3]).abs() < 1e-3);
    assert!(!index.join(DENSE_DIR).join("progress.json").exists());
}

#[test]
fn an_index_rebuilt_after_it_was_opened_is_refused() {
    let (dir, index) = index();
    let opened = sum(&index);
    index_of(dir.path(), &CORPUS.replace("도쿄이다", "도쿄다"));
    let err = DenseBuild::start(&index, encoder("e5"), 4, 4, opened)
        .err()
        .unwrap();
    assert!(err.to_string().contains("rebuilt"), "{err}");
}
