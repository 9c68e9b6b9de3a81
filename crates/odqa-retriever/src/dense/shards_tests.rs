//! Sharded dense builds: N shards merged are the unsharded `dense/` byte for byte; a shard
//! resumes; missing, mixed and stale shards are refused.

use std::path::Path;

use odqa_core::shard::Shard;

use super::build::DenseBuild;
use super::shards::{merge_shards, shard_rows};
use super::*;
use crate::sharing_tests::index_of;

const CORPUS: &str = r#"{"id": "a", "title": "가", "text": "첫째 문단이다."}
{"id": "b", "title": "나", "text": "둘째 문단이다."}
{"id": "c", "title": "다", "text": "셋째 문단이다."}
{"id": "d", "title": "라", "text": "넷째 문단이다."}
{"id": "e", "title": "마", "text": "다섯째 문단이다."}
{"id": "f", "title": "바", "text": "여섯째 문단이다."}
{"id": "g", "title": "사", "text": "일곱째 문단이다."}
"#;
const TOTAL: u64 = 7;

fn encoder(sha: &str) -> DenseEncoder {
    DenseEncoder {
        model: format!("/models/{sha}").into(),
        sha256: sha.into(),
        query_prefix: "query: ".into(),
        passage_prefix: "passage: ".into(),
        pooling: "mean".into(),
        normalized: true,
        max_len: 512,
    }
}

/// The vector of index row `i`.
fn row(i: u64) -> Vec<f32> {
    vec![i as f32 * 0.125, 1.0 - i as f32 * 0.0625, 0.5]
}

fn sum(index: &Path) -> crate::integrity::FileSum {
    super::build::index_checksum(index).unwrap()
}

/// Starts (or resumes) shard `shard` of `index` into `parts` with the encoder `sha`.
fn start(index: &Path, parts: &Path, shard: Shard, sha: &str) -> crate::Result<DenseBuild> {
    DenseBuild::start_shard(index, parts, shard, encoder(sha), 3, TOTAL, sum(index))
}

/// Computes shard `shard` of `index` into `parts` with the encoder `sha`.
fn compute(index: &Path, parts: &Path, shard: Shard, sha: &str) {
    let mut build = start(index, parts, shard, sha).unwrap();
    let first = build.first_row();
    let rows: Vec<Vec<f32>> = (first..first + build.row_count()).map(row).collect();
    build.append(&rows, 1.0).unwrap();
    build.finish_shard().unwrap();
}

#[test]
fn shards_cover_every_row_once() {
    for n in 1..=9 {
        let mut next = 0;
        for index in 0..n {
            let rows = shard_rows(TOTAL, Shard { index, count: n });
            assert_eq!(rows.start, next, "{index}/{n}");
            next = rows.end;
        }
        assert_eq!(next, TOTAL);
    }
}

#[test]
fn merged_shards_are_the_unsharded_vectors_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(dir.path(), CORPUS);
    let mut whole = DenseBuild::start(&index, encoder("e5"), 3, TOTAL, sum(&index)).unwrap();
    whole
        .append(&(0..TOTAL).map(row).collect::<Vec<_>>(), 3.0)
        .unwrap();
    whole.finish("test").unwrap();
    let expected = std::fs::read(index.join(DENSE_DIR).join(VECTORS_FILE)).unwrap();
    let whole_meta = DenseIndex::read_meta(&index).unwrap();

    for n in [1, 3, 4] {
        let parts = dir.path().join(format!("parts-{n}"));
        std::fs::create_dir(&parts).unwrap();
        // In any order, as the tasks of an array finish.
        for index_ in (0..n).rev() {
            compute(
                &index,
                &parts,
                Shard {
                    index: index_,
                    count: n,
                },
                "e5",
            );
        }
        let meta = merge_shards(&index, &parts, n, "test").unwrap();
        let got = std::fs::read(index.join(DENSE_DIR).join(VECTORS_FILE)).unwrap();
        assert_eq!(got, expected, "{n} shards");
        assert_eq!(meta.vectors, whole_meta.vectors);
        assert_eq!((meta.count, meta.dim), (TOTAL, 3));
        assert_eq!(meta.seconds, n as f64, "the shards' seconds summed");
        let opened = DenseIndex::open(&index).unwrap();
        assert_eq!(opened.vector(6).unwrap(), row(6).as_slice());
    }
}

#[test]
fn a_shard_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(dir.path(), CORPUS);
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    let shard = Shard { index: 1, count: 2 };
    let first = shard_rows(TOTAL, shard).start;
    {
        let mut build = start(&index, &parts, shard, "e5").unwrap();
        build.append(&[row(first)], 1.0).unwrap();
        // Dropped (killed) here.
    }
    let mut build = start(&index, &parts, shard, "e5").unwrap();
    assert_eq!((build.first_row(), build.rows_done()), (first, 1));
    let rest: Vec<Vec<f32>> = (first + 1..TOTAL).map(row).collect();
    build.append(&rest, 1.0).unwrap();
    build.finish_shard().unwrap();
    compute(&index, &parts, Shard { index: 0, count: 2 }, "e5");
    merge_shards(&index, &parts, 2, "test").unwrap();
    let opened = DenseIndex::open(&index).unwrap();
    for i in 0..TOTAL {
        assert_eq!(opened.vector(i).unwrap(), row(i).as_slice(), "row {i}");
    }
}

#[test]
fn missing_mixed_and_stale_shards_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let index = index_of(dir.path(), CORPUS);
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    let refused = |shards: usize, says: &str| {
        let err = merge_shards(&index, &parts, shards, "test")
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{err}");
        assert!(!DenseIndex::exists(&index), "nothing installed");
    };
    compute(&index, &parts, Shard { index: 0, count: 3 }, "e5");
    compute(&index, &parts, Shard { index: 2, count: 3 }, "e5");
    refused(3, "shard 1/3 is not finished");
    // Unfinished: started, never completed; a second task on the same shard is refused while
    // the first holds it.
    let one = Shard { index: 1, count: 3 };
    let started = start(&index, &parts, one, "e5").unwrap();
    assert!(start(&index, &parts, one, "e5").is_err());
    drop(started);
    refused(3, "shard 1/3 is not finished");
    // Another encoder.
    compute(&index, &parts, Shard { index: 1, count: 3 }, "other");
    refused(3, "another encoder");
    compute(&index, &parts, Shard { index: 1, count: 3 }, "e5");
    // Shards of another N are not this N's.
    refused(2, "shard 0/2 is not finished");
    // The index rebuilt since.
    index_of(dir.path(), &CORPUS.replace("첫째", "첫 번째"));
    refused(3, "rebuilt");
}
