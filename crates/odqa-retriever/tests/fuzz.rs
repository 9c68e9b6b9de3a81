//! Property tests of the query path: the analyzers on any text (every token a slice of the
//! normalised text at its offsets, on character boundaries, positions in order), questions of any
//! text against a small index (hits or a typed error, never a panic), and indexing passages of any
//! text (the index builds, and each passage is found again by its own words).
//!
//! `scripts/fuzz-long.sh` is the long run (100,000 cases per target, in release, indexing included).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use odqa_retriever::analysis::{normalize, MAX_WORD_CHARS};
use odqa_retriever::{
    build_index, AnalyzerConfig, BuildOptions, CancelToken, Language, LanguageChoice, Retriever,
    RetrieverError,
};
use proptest::prelude::*;
use tantivy::tokenizer::TokenStream;

fn configs() -> [AnalyzerConfig; 3] {
    [
        AnalyzerConfig::for_language(Language::Ko),
        AnalyzerConfig {
            strip_josa: false,
            hangul_bigrams: false,
            ..AnalyzerConfig::for_language(Language::Ko)
        },
        AnalyzerConfig::for_language(Language::En),
    ]
}

fn check_analysis(text: &str) -> Result<(), TestCaseError> {
    let normalized = normalize(text);
    for config in configs() {
        let mut analyzer = config.build();
        let mut stream = analyzer.token_stream(text);
        let mut last_position = None;
        while let Some(token) = stream.next() {
            let (from, to) = (token.offset_from, token.offset_to);
            prop_assert!(
                from < to && to <= normalized.len(),
                "{:?} in {:?}",
                token,
                normalized
            );
            prop_assert!(
                normalized.is_char_boundary(from) && normalized.is_char_boundary(to),
                "{:?} not on char boundaries of {:?}",
                token,
                normalized
            );
            prop_assert!(!token.text.is_empty());
            if config.language == Language::Ko {
                // English terms are stemmed, so only Korean ones are slices of the text.
                prop_assert_eq!(&token.text, &normalized[from..to]);
            }
            prop_assert!(token.text.chars().count() <= MAX_WORD_CHARS, "{:?}", token);
            if let Some(p) = last_position {
                prop_assert!(token.position > p, "positions not increasing: {:?}", token);
            }
            last_position = Some(token.position);
        }
    }
    Ok(())
}

/// A small Korean + English index, built once.
fn index() -> &'static Retriever {
    static INDEX: OnceLock<(tempfile::TempDir, Retriever)> = OnceLock::new();
    &INDEX
        .get_or_init(|| {
            let dir = odqa_testkit::temp_dir();
            let corpus = dir.path().join("corpus.jsonl");
            std::fs::write(
                &corpus,
                "{\"id\": \"a\", \"title\": \"서울\", \"text\": \"서울특별시는 대한민국의 수도이다.\"}\n\
                 {\"id\": \"b\", \"title\": \"한강\", \"text\": \"한강은 서울을 가로질러 흐른다.\"}\n\
                 {\"id\": \"c\", \"title\": \"Seoul\", \"text\": \"Seoul is the capital of Korea.\"}\n",
            )
            .unwrap();
            let index = dir.path().join("index");
            build_index(&[corpus], &index, &small_build(), &CancelToken::new()).unwrap();
            let retriever = Retriever::open(&index).unwrap();
            (dir, retriever)
        })
        .1
}

fn small_build() -> BuildOptions {
    BuildOptions {
        language: LanguageChoice::Fixed(Language::Ko),
        threads: 1,
        memory_budget: 15 << 20,
        ..BuildOptions::default()
    }
}

fn check_search(retriever: &Retriever, question: &str, k: usize) -> Result<(), TestCaseError> {
    match retriever.search(question, k) {
        Ok(hits) => {
            prop_assert!(hits.len() <= k.min(retriever.num_passages() as usize));
            for (i, hit) in hits.iter().enumerate() {
                prop_assert_eq!(hit.rank, i + 1);
                prop_assert!(hit.score.is_finite(), "{:?}", hit);
                if i > 0 {
                    prop_assert!(hits[i - 1].score >= hit.score, "not sorted: {:?}", hits);
                }
            }
        }
        Err(RetrieverError::EmptyQuestion) => prop_assert!(question.trim().is_empty()),
        Err(RetrieverError::NoSearchableWords { question: q }) => {
            prop_assert_eq!(q.as_str(), question);
            prop_assert!(AnalyzerConfig::for_language(Language::Ko)
                .terms(question)
                .is_empty());
        }
        Err(e) => prop_assert!(false, "unexpected error for {:?}: {}", question, e),
    }
    Ok(())
}

proptest! {
    #![proptest_config(odqa_testkit::config())]

    #[test]
    fn analyzers_give_slices_of_the_normalised_text(text in odqa_testkit::text()) {
        check_analysis(&text)?;
    }

    #[test]
    fn any_question_gets_hits_or_a_typed_error(question in odqa_testkit::text(), k in 0usize..50) {
        check_search(index(), &question, k)?;
    }
}

proptest! {
    // Each case builds an index: 100 cases in the default run, all of them in the long run.
    #![proptest_config(odqa_testkit::config_reduced(20))]

    #[test]
    fn passages_of_any_text_are_indexed_and_found_by_their_words(
        texts in prop::collection::vec(odqa_testkit::text(), 1..4),
    ) {
        let dir = odqa_testkit::temp_dir();
        let corpus: PathBuf = dir.path().join("corpus.jsonl");
        let lines: Vec<String> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| serde_json::json!({"id": format!("p{i}"), "text": t}).to_string())
            .collect();
        std::fs::write(&corpus, lines.join("\n")).unwrap();
        let index = dir.path().join("index");
        let result = build_index(&[corpus], &index, &small_build(), &CancelToken::new());
        let indexed = texts.iter().filter(|t| !t.trim().is_empty()).count();
        match result {
            Ok(summary) => {
                prop_assert_eq!(summary.meta.passages as usize, indexed);
                let retriever = Retriever::open(&index).unwrap();
                for (i, text) in texts.iter().enumerate() {
                    check_search(&retriever, text, 5)?;
                    let searchable = !AnalyzerConfig::for_language(Language::Ko).terms(text).is_empty();
                    if searchable {
                        // Duplicate texts are indexed once, under the first id.
                        let first = texts.iter().position(|t| t == text).unwrap();
                        let hits = retriever.search(text, texts.len()).unwrap();
                        prop_assert!(
                            hits.iter().any(|h| h.id == format!("p{first}")),
                            "passage {} not found by its own text: {:?}", i, hits
                        );
                    }
                }
            }
            // A corpus without one non-empty text has nothing to index.
            Err(e) => prop_assert!(indexed == 0, "{}", e),
        }
    }
}
