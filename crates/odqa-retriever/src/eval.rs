//! Retrieval evaluation: answer-recall@k and title-recall@k with latency figures.
//!
//! answer-recall@k: the share of questions for which some gold answer string occurs verbatim in one
//! of the top k passages. title-recall@k: the share for which one of the top k passages (or one of
//! its exact duplicates) comes from the question's article; titles are compared after NFKC,
//! lowercasing and reading `_` as a space (KorQuAD writes `대한민국_임시정부`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use odqa_core::control::Observer;
use odqa_core::squad::QaExample;
use rayon::prelude::*;
use unicode_normalization::UnicodeNormalization;

use crate::error::{Result, RetrieverError};
use crate::search::{Hit, Retriever};

/// The figures of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RecallReport {
    /// Questions evaluated.
    pub questions: usize,
    /// Questions with at least one gold answer (the answer-recall denominator).
    pub answered: usize,
    /// Questions with a title (the title-recall denominator).
    pub titled: usize,
    /// Questions that could not be searched (e.g. empty), counted as misses.
    pub failed: usize,
    /// k → answer-recall@k.
    pub answer_recall: BTreeMap<usize, f64>,
    /// k → title-recall@k (empty when no question has a title).
    pub title_recall: BTreeMap<usize, f64>,
    /// Per-question search latency percentiles, milliseconds: (p50, p95).
    pub latency_ms: (f64, f64),
    /// Questions per second over the whole run (wall time).
    pub questions_per_second: f64,
    /// rayon threads used.
    pub threads: usize,
}

impl RecallReport {
    /// The report as one flat JSON object: `{"questions": N, "recall@1": …, "title_recall@1": …, …}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert("questions".into(), self.questions.into());
        for (k, r) in &self.answer_recall {
            out.insert(format!("recall@{k}"), round4(*r).into());
        }
        for (k, r) in &self.title_recall {
            out.insert(format!("title_recall@{k}"), round4(*r).into());
        }
        out.insert("answered".into(), self.answered.into());
        out.insert("titled".into(), self.titled.into());
        out.insert("failed".into(), self.failed.into());
        out.insert("latency_ms_p50".into(), round4(self.latency_ms.0).into());
        out.insert("latency_ms_p95".into(), round4(self.latency_ms.1).into());
        out.insert(
            "questions_per_second".into(),
            ((self.questions_per_second * 10.0).round() / 10.0).into(),
        );
        out.insert("threads".into(), self.threads.into());
        serde_json::Value::Object(out)
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Normalises a title for comparison.
pub fn normalize_title(title: &str) -> String {
    title
        .nfkc()
        .flat_map(char::to_lowercase)
        .map(|c| if c == '_' { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Per question: rank of the first passage containing an answer, and of the first from its article.
#[derive(Debug, Clone, Copy, Default)]
struct Ranks {
    answer: Option<usize>,
    title: Option<usize>,
    failed: bool,
    millis: f64,
}

/// The 1-based rank of the first passage of `hits` in which a gold answer of `example` occurs
/// verbatim (the answer-recall rule), or `None`.
pub fn answer_rank(example: &QaExample, hits: &[Hit]) -> Option<usize> {
    hits.iter()
        .position(|h| {
            example
                .answers
                .iter()
                .any(|a| !a.text.is_empty() && h.text.contains(a.text.as_str()))
        })
        .map(|i| i + 1)
}

fn ranks_of(example: &QaExample, hits: &[Hit]) -> (Option<usize>, Option<usize>) {
    let answer = answer_rank(example, hits);
    let title = if example.title.is_empty() {
        None
    } else {
        let want = normalize_title(&example.title);
        hits.iter()
            .position(|h| {
                normalize_title(&h.title) == want
                    || h.duplicates
                        .iter()
                        .any(|d| normalize_title(&d.title) == want)
            })
            .map(|i| i + 1)
    };
    (answer, title)
}

/// Evaluates `retriever` on `examples` at every k of `ks` (retrieving max(ks) passages per
/// question), in parallel on the current rayon pool. `observer` is told `progress(done, total)`
/// from the worker threads as questions are searched, and asked before each question whether to
/// stop: the evaluation then ends with [`RetrieverError::Interrupted`].
pub fn evaluate_recall(
    retriever: &Retriever,
    examples: &[QaExample],
    ks: &[usize],
    observer: &dyn Observer,
) -> Result<RecallReport> {
    let max_k = ks.iter().copied().max().unwrap_or(0);
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    let ranks: Vec<Ranks> = examples
        .par_iter()
        .map(|example| {
            if observer.should_stop() {
                return Err(RetrieverError::Interrupted);
            }
            let t = Instant::now();
            let result = retriever.search(&example.question, max_k);
            let millis = t.elapsed().as_secs_f64() * 1e3;
            observer.progress(done.fetch_add(1, Ordering::Relaxed) + 1, examples.len());
            Ok(match result {
                Ok(hits) => {
                    let (answer, title) = ranks_of(example, &hits);
                    Ranks {
                        answer,
                        title,
                        failed: false,
                        millis,
                    }
                }
                Err(_) => Ranks {
                    failed: true,
                    millis,
                    ..Ranks::default()
                },
            })
        })
        .collect::<Result<_>>()?;
    let wall = started.elapsed().as_secs_f64();
    Ok(report(examples, ks, &ranks, wall))
}

/// The recall at every k, the latencies and the throughput of `ranks`, one per example, searched
/// in `wall` seconds.
fn report(examples: &[QaExample], ks: &[usize], ranks: &[Ranks], wall: f64) -> RecallReport {
    let answered = examples
        .iter()
        .filter(|e| e.answers.iter().any(|a| !a.text.is_empty()))
        .count();
    let titled = examples.iter().filter(|e| !e.title.is_empty()).count();
    let share = |hits: usize, of: usize| {
        if of == 0 {
            0.0
        } else {
            hits as f64 / of as f64
        }
    };
    let mut answer_recall = BTreeMap::new();
    let mut title_recall = BTreeMap::new();
    for &k in ks {
        let a = ranks
            .iter()
            .filter(|r| r.answer.is_some_and(|rank| rank <= k))
            .count();
        answer_recall.insert(k, share(a, answered));
        if titled > 0 {
            let t = ranks
                .iter()
                .filter(|r| r.title.is_some_and(|rank| rank <= k))
                .count();
            title_recall.insert(k, share(t, titled));
        }
    }
    let mut millis: Vec<f64> = ranks.iter().map(|r| r.millis).collect();
    millis.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        millis
            .get(((millis.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    RecallReport {
        questions: examples.len(),
        answered,
        titled,
        failed: ranks.iter().filter(|r| r.failed).count(),
        answer_recall,
        title_recall,
        latency_ms: (pct(0.5), pct(0.95)),
        questions_per_second: if wall > 0.0 {
            examples.len() as f64 / wall
        } else {
            0.0
        },
        threads: rayon::current_num_threads(),
    }
}
