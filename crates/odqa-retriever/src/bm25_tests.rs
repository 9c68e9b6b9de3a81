use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, TermQuery};
use tantivy::schema::{Schema, TextFieldIndexing, TextOptions};
use tantivy::{doc, Index, IndexWriter};

use super::*;

fn tiny_index() -> (Index, Field, Field) {
    let mut builder = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer("default")
        .set_index_option(IndexRecordOption::WithFreqs);
    let text = builder.add_text_field(
        "text",
        TextOptions::default().set_indexing_options(indexing.clone()),
    );
    let title = builder.add_text_field(
        "title",
        TextOptions::default().set_indexing_options(indexing),
    );
    let index = Index::create_in_ram(builder.build());
    let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
    let docs = [
        ("seoul", "seoul is the capital of korea"),
        (
            "busan",
            "busan is a port city in korea with a long beach and a big port",
        ),
        ("seoul", "the han river flows through seoul seoul seoul"),
        ("tokyo", "tokyo is the capital of japan"),
        (
            "misc",
            "capital capital capital of many many many things and other long words to make it long",
        ),
    ];
    for (t, body) in docs {
        writer.add_document(doc!(text => body, title => t)).unwrap();
    }
    writer.commit().unwrap();
    (index, text, title)
}

fn top(index: &Index, query: &dyn Query) -> Vec<(u32, f32)> {
    let searcher = index.reader().unwrap().searcher();
    let hits: Vec<(f32, tantivy::DocAddress)> = searcher
        .search(query, &TopDocs::with_limit(10).order_by_score())
        .unwrap();
    hits.into_iter().map(|(s, a)| (a.doc_id, s)).collect()
}

fn terms(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

#[test]
fn default_parameters_reproduce_tantivy_bm25() {
    let (index, text, _) = tiny_index();
    let words = ["capital", "korea", "seoul"];
    let tantivy_query = BooleanQuery::new(
        words
            .iter()
            .map(|w| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(text, w),
                    IndexRecordOption::WithFreqs,
                ));
                (Occur::Should, q)
            })
            .collect(),
    );
    let ours = Bm25Query::new(vec![(text, 1.0)], &terms(&words), Bm25Params::default());
    let (expected, got) = (top(&index, &tantivy_query), top(&index, &ours));
    assert_eq!(expected.len(), got.len());
    for ((d1, s1), (d2, s2)) in expected.iter().zip(&got) {
        assert_eq!(d1, d2);
        assert!((s1 - s2).abs() < 1e-5, "{s1} vs {s2}");
    }
}

#[test]
fn b_zero_ignores_length_and_k1_zero_ignores_frequency() {
    let (index, text, _) = tiny_index();
    let q = |word: &str, k1: f64, b: f64| {
        Bm25Query::new(
            vec![(text, 1.0)],
            &terms(&[word]),
            Bm25Params {
                k1,
                b,
                ..Default::default()
            },
        )
    };
    // "korea" occurs once in doc 0 (6 words) and once in doc 1 (14 words).
    let normal = top(&index, &q("korea", 1.2, 0.75));
    assert_eq!(normal[0].0, 0);
    assert!(normal[0].1 > normal[1].1 + 0.05, "{normal:?}");
    let no_length = top(&index, &q("korea", 1.2, 0.0));
    assert!(
        (no_length[0].1 - no_length[1].1).abs() < 1e-6,
        "{no_length:?}"
    );
    // k1 = 0: every match of "seoul" scores exactly idf, whatever its frequency (1 or 3).
    let flat = top(&index, &q("seoul", 0.0, 0.75));
    assert_eq!(flat.len(), 2);
    assert!((flat[0].1 - flat[1].1).abs() < 1e-6, "{flat:?}");
    // With k1 > 0 the doc with three "seoul"s wins.
    assert_eq!(top(&index, &q("seoul", 1.2, 0.75))[0].0, 2);
}

#[test]
fn delta_atire_title_weight_and_query_tf() {
    let (index, text, title) = tiny_index();
    let base = Bm25Params::default();
    let score_of = |params: Bm25Params, words: &[&str], doc: u32| {
        let fields = vec![(text, 1.0), (title, params.title_weight)];
        top(&index, &Bm25Query::new(fields, &terms(words), params))
            .into_iter()
            .find(|&(d, _)| d == doc)
            .map_or(0.0, |(_, s)| s)
    };
    let plain = score_of(base, &["korea"], 0);
    let plus = score_of(Bm25Params { delta: 1.0, ..base }, &["korea"], 0);
    // δ adds idf(korea) once; idf(korea) = ln(1 + (5 − 2 + 0.5)/(2 + 0.5)).
    let idf = (1.0f32 + 3.5 / 2.5).ln();
    assert!((plus - plain - idf).abs() < 1e-5, "{plain} {plus}");
    let atire = score_of(
        Bm25Params {
            idf: Idf::Atire,
            ..base
        },
        &["korea"],
        0,
    );
    assert!((atire / plain - (5.0f32 / 2.0).ln() / idf).abs() < 1e-5);
    // The title counts only with a title weight.
    assert_eq!(score_of(base, &["tokyo"], 0), 0.0);
    assert!(
        score_of(
            Bm25Params {
                title_weight: 0.5,
                ..base
            },
            &["seoul"],
            0
        ) > score_of(base, &["seoul"], 0)
    );
    // A repeated question term counts twice unless query_tf is off.
    let twice = score_of(base, &["korea", "korea"], 0);
    assert!((twice - 2.0 * plain).abs() < 1e-5);
    let once = score_of(
        Bm25Params {
            query_tf: false,
            ..base
        },
        &["korea", "korea"],
        0,
    );
    assert!((once - plain).abs() < 1e-6);
}

#[test]
fn unknown_terms_match_nothing() {
    let (index, text, _) = tiny_index();
    let q = Bm25Query::new(
        vec![(text, 1.0)],
        &terms(&["nowhere"]),
        Bm25Params::default(),
    );
    assert!(top(&index, &q).is_empty());
}

#[test]
fn validate_rejects_out_of_range() {
    assert!(Bm25Params {
        b: 1.5,
        ..Default::default()
    }
    .validate()
    .is_err());
    assert!(Bm25Params {
        k1: -1.0,
        ..Default::default()
    }
    .validate()
    .is_err());
    assert!(Bm25Params::default().validate().is_ok());
}
