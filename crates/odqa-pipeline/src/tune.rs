//! Grid search of k, strategy, μ, the no-answer weight and josa trimming on a dev set, from one
//! reading of the top `max(k)` passages of every question (the smaller k are prefixes of it), and
//! a cache of that reading so another grid costs no reading at all.

use std::path::Path;

use odqa_core::metrics::{korquad_em, max_over, score, AnswerScores};
use odqa_core::squad::QaExample;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::aggregate::{aggregate, AggregateSettings, Strategy};
use crate::calibration::Outcome;
use crate::error::{PipelineError, Result};
use crate::pipeline::QuestionReads;

/// One point of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TunePoint {
    /// Passages per question.
    pub top_k: usize,
    /// Aggregation strategy.
    pub strategy: Strategy,
    /// Reader weight (1 for strategies that do not use it).
    pub mu: f32,
    /// Weight of the passages' no-answer scores ([`AggregateSettings::null_weight`]).
    pub null_weight: f32,
    /// Josa trimming.
    pub trim_josa: bool,
}

impl TunePoint {
    /// The aggregation of this point keeping `n_best` answers, uncalibrated (temperature 1) and
    /// never abstaining.
    fn aggregate(&self, n_best: usize) -> AggregateSettings {
        AggregateSettings {
            strategy: self.strategy,
            mu: self.mu,
            null_weight: self.null_weight,
            top_k: self.top_k,
            n_best,
            trim_josa: self.trim_josa,
            temperature: 1.0,
            min_probability: 0.0,
        }
    }
}

/// A grid point and its scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TuneResult {
    /// The settings.
    #[serde(flatten)]
    pub point: TunePoint,
    /// EM/F1 over the dev questions with answers.
    pub scores: AnswerScores,
}

/// Every combination of `ks`, the strategies, `mus` (for `fusion`; `merge` also gets μ = 1, the
/// reader alone), `null_weights` (not for `softmax`, which compares each passage's spans only
/// among themselves: it gets 0) and josa trimming off/on.
pub fn grid(ks: &[usize], mus: &[f32], null_weights: &[f32]) -> Vec<TunePoint> {
    let mut points = Vec::new();
    for &top_k in ks {
        for trim_josa in [false, true] {
            for strategy in Strategy::ALL {
                let weights: &[f32] = if strategy == Strategy::Softmax {
                    &[0.0]
                } else {
                    null_weights
                };
                let mut strategy_mus: Vec<f32> = if strategy.uses_mu() {
                    mus.to_vec()
                } else {
                    vec![1.0]
                };
                if strategy == Strategy::Merge && !strategy_mus.contains(&1.0) {
                    strategy_mus.push(1.0);
                }
                for &null_weight in weights {
                    points.extend(strategy_mus.iter().map(|&mu| TunePoint {
                        top_k,
                        strategy,
                        mu,
                        null_weight,
                        trim_josa,
                    }));
                }
            }
        }
    }
    points
}

/// Scores every point on `examples` (gold answers) from their `reads` (same order).
pub fn evaluate(
    reads: &[QuestionReads],
    examples: &[QaExample],
    points: &[TunePoint],
) -> Vec<TuneResult> {
    let golds: Vec<Vec<String>> = examples
        .iter()
        .map(|e| e.answers.iter().map(|a| a.text.clone()).collect())
        .collect();
    points
        .par_iter()
        .map(|&point| {
            let settings = point.aggregate(1);
            let answers: Vec<String> = reads
                .iter()
                .map(|q| {
                    aggregate(&q.reads, &settings)
                        .answers
                        .into_iter()
                        .next()
                        .map(|a| a.text)
                        .unwrap_or_default()
                })
                .collect();
            let scores = score(
                answers
                    .iter()
                    .zip(&golds)
                    .filter(|(_, g)| !g.is_empty())
                    .map(|(a, g)| (Some(a.as_str()), g.as_slice())),
            );
            TuneResult { point, scores }
        })
        .collect()
}

/// The calibration data of `point` on `examples` with gold answers: every span's probability (at
/// temperature 1) and whether the best one is an exact match.
pub fn outcomes(
    reads: &[QuestionReads],
    examples: &[QaExample],
    point: &TunePoint,
) -> Vec<Outcome> {
    let settings = point.aggregate(usize::MAX);
    reads
        .iter()
        .zip(examples)
        .filter(|(_, e)| !e.answers.is_empty())
        .map(|(q, e)| {
            let spans = aggregate(&q.reads, &settings).spans;
            let golds: Vec<String> = e.answers.iter().map(|a| a.text.clone()).collect();
            let correct = spans
                .first()
                .is_some_and(|a| max_over(korquad_em, &a.text, &golds) == 1.0);
            Outcome {
                probabilities: spans.iter().map(|a| a.probability).collect(),
                correct,
            }
        })
        .collect()
}

/// The best result: highest KorQuAD EM, then F1, then the smallest k (fastest), then the
/// smallest no-answer weight (at k 1 every weight ties: it only compares passages).
pub fn best(results: &[TuneResult]) -> Option<&TuneResult> {
    results.iter().max_by(|a, b| {
        a.scores
            .korquad_em
            .total_cmp(&b.scores.korquad_em)
            .then(a.scores.korquad_f1.total_cmp(&b.scores.korquad_f1))
            .then(b.point.top_k.cmp(&a.point.top_k))
            .then(b.point.null_weight.total_cmp(&a.point.null_weight))
    })
}

/// What a cache of reads was computed from; a cache is used only when everything matches
/// (its `top_k` may be larger than asked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheKey {
    /// Model directory, its weights' size and modification time (seconds since the epoch).
    pub model: String,
    /// Size of the weights file (model.safetensors or pytorch_model.bin) in bytes.
    pub model_bytes: u64,
    /// Modification time of the weights file.
    pub model_modified: u64,
    /// Index directory and its passage count.
    pub index: String,
    /// Passages in the index.
    pub passages: u64,
    /// Passages read per question.
    pub top_k: usize,
    /// Window length, stride, spans per passage, longest answer.
    pub reading: [usize; 4],
    /// The length penalty of the spans' scores (0 in caches made before there was one).
    #[serde(default)]
    pub length_penalty: f32,
    /// Whether year questions' dates were cut to their year (false in caches made before the
    /// setting existed).
    #[serde(default)]
    pub year_answers: bool,
    /// The question ids, in order.
    pub question_ids: Vec<String>,
    /// The retriever and its fusion ([`PipelineSettings::retrieval_key`]); `bm25` in caches
    /// made before there were others.
    #[serde(default = "bm25_key")]
    pub retrieval: String,
    /// The reader's span rules ([`odqa_reader::decode::DECODING_VERSION`]); 0 in caches made
    /// before it was recorded, whose spans may differ from today's.
    #[serde(default)]
    pub decoding: u32,
    /// Whether the reads hold the passages' no-answer scores: true in every cache written now,
    /// false in caches made before they were recorded. Asked for (true in the wanted key) only
    /// when a no-answer weight other than 0 is to be scored; such a cache then cannot answer.
    #[serde(default)]
    pub null_scores: bool,
}

fn bm25_key() -> String {
    "bm25".into()
}

impl CacheKey {
    /// True when a cache made with `self` can answer for `wanted`.
    pub fn covers(&self, wanted: &CacheKey) -> bool {
        self.top_k >= wanted.top_k
            && (self.null_scores || !wanted.null_scores)
            && CacheKey {
                top_k: wanted.top_k,
                null_scores: wanted.null_scores,
                ..self.clone()
            } == *wanted
    }

    /// Model weights' size and modification time.
    pub fn model_stamp(model: &Path) -> (u64, u64) {
        let meta = std::fs::metadata(odqa_reader::model_files::weights_file(model)).ok();
        let bytes = meta.as_ref().map_or(0, std::fs::Metadata::len);
        let modified = meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        (bytes, modified)
    }
}

/// Reads saved by `odqa tune --cache`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReadsCache {
    /// What they were computed from.
    pub key: CacheKey,
    /// One entry per question.
    pub reads: Vec<QuestionReads>,
}

impl ReadsCache {
    /// Loads `path` when it exists and covers `wanted`; `Ok(None)` when there is no file; an error
    /// when it is unreadable or was made for something else.
    pub fn load(path: &Path, wanted: &CacheKey) -> Result<Option<ReadsCache>> {
        let bad = |message: String| PipelineError::Cache {
            path: path.to_path_buf(),
            message,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(e.to_string())),
        };
        let cache: ReadsCache = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not an odqa tuning cache: {e}")))?;
        if !cache.key.covers(wanted) {
            let mut differs = Vec::new();
            let (have, want) = (&cache.key, wanted);
            if have.model != want.model
                || have.model_bytes != want.model_bytes
                || have.model_modified != want.model_modified
            {
                differs.push("model");
            }
            if have.index != want.index || have.passages != want.passages {
                differs.push("index");
            }
            if have.top_k < want.top_k {
                differs.push("top-k (smaller)");
            }
            if have.reading != want.reading
                || have.length_penalty != want.length_penalty
                || have.year_answers != want.year_answers
            {
                differs.push("reading settings");
            }
            if have.question_ids != want.question_ids {
                differs.push("questions");
            }
            if have.retrieval != want.retrieval {
                differs.push("retriever");
            }
            if have.decoding != want.decoding {
                differs.push("decoding rules");
            }
            if want.null_scores && !have.null_scores {
                differs.push("no-answer scores, which it predates and a no-answer weight needs");
            }
            return Err(bad(format!(
                "made for another run ({} differ): delete it or use another cache file",
                differs.join(", ")
            )));
        }
        Ok(Some(cache))
    }

    /// Writes the cache atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| PipelineError::Cache {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        odqa_core::fsio::write_atomic(path, &bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{PassageRead, SpanCandidate};
    use odqa_core::squad::Answer as Gold;

    fn question(gold: &str, spans: &[(&str, f32)]) -> (QuestionReads, QaExample) {
        let reads = spans
            .iter()
            .enumerate()
            .map(|(i, (text, logit))| PassageRead {
                rank: i + 1,
                retriever_score: 10.0 - i as f32,
                bm25_score: None,
                dense_score: None,
                passage_id: format!("p{i}"),
                title: String::new(),
                candidates: vec![SpanCandidate {
                    text: text.to_string(),
                    start: 0,
                    end: text.chars().count(),
                    start_logit: *logit,
                    end_logit: 0.0,
                    length_penalty: 0.0,
                }],
                null_score: None,
                text: String::new(),
            })
            .collect();
        let example = QaExample {
            id: gold.into(),
            question: "q".into(),
            title: String::new(),
            context: String::new(),
            answers: vec![Gold {
                text: gold.into(),
                answer_start: 0,
            }],
        };
        (QuestionReads { reads, error: None }, example)
    }

    #[test]
    fn grid_scores_each_k_strategy_and_trimming() {
        // Q1: the right answer is only in passage 2, with a higher logit; Q2: right with a particle.
        let (r1, e1) = question("서울", &[("부산", 1.0), ("서울", 5.0)]);
        let (r2, e2) = question("인천", &[("인천에서", 3.0)]);
        let points = grid(&[1, 2], &[0.5], &[0.0]);
        // 2 k × 2 trimming × (logit, softmax, fusion 0.5, merge 0.5, merge 1).
        assert_eq!(points.len(), 20);
        let results = evaluate(&[r1, r2], &[e1, e2], &points);
        let em = |k: usize, s: Strategy, trim: bool| {
            results
                .iter()
                .find(|r| r.point.top_k == k && r.point.strategy == s && r.point.trim_josa == trim)
                .unwrap()
                .scores
                .korquad_em
        };
        assert_eq!(em(1, Strategy::Logit, false), 0.0);
        assert_eq!(em(2, Strategy::Logit, false), 50.0);
        assert_eq!(em(2, Strategy::Logit, true), 100.0);
        let top = best(&results).unwrap();
        assert_eq!((top.point.top_k, top.point.trim_josa), (2, true));
        assert_eq!(top.scores.korquad_em, 100.0);
    }

    #[test]
    fn a_cache_is_used_only_for_what_it_was_made_from() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reads.json");
        let key = CacheKey {
            model: "m".into(),
            model_bytes: 1,
            model_modified: 2,
            index: "i".into(),
            passages: 3,
            top_k: 40,
            reading: [384, 128, 20, 30],
            length_penalty: 0.0,
            year_answers: false,
            question_ids: vec!["a".into()],
            retrieval: "bm25".into(),
            decoding: odqa_reader::decode::DECODING_VERSION,
            null_scores: true,
        };
        assert!(ReadsCache::load(&path, &key).unwrap().is_none());
        let (reads, _) = question("서울", &[("서울", 1.0)]);
        ReadsCache {
            key: key.clone(),
            reads: vec![reads.clone()],
        }
        .save(&path)
        .unwrap();
        let smaller = CacheKey {
            top_k: 20,
            ..key.clone()
        };
        let loaded = ReadsCache::load(&path, &smaller).unwrap().unwrap();
        assert_eq!(loaded.reads[0].reads.len(), reads.reads.len());
        let other = CacheKey {
            model_bytes: 9,
            top_k: 80,
            ..key.clone()
        };
        let err = ReadsCache::load(&path, &other).unwrap_err().to_string();
        assert!(err.contains("model, top-k (smaller) differ"), "{err}");
        let penalised = CacheKey {
            length_penalty: 0.1,
            ..key.clone()
        };
        let err = ReadsCache::load(&path, &penalised).unwrap_err().to_string();
        assert!(err.contains("(reading settings differ"), "{err}");
        let years = CacheKey {
            year_answers: true,
            ..key.clone()
        };
        let err = ReadsCache::load(&path, &years).unwrap_err().to_string();
        assert!(err.contains("(reading settings differ"), "{err}");
        // A cache with no-answer scores serves a grid without a no-answer weight; one from
        // before them serves only such a grid.
        let unweighted = CacheKey {
            null_scores: false,
            ..key.clone()
        };
        assert!(ReadsCache::load(&path, &unweighted).unwrap().is_some());
        let mut before: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        before["key"].as_object_mut().unwrap().remove("null_scores");
        let before_path = dir.path().join("before.json");
        std::fs::write(&before_path, serde_json::to_vec(&before).unwrap()).unwrap();
        assert!(ReadsCache::load(&before_path, &unweighted)
            .unwrap()
            .is_some());
        let err = ReadsCache::load(&before_path, &key)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("(no-answer scores, which it predates"),
            "{err}"
        );
        let hybrid = CacheKey {
            retrieval: "hybrid rrf (c 60) depth 100".into(),
            ..key
        };
        let err = ReadsCache::load(&path, &hybrid).unwrap_err().to_string();
        assert!(err.contains("(retriever differ"), "{err}");
        // A cache written before the retriever was recorded reads as BM25's.
        let mut old: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        old["key"].as_object_mut().unwrap().remove("retrieval");
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        assert!(ReadsCache::load(&path, &smaller).unwrap().is_some());
        // One written before the decoding rules were recorded holds spans of older rules.
        old["key"].as_object_mut().unwrap().remove("decoding");
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        let err = ReadsCache::load(&path, &smaller).unwrap_err().to_string();
        assert!(err.contains("(decoding rules differ"), "{err}");
    }
}
