//! Property tests of the readers: the corpus readers (JSONL, wikipedia_documents.json, SQuAD), the
//! question readers (JSONL, SQuAD, the competition's Arrow folder), the predictions reader and the
//! passage splitter, on valid files after random edits (odqa-testkit). Every input either reads or
//! fails with an error naming the file: no panic, and what is read is consistent.
//!
//! `scripts/fuzz-long.sh` is the long run (100,000 cases per target, in release).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use odqa_core::corpus::{read_corpus, ReadOptions, Record};
use odqa_core::predictions::read_predictions;
use odqa_core::questions::read_questions;
use odqa_core::split::{split, SplitMode};
use odqa_core::text::char_len;
use odqa_testkit::{names_file, temp_file as file};
use proptest::prelude::*;

const JSONL_CORPUS: &[u8] =
    "{\"id\": \"a\", \"title\": \"서울\", \"text\": \"서울특별시는 대한민국의 수도이다.\"}\n\
{\"id\": \"b\", \"text\": \"Seoul is big.\", \"url\": \"x\", \"n\": 1}\n\
{\"title\": \"빈 id\", \"text\": \"  한강이 흐른다. \\n 둘째 줄\"}\n"
        .as_bytes();
const WIKI_DOCUMENTS: &[u8] = "{\"0\": {\"text\": \"서울특별시는 대한민국의 수도이다.\", \"corpus_source\": \"위키피디아\", \
\"url\": \"TODO\", \"domain\": null, \"title\": \"서울\", \"author\": null, \"html\": null, \"document_id\": 0}, \
\"1\": {\"text\": \"Seoul is big.\", \"title\": \"Seoul\", \"document_id\": 1}}"
    .as_bytes();
const SQUAD: &[u8] = "{\"version\": \"1\", \"data\": [{\"title\": \"서울\", \"paragraphs\": [{\"context\": \
\"서울은 대한민국의 수도이다.\", \"qas\": [{\"id\": \"q1\", \"question\": \"대한민국의 수도는?\", \
\"answers\": [{\"text\": \"서울\", \"answer_start\": 0}]}, {\"id\": \"q2\", \"question\": \"어디?\", \
\"answers\": []}]}]}]}"
    .as_bytes();
const QUESTIONS_JSONL: &[u8] = "{\"id\": \"q1\", \"question\": \"대한민국의 수도는?\"}\n\
{\"id\": \"q2\", \"question\": \"Where?\", \"answers\": [\"서울\"]}\n\
{\"id\": \"q3\", \"question\": \"x\", \"answers\": [{\"text\": \"y\", \"answer_start\": 3}]}\n"
    .as_bytes();
const PREDICTIONS: &[u8] =
    "{\"q1\": \"서울\", \"q2\": \"\", \"q3\": \"1948년 8월 15일\"}".as_bytes();

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The committed competition test_dataset folder's Arrow file.
fn arrow_seed() -> &'static [&'static [u8]] {
    static SEED: OnceLock<Vec<&'static [u8]>> = OnceLock::new();
    SEED.get_or_init(|| {
        let bytes = std::fs::read(repo(
            "tests/fixtures/competition-test-dataset/validation/dataset.arrow",
        ))
        .unwrap();
        vec![Box::leak(bytes.into_boxed_slice())]
    })
}

/// Records of a corpus file that reads.
fn count_records(path: &Path) -> usize {
    let mut n = 0;
    read_corpus(
        path,
        ReadOptions::default(),
        &mut |_| {
            n += 1;
            Ok(())
        },
        &mut |_| {},
    )
    .unwrap();
    n
}

/// Reads a corpus both ways (failing and skipping); checks what a reader promises.
fn check_corpus(name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let (_dir, path) = file(name, bytes);
    for skip_invalid in [false, true] {
        let mut records: Vec<Record> = Vec::new();
        let mut skipped = Vec::new();
        let result = read_corpus(
            &path,
            ReadOptions {
                skip_invalid,
                ..ReadOptions::default()
            },
            &mut |r| {
                records.push(r);
                Ok(())
            },
            &mut |e| skipped.push(e.to_string()),
        );
        match result {
            Ok(summary) => {
                prop_assert_eq!(summary.records as usize, records.len());
                prop_assert_eq!(summary.skipped as usize, skipped.len());
                for r in &records {
                    prop_assert!(!r.text.trim().is_empty(), "empty text handed on: {:?}", r);
                    prop_assert!(!r.id.is_empty(), "empty id: {:?}", r);
                    check_windows(&r.text)?;
                }
            }
            Err(e) => names_file(&e.to_string(), &path)?,
        }
        for s in &skipped {
            names_file(s, &path)?;
        }
    }
    Ok(())
}

/// The splitter's windows are slices of the text at their character offsets, in order, covering it.
fn check_windows(text: &str) -> Result<(), TestCaseError> {
    let chars: Vec<char> = text.chars().collect();
    for mode in [
        SplitMode::Chars {
            size: 7,
            overlap: 2,
        },
        SplitMode::Words {
            size: 3,
            overlap: 1,
        },
    ] {
        let windows = split(text, mode);
        prop_assert!(!windows.is_empty());
        let mut previous = None;
        for w in &windows {
            let end = w.char_offset + char_len(w.text);
            prop_assert!(end <= chars.len(), "{:?} past the end of {:?}", w, text);
            let slice: String = chars[w.char_offset..end].iter().collect();
            prop_assert_eq!(slice.as_str(), w.text);
            if let Some(p) = previous {
                prop_assert!(w.char_offset > p, "windows do not advance: {:?}", windows);
            }
            previous = Some(w.char_offset);
        }
    }
    Ok(())
}

/// Reads a question file; checks ids, questions and answer offsets of what is read.
fn check_questions(path: &Path) -> Result<(), TestCaseError> {
    match read_questions(path) {
        Ok(questions) => {
            let mut ids = std::collections::HashSet::new();
            for q in &questions {
                prop_assert!(!q.id.is_empty() && !q.question.trim().is_empty(), "{:?}", q);
                prop_assert!(ids.insert(q.id.clone()), "repeated id {}", q.id);
            }
        }
        Err(e) => names_file(&e.to_string(), path)?,
    }
    Ok(())
}

proptest! {
    #![proptest_config(odqa_testkit::config())]

    #[test]
    fn jsonl_corpora_read_or_fail_naming_the_file(bytes in odqa_testkit::mutated(&[JSONL_CORPUS])) {
        check_corpus("corpus.jsonl", &bytes)?;
    }

    #[test]
    fn competition_documents_read_or_fail_naming_the_file(bytes in odqa_testkit::mutated(&[WIKI_DOCUMENTS])) {
        check_corpus("wikipedia_documents.json", &bytes)?;
    }

    #[test]
    fn squad_contexts_read_or_fail_naming_the_file(bytes in odqa_testkit::mutated(&[SQUAD])) {
        check_corpus("train.json", &bytes)?;
    }

    #[test]
    fn question_files_read_or_fail_naming_the_file(
        bytes in odqa_testkit::mutated(&[QUESTIONS_JSONL, SQUAD]),
        jsonl in any::<bool>(),
    ) {
        let (_dir, path) = file(if jsonl { "q.jsonl" } else { "q.json" }, &bytes);
        check_questions(&path)?;
    }

    #[test]
    fn arrow_question_folders_read_or_fail_naming_the_file(bytes in odqa_testkit::mutated(arrow_seed())) {
        let dir = odqa_testkit::temp_dir();
        let source = repo("tests/fixtures/competition-test-dataset");
        let split = dir.path().join("validation");
        std::fs::create_dir(&split).unwrap();
        std::fs::copy(source.join("dataset_dict.json"), dir.path().join("dataset_dict.json")).unwrap();
        for name in ["dataset_info.json", "state.json"] {
            std::fs::copy(source.join("validation").join(name), split.join(name)).unwrap();
        }
        std::fs::write(split.join("dataset.arrow"), &bytes).unwrap();
        match read_questions(dir.path()) {
            Ok(questions) => prop_assert!(questions.iter().all(|q| !q.id.is_empty())),
            Err(e) => names_file(&e.to_string(), dir.path())?,
        }
    }

    #[test]
    fn predictions_read_or_fail_naming_the_file(bytes in odqa_testkit::mutated(&[PREDICTIONS])) {
        let (_dir, path) = file("predictions.json", &bytes);
        if let Err(e) = read_predictions(&path) {
            names_file(&e.to_string(), &path)?;
        }
    }

    #[test]
    fn any_text_splits_into_windows_at_their_offsets(text in odqa_testkit::text()) {
        check_windows(&text)?;
    }
}

#[test]
fn the_unedited_seeds_read() {
    let (_d, p) = file("corpus.jsonl", JSONL_CORPUS);
    assert_eq!(count_records(&p), 3);
    let (_d, p) = file("wikipedia_documents.json", WIKI_DOCUMENTS);
    assert_eq!(count_records(&p), 2);
    let (_d, p) = file("q.jsonl", QUESTIONS_JSONL);
    assert_eq!(read_questions(&p).unwrap().len(), 3);
    let (_d, p) = file("q.json", SQUAD);
    assert_eq!(read_questions(&p).unwrap().len(), 2);
    let (_d, p) = file("predictions.json", PREDICTIONS);
    assert_eq!(read_predictions(&p).unwrap().len(), 3);
    assert!(
        !read_questions(&repo("tests/fixtures/competition-test-dataset"))
            .unwrap()
            .is_empty()
    );
}
