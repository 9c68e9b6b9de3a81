use std::io::Write;

use odqa_core::split::SplitMode;

use super::*;
use crate::search::Retriever;

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(content)
        .unwrap();
    path
}

fn opts() -> BuildOptions {
    BuildOptions {
        threads: 1,
        memory_budget: 20 << 20,
        ..BuildOptions::default()
    }
}

const CORPUS: &str = r#"{"id": "p1", "title": "대한민국", "text": "대한민국의 수도는 서울특별시이다.", "url": "u1"}
{"id": "p2", "title": "일본", "text": "일본의 수도는 도쿄이다."}
{"id": "p3", "title": "대한민국 (동음이의)", "text": "대한민국의 수도는 서울특별시이다."}
{"id": "p4", "title": "부산", "text": "부산광역시는 대한민국 제2의 도시이자 최대의 항구 도시이다."}
"#;

#[test]
fn builds_dedups_and_retrieves() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.jsonl", CORPUS.as_bytes());
    let index = dir.path().join("idx");
    let summary = build_index(&[corpus], &index, &opts(), &CancelToken::new()).unwrap();
    assert_eq!(
        summary.meta.analyzer.language,
        Language::Ko,
        "auto-detected"
    );
    assert_eq!(
        (
            summary.meta.passages,
            summary.meta.unique_texts,
            summary.duplicate_texts
        ),
        (4, 3, 1)
    );

    let retriever = Retriever::open(&index).unwrap();
    let hits = retriever.search("대한민국의 수도는?", 3).unwrap();
    assert_eq!(hits[0].id, "p1");
    assert_eq!(hits[0].meta.get("url").and_then(|v| v.as_str()), Some("u1"));
    assert_eq!(hits[0].duplicates.len(), 1);
    assert_eq!(hits[0].duplicates[0].id, "p3");
    // The duplicate stays resolvable by its own id, with its own title.
    let p3 = retriever.get("p3").unwrap().unwrap();
    assert_eq!(
        (p3.id.as_str(), p3.title.as_str()),
        ("p3", "대한민국 (동음이의)")
    );
    assert_eq!(p3.text, "대한민국의 수도는 서울특별시이다.");
    assert!(retriever.get("nope").unwrap().is_none());
    // Particles: "대한민국은" finds "대한민국의" passages through the stripped word and bigrams.
    let hits = retriever.search("대한민국은", 5).unwrap();
    assert!(hits.iter().any(|h| h.id == "p4"));
}

#[test]
fn any_question_text_works() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.jsonl", CORPUS.as_bytes());
    let index = dir.path().join("idx");
    build_index(&[corpus], &index, &opts(), &CancelToken::new()).unwrap();
    let retriever = Retriever::open(&index).unwrap();
    for q in [
        "\"도쿄\"",
        "수도: (일본) AND -x ^2 ~ * OR",
        "title:일본",
        "일본][",
    ] {
        let hits = retriever.search(q, 2).unwrap();
        assert_eq!(hits[0].id, "p2", "{q}");
    }
    assert!(matches!(
        retriever.search("   ", 2),
        Err(RetrieverError::EmptyQuestion)
    ));
    assert!(matches!(
        retriever.search("?!", 2),
        Err(RetrieverError::NoSearchableWords { ref question }) if question == "?!"
    ));
    let batch = retriever.search_batch(&["일본", "부산", ""], 1);
    assert_eq!(batch[0].as_ref().unwrap()[0].id, "p2");
    assert_eq!(batch[1].as_ref().unwrap()[0].id, "p4");
    assert!(batch[2].is_err());
}

#[test]
fn malformed_line_leaves_no_index_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.jsonl", CORPUS.as_bytes());
    let bad = write(
        dir.path(),
        "bad.jsonl",
        b"{\"id\":\"1\",\"text\":\"a\"}\n{\"id\":\"2\",\"text\":\"b\"}\n{\"id\":\"3\",\n",
    );
    let index = dir.path().join("idx");
    // No previous index: nothing is left behind, not even a temporary directory.
    let err = build_index(
        std::slice::from_ref(&bad),
        &index,
        &opts(),
        &CancelToken::new(),
    )
    .unwrap_err();
    assert!(err.is_bad_input());
    assert!(err.to_string().contains("bad.jsonl:3"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    // A previous index survives a failed rebuild untouched.
    build_index(&[good], &index, &opts(), &CancelToken::new()).unwrap();
    let before = std::fs::read(index.join(META_FILE)).unwrap();
    build_index(&[bad], &index, &opts(), &CancelToken::new()).unwrap_err();
    assert_eq!(std::fs::read(index.join(META_FILE)).unwrap(), before);
    assert_eq!(Retriever::open(&index).unwrap().num_passages(), 3);
}

#[test]
fn refuses_to_replace_a_directory_that_is_not_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.jsonl", CORPUS.as_bytes());
    let target = dir.path().join("precious");
    std::fs::create_dir(&target).unwrap();
    write(&target, "thesis.txt", b"do not delete");
    let err = build_index(&[corpus], &target, &opts(), &CancelToken::new()).unwrap_err();
    assert!(err.to_string().contains("not an odqa index"), "{err}");
    assert!(target.join("thesis.txt").exists());
}

#[test]
fn cancelled_build_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.jsonl", CORPUS.as_bytes());
    let index = dir.path().join("idx");
    let cancel = CancelToken::new();
    cancel.cancel();
    let err = build_index(&[corpus], &index, &opts(), &cancel).unwrap_err();
    assert!(matches!(err, RetrieverError::Interrupted));
    assert!(!index.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn duplicate_ids_fail_or_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(
        dir.path(),
        "d.jsonl",
        b"{\"id\":\"a\",\"text\":\"one\"}\n{\"id\":\"a\",\"text\":\"one\"}\n{\"id\":\"a\",\"text\":\"two\"}\n{\"id\":\"b\",\"text\":\"three\"}\n",
    );
    let index = dir.path().join("idx");
    let err = build_index(
        std::slice::from_ref(&corpus),
        &index,
        &opts(),
        &CancelToken::new(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        err.is_bad_input() && msg.contains("d.jsonl:3") && msg.contains("duplicate id \"a\""),
        "{msg}"
    );
    assert!(
        msg.contains("first seen at") && msg.contains("d.jsonl:1"),
        "{msg}"
    );
    assert!(!index.exists());
    let lenient = BuildOptions {
        skip_invalid: true,
        ..opts()
    };
    let summary = build_index(&[corpus], &index, &lenient, &CancelToken::new()).unwrap();
    assert_eq!(
        (summary.repeated, summary.skipped, summary.meta.unique_texts),
        (1, 1, 2)
    );
    assert!(summary.warnings.iter().any(|w| w.contains("duplicate id")));
}

#[test]
fn empty_corpus_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "e.jsonl", b"{\"id\":\"a\",\"text\":\"  \"}\n\n");
    let err = build_index(
        &[corpus],
        &dir.path().join("idx"),
        &opts(),
        &CancelToken::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("nothing to index"), "{err}");
}

#[test]
fn huge_document_is_indexed_whole_with_a_warning_or_split() {
    let dir = tempfile::tempdir().unwrap();
    // ~10 MB: 1.2 M words of mixed Hangul and Latin, one needle near the end.
    let mut text = "가나다라 마바사 abc ".repeat(700_000);
    text.push_str("유일무이한바늘");
    let line = serde_json::json!({"id": "big", "title": "큰 문서", "text": text}).to_string();
    let corpus = write(
        dir.path(),
        "big.jsonl",
        format!("{line}\n{{\"id\":\"s\",\"text\":\"작은 문서\"}}\n").as_bytes(),
    );
    assert!(std::fs::metadata(&corpus).unwrap().len() > 10_000_000);
    let index = dir.path().join("idx");
    let summary = build_index(
        std::slice::from_ref(&corpus),
        &index,
        &opts(),
        &CancelToken::new(),
    )
    .unwrap();
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.contains("consider splitting")),
        "{:?}",
        summary.warnings
    );
    let retriever = Retriever::open(&index).unwrap();
    assert_eq!(retriever.search("유일무이한바늘", 1).unwrap()[0].id, "big");

    let split = BuildOptions {
        split: Some(SplitMode::Chars {
            size: 2000,
            overlap: 200,
        }),
        ..opts()
    };
    let summary = build_index(&[corpus], &index, &split, &CancelToken::new()).unwrap();
    assert!(summary.meta.passages > 5000);
    let retriever = Retriever::open(&index).unwrap();
    let hit = &retriever.search("유일무이한바늘", 1).unwrap()[0];
    assert!(hit.id.starts_with("big#") && hit.doc_id == "big" && hit.char_offset > 0);
    assert!(hit.text.ends_with("유일무이한바늘"));
}

/// Passages of equal score come in corpus order, however the build's threads divided the corpus
/// into segments (before `corpus_order`, the order of a merged segment's documents decided).
#[test]
fn equal_scores_rank_in_corpus_order_with_any_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    // Every passage holds "apple" once among two words: the same score for the query "apple".
    let n = 3000;
    let corpus: String = (0..n)
        .map(|i| format!("{{\"id\": \"p{i}\", \"text\": \"apple w{i}x\"}}\n"))
        .collect();
    let corpus = write(dir.path(), "c.jsonl", corpus.as_bytes());
    let expected: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
    for threads in [1, 4] {
        let opts = BuildOptions {
            language: LanguageChoice::Fixed(Language::En),
            threads,
            memory_budget: 80 << 20,
            ..opts()
        };
        let index = dir.path().join(format!("idx-{threads}"));
        build_index(
            std::slice::from_ref(&corpus),
            &index,
            &opts,
            &CancelToken::new(),
        )
        .unwrap();
        let hits = Retriever::open(&index).unwrap().search("apple", n).unwrap();
        assert!(hits.windows(2).all(|w| w[0].score == w[1].score));
        let ids: Vec<String> = hits.into_iter().map(|h| h.id).collect();
        assert!(ids == expected, "{threads} threads: {:?}", &ids[..20]);
    }
}

#[test]
fn recall_evaluation_reports_progress_and_stops_when_cancelled() {
    use crate::eval::evaluate_recall;
    use odqa_core::control::{Observer, Unobserved};
    use odqa_core::squad::{Answer, QaExample};
    use std::sync::Mutex;

    /// Keeps every progress report.
    struct Reports(Mutex<Vec<(usize, usize)>>);
    impl Observer for Reports {
        fn progress(&self, done: usize, total: usize) {
            self.0.lock().unwrap().push((done, total));
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let corpus = write(dir.path(), "c.jsonl", CORPUS.as_bytes());
    let index = dir.path().join("idx");
    build_index(&[corpus], &index, &opts(), &CancelToken::new()).unwrap();
    let retriever = Retriever::open(&index).unwrap();
    let example = |id: &str, question: &str, answer: &str, title: &str| QaExample {
        id: id.into(),
        question: question.into(),
        title: title.into(),
        context: String::new(),
        answers: vec![Answer {
            text: answer.into(),
            answer_start: 0,
        }],
    };
    let examples = [
        example("q1", "대한민국의 수도는?", "서울특별시", "대한민국"),
        example("q2", "일본의 수도는?", "도쿄", "일본"),
    ];

    let reports = Reports(Mutex::new(Vec::new()));
    let report = evaluate_recall(&retriever, &examples, &[1], &reports).unwrap();
    assert_eq!(report.answer_recall[&1], 1.0);
    let mut seen = reports.0.into_inner().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, [(1, 2), (2, 2)]);
    let unobserved = evaluate_recall(&retriever, &examples, &[1], &Unobserved).unwrap();
    assert_eq!(unobserved.answer_recall, report.answer_recall);

    let cancel = CancelToken::new();
    cancel.cancel();
    let err = evaluate_recall(&retriever, &examples, &[1], &cancel).unwrap_err();
    assert!(matches!(err, RetrieverError::Interrupted));
}

#[test]
fn a_corpus_inside_the_index_it_would_replace_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "c.jsonl", CORPUS.as_bytes());
    let index = dir.path().join("idx");
    build_index(&[first], &index, &opts(), &CancelToken::new()).unwrap();
    // A corpus kept inside the index directory: the replacement would delete it.
    let inside = write(&index, "corpus.jsonl", CORPUS.as_bytes());
    let spelled = index.join("..").join("idx").join("corpus.jsonl");
    let err = build_index(&[spelled], &index, &opts(), &CancelToken::new()).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
    assert!(err.to_string().contains("corpus.jsonl"), "{err}");
    assert!(inside.exists(), "the corpus is still there");
}
