//! Where open-domain answers are lost: every question of a dev set falls in exactly one
//! [`Outcome`], from the open-domain prediction (`odqa predict`), the reading prediction on the
//! question's own paragraph (`odqa read`) and whether a gold answer occurs in one of the top-k
//! retrieved passages (the answer-recall rule of `odqa eval retrieval`).
//!
//! - `correct`: the open-domain answer is an exact match (KorQuAD v1.0 EM).
//! - `retrieval_miss`: wrong, and no gold answer occurs in the top-k passages: the reader never saw
//!   the answer.
//! - `reader_on_gold`: wrong, the answer was retrieved, and the reader is wrong on the gold
//!   paragraph too: a reading error that retrieval did not cause.
//! - `distractor`: wrong, the answer was retrieved, and the reader answers the gold paragraph
//!   right: another passage's span (or a worse span of the right one) won the aggregation.

use std::collections::HashMap;

use odqa_core::metrics::{korquad_em, korquad_f1, max_over};
use odqa_core::squad::QaExample;
use serde::Serialize;

/// The class of one question (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Open-domain exact match.
    Correct,
    /// No gold answer in the top-k passages.
    RetrievalMiss,
    /// Retrieved, but the reader is wrong on the gold paragraph as well.
    ReaderOnGold,
    /// Retrieved and read right on the gold paragraph, lost in aggregation.
    Distractor,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Correct,
        Outcome::RetrievalMiss,
        Outcome::ReaderOnGold,
        Outcome::Distractor,
    ];

    /// The snake_case name used in JSON and tables.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Correct => "correct",
            Outcome::RetrievalMiss => "retrieval_miss",
            Outcome::ReaderOnGold => "reader_on_gold",
            Outcome::Distractor => "distractor",
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One question's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionOutcome {
    /// Question id.
    pub id: String,
    /// Its class.
    pub outcome: Outcome,
    /// 1-based rank of the first retrieved passage holding a gold answer (`None`: not in top-k).
    pub answer_rank: Option<usize>,
    /// The open-domain answer ("" when missing).
    pub open_answer: String,
    /// The reading answer on the gold paragraph ("" when missing).
    pub reading_answer: String,
    /// KorQuAD EM (0/1) and character F1 (0..1) of the open-domain answer.
    pub open_em: f64,
    /// See `open_em`.
    pub open_f1: f64,
    /// KorQuAD EM (0/1) and character F1 (0..1) of the reading answer.
    pub reading_em: f64,
    /// See `reading_em`.
    pub reading_f1: f64,
}

/// Counts and scores of one outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OutcomeFigures {
    /// Questions in this class.
    pub questions: usize,
    /// Their share of all questions, percent (the EM points this class holds).
    pub percent: f64,
    /// Mean open-domain F1 within the class, percent.
    pub open_f1: f64,
}

/// The whole breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    /// Questions with gold answers (the denominator).
    pub questions: usize,
    /// Passages retrieved per question.
    pub top_k: usize,
    /// Open-domain EM and F1 over all questions, percent.
    pub open_em: f64,
    /// See `open_em`.
    pub open_f1: f64,
    /// Reading EM and F1 on the gold paragraphs, percent.
    pub reading_em: f64,
    /// See `reading_em`.
    pub reading_f1: f64,
    /// Answer-recall@k, percent.
    pub recall: f64,
    /// Outcome name → figures, in [`Outcome::ALL`] order.
    pub outcomes: Vec<(Outcome, OutcomeFigures)>,
    /// Per question, in question-set order.
    pub per_question: Vec<QuestionOutcome>,
}

/// Classifies every question of `examples` that has gold answers. `answer_ranks[i]` is the rank of
/// the first top-k passage holding a gold answer of `examples[i]`; `open` and `reading` map
/// question ids to answers (a missing answer counts as wrong).
pub fn breakdown(
    examples: &[QaExample],
    answer_ranks: &[Option<usize>],
    top_k: usize,
    open: &HashMap<String, String>,
    reading: &HashMap<String, String>,
) -> Breakdown {
    let per_question: Vec<QuestionOutcome> = examples
        .iter()
        .zip(answer_ranks)
        .filter(|(e, _)| e.answers.iter().any(|a| !a.text.is_empty()))
        .map(|(example, &rank)| classify(example, rank.filter(|&r| r <= top_k), open, reading))
        .collect();
    let n = per_question.len().max(1) as f64;
    let mean = |f: fn(&QuestionOutcome) -> f64| per_question.iter().map(f).sum::<f64>() * 100.0 / n;
    let outcomes = Outcome::ALL
        .iter()
        .map(|&outcome| {
            let members: Vec<&QuestionOutcome> = per_question
                .iter()
                .filter(|q| q.outcome == outcome)
                .collect();
            let count = members.len();
            let f1 = members.iter().map(|q| q.open_f1).sum::<f64>() * 100.0 / count.max(1) as f64;
            let figures = OutcomeFigures {
                questions: count,
                percent: count as f64 * 100.0 / n,
                open_f1: f1,
            };
            (outcome, figures)
        })
        .collect();
    Breakdown {
        questions: per_question.len(),
        top_k,
        open_em: mean(|q| q.open_em),
        open_f1: mean(|q| q.open_f1),
        reading_em: mean(|q| q.reading_em),
        reading_f1: mean(|q| q.reading_f1),
        recall: mean(|q| f64::from(u8::from(q.answer_rank.is_some()))),
        outcomes,
        per_question,
    }
}

fn classify(
    example: &QaExample,
    answer_rank: Option<usize>,
    open: &HashMap<String, String>,
    reading: &HashMap<String, String>,
) -> QuestionOutcome {
    let truths: Vec<String> = example.answers.iter().map(|a| a.text.clone()).collect();
    let open_answer = open.get(&example.id);
    let reading_answer = reading.get(&example.id);
    // A missing answer scores 0.
    let score = |answer: Option<&String>, metric: fn(&str, &str) -> f64| {
        answer.map_or(0.0, |a| max_over(metric, a, &truths))
    };
    let open_em = score(open_answer, korquad_em);
    let reading_em = score(reading_answer, korquad_em);
    let outcome = if open_em > 0.0 {
        Outcome::Correct
    } else if answer_rank.is_none() {
        Outcome::RetrievalMiss
    } else if reading_em > 0.0 {
        Outcome::Distractor
    } else {
        Outcome::ReaderOnGold
    };
    QuestionOutcome {
        id: example.id.clone(),
        outcome,
        answer_rank,
        open_f1: score(open_answer, korquad_f1),
        reading_f1: score(reading_answer, korquad_f1),
        open_answer: open_answer.cloned().unwrap_or_default(),
        reading_answer: reading_answer.cloned().unwrap_or_default(),
        open_em,
        reading_em,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odqa_core::squad::Answer;

    fn example(id: &str, answer: &str) -> QaExample {
        QaExample {
            id: id.into(),
            title: String::new(),
            question: format!("question {id}"),
            context: String::new(),
            answers: vec![Answer {
                text: answer.into(),
                answer_start: 0,
            }],
        }
    }

    fn answers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(id, a)| (id.to_string(), a.to_string()))
            .collect()
    }

    #[test]
    fn each_question_falls_in_one_class() {
        let examples = vec![
            example("ok", "서울"),
            example("miss", "부산"),
            example("gold", "대구"),
            example("distract", "인천"),
            example("rank-too-deep", "광주"),
            example("no-answer", ""),
        ];
        let ranks = vec![Some(1), None, Some(2), Some(3), Some(7), None];
        let open = answers(&[
            ("ok", "서울"),
            ("miss", "울산"),
            ("gold", "대전"),
            ("distract", "수원"),
            ("rank-too-deep", "목포"),
        ]);
        // "gold" has no reading answer at all: a missing answer counts as wrong.
        let reading = answers(&[
            ("ok", "서울"),
            ("miss", "부산"),
            ("distract", "인천"),
            ("rank-too-deep", "광주"),
        ]);
        let b = breakdown(&examples, &ranks, 5, &open, &reading);
        let got: Vec<(&str, Outcome)> = b
            .per_question
            .iter()
            .map(|q| (q.id.as_str(), q.outcome))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ok", Outcome::Correct),
                ("miss", Outcome::RetrievalMiss),
                ("gold", Outcome::ReaderOnGold),
                ("distract", Outcome::Distractor),
                ("rank-too-deep", Outcome::RetrievalMiss),
            ]
        );
        assert_eq!(b.questions, 5);
        assert!((b.open_em - 20.0).abs() < 1e-9, "{}", b.open_em);
        assert!((b.reading_em - 80.0).abs() < 1e-9, "{}", b.reading_em);
        assert!((b.recall - 60.0).abs() < 1e-9, "{}", b.recall);
        let counts: Vec<usize> = b.outcomes.iter().map(|(_, f)| f.questions).collect();
        assert_eq!(counts, vec![1, 2, 1, 1]);
        let percent: f64 = b.outcomes.iter().map(|(_, f)| f.percent).sum();
        assert!((percent - 100.0).abs() < 1e-9);
    }

    #[test]
    fn partial_overlap_counts_in_f1_not_em() {
        let examples = vec![example("a", "대한민국 임시정부")];
        let open = answers(&[("a", "임시정부")]);
        let b = breakdown(&examples, &[Some(1)], 10, &open, &open);
        assert_eq!(b.per_question[0].outcome, Outcome::ReaderOnGold);
        assert!(b.open_f1 > 0.0 && b.open_f1 < 100.0, "{}", b.open_f1);
        assert_eq!(b.outcomes[2].1.open_f1, b.open_f1);
    }
}
