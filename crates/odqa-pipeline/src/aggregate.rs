//! Turning the spans read in a question's passages into ranked answers.
//!
//! Every passage is read on its own; its candidates (start/end logits, character span) are pooled
//! over the question's top-k passages and ranked by one of four [`Strategy`]s. A span's reader
//! score is [`PassageRead::span_score`]: start + end − length penalty, less the no-answer weight
//! times its passage's no-answer score (weight 0 by default). Every answer's
//! `probability` is normalised over all pooled candidates of the question, so it means the same
//! thing whatever k is.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::calibration::apply_temperature;
use odqa_core::josa::{self, Strip};

/// How candidates from different passages are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The span with the highest start + end logit over all passages; probability = softmax of
    /// the logit sums over all candidates of the question.
    Logit,
    /// Each passage's candidates normalised among themselves (softmax, as a reading-comprehension
    /// reader reports them), every passage weighted equally: probability = p(span | passage) / n,
    /// n = the passages (of the top k) where a span was found.
    Softmax,
    /// BERTserini-style fusion of the two normalised scores,
    /// `(1-μ)·log softmax(bm25)[passage] + μ·log softmax(logits)[span]`; the normalisers are the
    /// same for all candidates, so this ranks as `μ·(start+end) + (1-μ)·bm25`. μ = 1: the reader
    /// alone (= `logit`).
    Fusion,
    /// The `fusion` probabilities (μ = 1: `logit`'s) of candidates whose normalised text is the
    /// same summed; the answer is the best-scored span of the winning text.
    Merge,
}

impl Strategy {
    /// All strategies, in documentation order.
    pub const ALL: [Strategy; 4] = [
        Strategy::Logit,
        Strategy::Softmax,
        Strategy::Fusion,
        Strategy::Merge,
    ];

    /// True when μ changes the ranking.
    pub fn uses_mu(self) -> bool {
        matches!(self, Strategy::Fusion | Strategy::Merge)
    }

    /// The name used in flags and TOML.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Logit => "logit",
            Strategy::Softmax => "softmax",
            Strategy::Fusion => "fusion",
            Strategy::Merge => "merge",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Strategy::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| format!("unknown strategy {s:?}: one of logit, softmax, fusion, merge"))
    }
}

/// One span the reader found in a passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanCandidate {
    /// The span's text.
    pub text: String,
    /// Character offset of the span in the passage.
    pub start: usize,
    /// End character offset (exclusive).
    pub end: usize,
    /// Start logit.
    pub start_logit: f32,
    /// End logit.
    pub end_logit: f32,
    /// What the reader's length penalty took off the span's score (0 without one, and in
    /// caches written before there was one).
    #[serde(default, skip_serializing_if = "no_penalty")]
    pub length_penalty: f32,
}

fn no_penalty(value: &f32) -> bool {
    *value == 0.0
}

impl SpanCandidate {
    /// The reader's score of the span, as `odqa read` ranks it
    /// ([`odqa_reader::decode::ranking_score`]).
    pub fn score(&self) -> f32 {
        odqa_reader::decode::ranking_score(self.start_logit, self.end_logit, self.length_penalty)
    }
}

/// A passage's decoded candidates (best first) as spans, by the reader's one trimming rule
/// ([`odqa_reader::decode::trimmed`]: spaces trimmed with the offsets moved, blank spans and spans
/// that trimming made equal to a better one dropped; a `year_question`'s dates cut to their year);
/// the `empty` placeholder is dropped.
pub fn spans(
    candidates: Vec<odqa_reader::decode::Candidate>,
    year_question: bool,
) -> Vec<SpanCandidate> {
    odqa_reader::decode::trimmed(candidates, year_question)
        .into_iter()
        .filter_map(|c| {
            Some(SpanCandidate {
                start: c.start?,
                end: c.end?,
                text: c.text,
                start_logit: c.start_logit,
                end_logit: c.end_logit,
                length_penalty: c.length_penalty,
            })
        })
        .collect()
}

/// What reading one retrieved passage gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PassageRead {
    /// Retrieval rank, 1-based.
    pub rank: usize,
    /// The retrieval score the aggregation weighs: BM25's, or on BM25's scale for dense and
    /// hybrid retrieval (see `bm25_score` and `dense_score` for the retrievers' own).
    pub retriever_score: f32,
    /// The passage's BM25 score, when dense or hybrid retrieval knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bm25_score: Option<f32>,
    /// The passage's dense score (cosine), for dense and hybrid retrieval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense_score: Option<f32>,
    /// Passage id.
    pub passage_id: String,
    /// Passage title.
    pub title: String,
    /// The passage's best spans (at most `passage_n_best`), best first.
    pub candidates: Vec<SpanCandidate>,
    /// The reader's no-answer score of the passage ([`odqa_reader::decode::null_score`]); absent
    /// in tuning caches written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_score: Option<f32>,
    /// The passage text (not stored in tuning caches).
    #[serde(skip)]
    pub text: String,
}

impl PassageRead {
    /// The reader's score of candidate `c` of this passage as passages are compared: its span
    /// score less `null_weight` × the passage's no-answer score. With weight 1 this is the
    /// SQuAD 2.0 comparison "span rather than no answer here": a passage the reader would rather
    /// call answerless (its windows trained towards [CLS] when the answer is elsewhere) has its
    /// spans lowered. Within one passage the order never changes (the same amount is taken off
    /// every span), so reading one passage gives `odqa read`'s answer whatever the weight.
    pub fn span_score(&self, c: &SpanCandidate, null_weight: f32) -> f32 {
        match self.null_score {
            Some(null) if null_weight != 0.0 => c.score() - null_weight * null,
            _ => c.score(),
        }
    }
}

/// How to aggregate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AggregateSettings {
    /// The strategy.
    pub strategy: Strategy,
    /// Reader weight μ of `fusion` and `merge`, 0..=1.
    pub mu: f32,
    /// How much of its passage's no-answer score is taken off each span's reader score before
    /// passages are compared ([`PassageRead::span_score`]), 0..=1; 0 = none.
    pub null_weight: f32,
    /// Use only passages ranked 1..=top_k.
    pub top_k: usize,
    /// Answers to return.
    pub n_best: usize,
    /// Trim a trailing Korean particle from answers ([`odqa_core::josa::strip`] with
    /// [`Strip::Particles`]).
    pub trim_josa: bool,
    /// Calibration temperature of the probabilities ([`crate::calibration`]; 1 = none).
    pub temperature: f32,
    /// No answers at all when the best one's (calibrated) probability is below this (0 = off).
    pub min_probability: f32,
}

/// One answer of a question. Serialized as an entry of `nbest_predictions.json` (`text`,
/// `probability`, logits, `passage_id`, `title`, `start`, `end`); `rank` and `retriever_score` are
/// for callers that show them (`odqa ask --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Answer {
    /// Answer text (trimmed when josa trimming is on).
    pub text: String,
    /// Probability over all candidates of the question (summed over same-text spans for `merge`).
    pub probability: f32,
    /// Start logit of the span.
    pub start_logit: f32,
    /// End logit of the span.
    pub end_logit: f32,
    /// Passage the span is in.
    pub passage_id: String,
    /// Its title.
    pub title: String,
    /// Character offset of the answer in the passage.
    pub start: usize,
    /// End character offset (exclusive).
    pub end: usize,
    /// Retrieval rank of the passage.
    #[serde(skip)]
    pub rank: usize,
    /// BM25 score of the passage.
    #[serde(skip)]
    pub retriever_score: f32,
}

/// Softmax of `scores` (max-shifted); empty in, empty out.
fn softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
    let total: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / total).collect()
}

/// A question's ranked answers.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Ranked {
    /// The answers to show, best first: the spans without those overlapping a better one of the
    /// same passage ([`crate::distinct::distinct`]), each with its own probability, at most
    /// `n_best`. The first is the best span.
    pub answers: Vec<Answer>,
    /// Every span (for `merge`: every text, its spans summed), best first, at most `n_best`: the
    /// list of `nbest_predictions.json`.
    pub spans: Vec<Answer>,
}

/// Ranks the candidates of one question's passages: at most `n_best` answers and spans, best
/// first, their probabilities calibrated by the temperature (which changes no order). Both empty
/// when no passage within `top_k` has a candidate, or when the best one's probability is below
/// `min_probability`.
pub fn aggregate(reads: &[PassageRead], settings: &AggregateSettings) -> Ranked {
    let mut spans = scored(reads, settings);
    calibrate(&mut spans, settings.temperature);
    // Stable: equal probabilities keep passage rank, then span order.
    spans.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    if spans
        .first()
        .is_none_or(|a| a.probability < settings.min_probability)
    {
        return Ranked::default();
    }
    let mut answers = crate::distinct::distinct(&spans);
    answers.truncate(settings.n_best);
    spans.truncate(settings.n_best);
    Ranked { answers, spans }
}

/// Applies temperature `t` to the probabilities of `answers` ([`apply_temperature`]).
fn calibrate(answers: &mut [Answer], t: f32) {
    let mut probabilities: Vec<f32> = answers.iter().map(|a| a.probability).collect();
    apply_temperature(&mut probabilities, t);
    for (a, p) in answers.iter_mut().zip(probabilities) {
        a.probability = p;
    }
}

/// Every candidate of the passages within `top_k` as an answer with its probability under the
/// strategy (equal texts merged for `merge`), uncalibrated and unsorted.
fn scored(reads: &[PassageRead], settings: &AggregateSettings) -> Vec<Answer> {
    let reads: Vec<&PassageRead> = reads
        .iter()
        .filter(|r| r.rank <= settings.top_k && !r.candidates.is_empty())
        .collect();
    let pooled: Vec<(&PassageRead, &SpanCandidate)> = reads
        .iter()
        .flat_map(|r| r.candidates.iter().map(move |c| (*r, c)))
        .collect();
    let mu = settings.mu.clamp(0.0, 1.0);
    let probabilities = match settings.strategy {
        Strategy::Logit => softmax(
            &pooled
                .iter()
                .map(|(r, c)| r.span_score(c, settings.null_weight))
                .collect::<Vec<_>>(),
        ),
        Strategy::Fusion | Strategy::Merge => softmax(
            &pooled
                .iter()
                .map(|(r, c)| {
                    mu * r.span_score(c, settings.null_weight) + (1.0 - mu) * r.retriever_score
                })
                .collect::<Vec<_>>(),
        ),
        Strategy::Softmax => {
            let k = reads.len() as f32;
            reads
                .iter()
                .flat_map(|r| {
                    softmax(
                        &r.candidates
                            .iter()
                            .map(SpanCandidate::score)
                            .collect::<Vec<_>>(),
                    )
                })
                .map(|p| p / k)
                .collect()
        }
    };
    let answers: Vec<Answer> = pooled
        .iter()
        .zip(probabilities)
        .map(|((r, c), probability)| answer(r, c, probability, settings.trim_josa))
        .collect();
    if settings.strategy == Strategy::Merge {
        merge_same_text(answers)
    } else {
        answers
    }
}

fn answer(read: &PassageRead, c: &SpanCandidate, probability: f32, trim: bool) -> Answer {
    let text = if trim {
        josa::strip(&c.text, Strip::Particles).unwrap_or(&c.text)
    } else {
        &c.text
    };
    let removed = c.text.chars().count() - text.chars().count();
    Answer {
        text: text.to_string(),
        probability,
        start_logit: c.start_logit,
        end_logit: c.end_logit,
        passage_id: read.passage_id.clone(),
        title: read.title.clone(),
        start: c.start,
        end: c.end - removed,
        rank: read.rank,
        retriever_score: read.retriever_score,
    }
}

/// One answer per normalised text (KorQuAD normalisation), holding the summed probability and the
/// span of its most probable member.
fn merge_same_text(answers: Vec<Answer>) -> Vec<Answer> {
    // (best member, summed probability) per text, in order of first appearance.
    let mut groups: Vec<(Answer, f32)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for a in answers {
        let key = odqa_core::metrics::normalize_korquad(&a.text);
        match index.get(&key) {
            Some(&i) => {
                let (best, total) = &mut groups[i];
                *total += a.probability;
                if a.probability > best.probability {
                    *best = a;
                }
            }
            None => {
                index.insert(key, groups.len());
                let p = a.probability;
                groups.push((a, p));
            }
        }
    }
    groups
        .into_iter()
        .map(|(best, total)| Answer {
            probability: total,
            ..best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(text: &str, start: usize, s: f32, e: f32) -> SpanCandidate {
        SpanCandidate {
            text: text.into(),
            start,
            end: start + text.chars().count(),
            start_logit: s,
            end_logit: e,
            length_penalty: 0.0,
        }
    }

    fn read(rank: usize, bm25: f32, candidates: Vec<SpanCandidate>) -> PassageRead {
        PassageRead {
            rank,
            retriever_score: bm25,
            bm25_score: None,
            dense_score: None,
            passage_id: format!("p{rank}"),
            title: format!("t{rank}"),
            candidates,
            null_score: None,
            text: String::new(),
        }
    }

    fn settings(strategy: Strategy, mu: f32, top_k: usize) -> AggregateSettings {
        AggregateSettings {
            strategy,
            mu,
            null_weight: 0.0,
            top_k,
            n_best: 20,
            trim_josa: false,
            temperature: 1.0,
            min_probability: 0.0,
        }
    }

    /// Passage 1 (BM25 20): "서울" 3+3 and "부산" 2+2. Passage 2 (BM25 10): "인천" 4+3.5, "서울" 2.5+2.5.
    fn reads() -> Vec<PassageRead> {
        vec![
            read(
                1,
                20.0,
                vec![span("서울", 0, 3.0, 3.0), span("부산", 5, 2.0, 2.0)],
            ),
            read(
                2,
                10.0,
                vec![span("인천", 0, 4.0, 3.5), span("서울", 9, 2.5, 2.5)],
            ),
        ]
    }

    fn top(strategy: Strategy, mu: f32, top_k: usize) -> Answer {
        aggregate(&reads(), &settings(strategy, mu, top_k))
            .answers
            .into_iter()
            .next()
            .unwrap()
    }

    #[test]
    fn logit_picks_the_highest_logit_sum_over_passages() {
        let a = top(Strategy::Logit, 0.5, 2);
        assert_eq!((a.text.as_str(), a.passage_id.as_str()), ("인천", "p2"));
        let z: f32 = [6.0f32, 4.0, 7.5, 5.0].iter().map(|s| s.exp()).sum();
        assert!((a.probability - 7.5f32.exp() / z).abs() < 1e-6);
        // top_k = 1 leaves only the first passage.
        assert_eq!(top(Strategy::Logit, 0.5, 1).text, "서울");
    }

    #[test]
    fn softmax_normalises_within_passages_then_weights_them_equally() {
        // p(인천 | p2) = 1/(1+e^-2.5) = 0.924 beats p(서울 | p1) = 1/(1+e^-2) = 0.881.
        let answers = aggregate(&reads(), &settings(Strategy::Softmax, 0.5, 2)).answers;
        assert_eq!(answers[0].text, "인천");
        let want = 1.0 / (1.0 + (-2.5f32).exp()) / 2.0;
        assert!((answers[0].probability - want).abs() < 1e-6);
        let total: f32 = answers.iter().map(|a| a.probability).sum();
        assert!((total - 1.0).abs() < 1e-6);
    }

    #[test]
    fn fusion_moves_from_retriever_to_reader_with_mu() {
        // μ = 0.2: 0.2·6 + 0.8·20 = 17.2 (서울, p1) beats 0.2·7.5 + 0.8·10 = 9.5 (인천).
        assert_eq!(top(Strategy::Fusion, 0.2, 2).text, "서울");
        // μ = 1: the reader alone, as `logit`.
        let (fusion, logit) = (top(Strategy::Fusion, 1.0, 2), top(Strategy::Logit, 0.0, 2));
        assert_eq!(fusion, logit);
    }

    #[test]
    fn merge_sums_probabilities_of_the_same_text() {
        // Reader alone: 인천 e^7.5 alone vs 서울 e^6 + e^5 → 인천 (1808 vs 552).
        assert_eq!(top(Strategy::Merge, 1.0, 2).text, "인천");
        // With extra "서울" spans the merged text wins although no single span does.
        let mut r = reads();
        r[1].candidates.push(span("서울 ", 20, 3.4, 3.4));
        r.push(read(
            3,
            10.0,
            vec![span("서울", 0, 3.6, 3.5), span("'서울'", 0, 3.5, 3.5)],
        ));
        let answers = aggregate(&r, &settings(Strategy::Merge, 1.0, 3)).answers;
        assert_eq!(answers[0].text, "서울");
        assert_eq!(
            answers[0].passage_id, "p3",
            "the best 서울 span is the evidence"
        );
        let logit = aggregate(&r, &settings(Strategy::Logit, 1.0, 3)).spans;
        assert_eq!(logit[0].text, "인천");
        let merged: f32 = logit
            .iter()
            .filter(|a| odqa_core::metrics::normalize_korquad(&a.text) == "서울")
            .map(|a| a.probability)
            .sum();
        assert!((answers[0].probability - merged).abs() < 1e-6);
        assert_eq!(
            answers.iter().filter(|a| a.text.contains("서울")).count(),
            1
        );
    }

    #[test]
    fn answers_are_distinct_and_spans_keep_every_span() {
        // Passage 1: 10월 9일 and its fragments; passage 2: another answer.
        let r = vec![
            read(
                1,
                1.0,
                vec![
                    span("10월 9일", 13, 5.0, 5.0),
                    span("10월", 13, 5.0, 4.0),
                    span("날인 10월 9일", 10, 3.5, 5.0),
                ],
            ),
            read(2, 1.0, vec![span("1446년", 0, 4.6, 4.2)]),
        ];
        let mut s = settings(Strategy::Fusion, 1.0, 2);
        s.temperature = 0.8;
        let ranked = aggregate(&r, &s);
        let texts = |a: &[Answer]| a.iter().map(|x| x.text.clone()).collect::<Vec<_>>();
        assert_eq!(texts(&ranked.answers), ["10월 9일", "1446년"]);
        assert_eq!(
            texts(&ranked.spans),
            ["10월 9일", "10월", "1446년", "날인 10월 9일"]
        );
        // The shown answers keep their own (calibrated) probabilities.
        assert_eq!(ranked.answers[0], ranked.spans[0]);
        assert_eq!(ranked.answers[1], ranked.spans[2]);
        // n_best counts distinct answers (and spans on their own).
        s.n_best = 2;
        let short = aggregate(&r, &s);
        assert_eq!(texts(&short.answers), ["10월 9일", "1446년"]);
        assert_eq!(texts(&short.spans), ["10월 9일", "10월"]);
    }

    #[test]
    fn josa_trimming_changes_text_and_end() {
        let r = vec![read(1, 1.0, vec![span("서울에서", 4, 1.0, 1.0)])];
        let mut s = settings(Strategy::Logit, 1.0, 1);
        s.trim_josa = true;
        let a = &aggregate(&r, &s).answers[0];
        assert_eq!((a.text.as_str(), a.start, a.end), ("서울", 4, 6));
    }

    #[test]
    fn spans_are_trimmed_and_deduplicated() {
        let candidate = |text: &str, start: usize, score: f32| odqa_reader::decode::Candidate {
            last_token_start: None,
            text: text.into(),
            start_logit: score,
            end_logit: 0.0,
            score,
            length_penalty: 0.0,
            probability: 0.0,
            start: Some(start),
            end: Some(start + text.chars().count()),
            window: None,
        };
        let mut placeholder = candidate("empty", 0, 0.0);
        placeholder.start = None;
        let got = spans(
            vec![
                candidate(" 서울", 3, 5.0),
                candidate("서울", 4, 4.0),
                candidate("  ", 0, 3.0),
                candidate("서울 수도", 4, 2.0),
                placeholder,
            ],
            false,
        );
        let got: Vec<(&str, usize, usize, f32)> = got
            .iter()
            .map(|s| (s.text.as_str(), s.start, s.end, s.start_logit))
            .collect();
        assert_eq!(got, [("서울", 4, 6, 5.0), ("서울 수도", 4, 9, 2.0)]);
        // A year question's date keeps its year, which the shorter span then repeats.
        let years = |year_question| {
            let got = spans(
                vec![candidate("2008년 9월", 0, 5.0), candidate("2008년", 0, 4.0)],
                year_question,
            );
            got.iter()
                .map(|s| (s.text.clone(), s.end, s.start_logit))
                .collect::<Vec<_>>()
        };
        assert_eq!(years(true), [("2008년".to_string(), 5, 5.0)]);
        assert_eq!(years(false).len(), 2);
    }

    #[test]
    fn no_candidates_no_answers() {
        assert_eq!(
            aggregate(&[read(1, 1.0, vec![])], &settings(Strategy::Merge, 0.5, 5)),
            Ranked::default()
        );
        assert_eq!(
            aggregate(&reads(), &settings(Strategy::Logit, 0.5, 0)),
            Ranked::default()
        );
    }

    #[test]
    fn temperature_keeps_the_ranking_and_min_probability_abstains() {
        let base = settings(Strategy::Fusion, 0.9, 2);
        let plain = aggregate(&reads(), &base).answers;
        let soft = aggregate(
            &reads(),
            &AggregateSettings {
                temperature: 4.0,
                ..base
            },
        )
        .answers;
        let texts = |a: &[Answer]| a.iter().map(|x| x.text.clone()).collect::<Vec<_>>();
        assert_eq!(texts(&soft), texts(&plain));
        assert!(soft[0].probability < plain[0].probability);
        let total: f32 = soft.iter().map(|a| a.probability).sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        let strict = AggregateSettings {
            min_probability: plain[0].probability + 1e-3,
            ..base
        };
        assert_eq!(aggregate(&reads(), &strict), Ranked::default());
        let lenient = AggregateSettings {
            min_probability: plain[0].probability - 1e-3,
            ..base
        };
        assert_eq!(aggregate(&reads(), &lenient).answers, plain);
    }
    /// Passage 1: "부산" 3+3 where the reader would rather say "no answer" ([CLS] 4+4); passage 2:
    /// "서울" 2.5+2.5, "인천" 1+1, [CLS] −2−2.
    fn answerless_first() -> Vec<PassageRead> {
        let mut first = read(1, 10.0, vec![span("부산", 0, 3.0, 3.0)]);
        first.null_score = Some(8.0);
        let mut second = read(
            2,
            10.0,
            vec![span("서울", 0, 2.5, 2.5), span("인천", 5, 1.0, 1.0)],
        );
        second.null_score = Some(-4.0);
        vec![first, second]
    }

    #[test]
    fn the_null_weight_lowers_spans_of_passages_the_reader_finds_answerless() {
        let texts = |settings: &AggregateSettings| {
            aggregate(&answerless_first(), settings)
                .answers
                .into_iter()
                .map(|a| a.text)
                .collect::<Vec<_>>()
        };
        for strategy in [Strategy::Logit, Strategy::Fusion, Strategy::Merge] {
            let plain = settings(strategy, 0.9, 2);
            assert_eq!(texts(&plain), ["부산", "서울", "인천"], "{strategy}");
            // 6 − 8 = −2 against 5 + 4 = 9 and 2 + 4 = 6.
            let weighed = AggregateSettings {
                null_weight: 1.0,
                ..plain
            };
            assert_eq!(texts(&weighed), ["서울", "인천", "부산"], "{strategy}");
        }
        // Within one passage nothing moves: the same amount comes off every span.
        let second = &answerless_first()[1..];
        let one = |w: f32| {
            let s = AggregateSettings {
                null_weight: w,
                ..settings(Strategy::Merge, 0.9, 2)
            };
            let ranked = aggregate(second, &s).answers;
            ranked.into_iter().map(|a| a.text).collect::<Vec<_>>()
        };
        assert_eq!(one(0.0), one(1.0));
        // Reads without no-answer scores (a cache from before them) are compared as they were.
        let mut unscored = answerless_first();
        for read in &mut unscored {
            read.null_score = None;
        }
        let weighed = AggregateSettings {
            null_weight: 1.0,
            ..settings(Strategy::Logit, 1.0, 2)
        };
        assert_eq!(aggregate(&unscored, &weighed).answers[0].text, "부산");
    }
}
