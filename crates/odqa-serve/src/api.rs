//! The JSON bodies of the HTTP API, their checks, and their OpenAPI schemas (generated from these
//! types by `utoipa`).

use odqa_pipeline::RetrieverMode;
use odqa_pipeline::{
    evidence, Answer, Answers, AskOptions, Hit, PassageRead, PipelineSettings, Strategy, Timings,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::Limits;

/// `POST /v1/ask`: a question and optional overrides of the server's settings.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    /// The question (Korean or English).
    pub question: String,
    /// Passages retrieved and read (1..=the server's limit).
    pub top_k: Option<usize>,
    /// Answers returned (1..=100).
    pub nbest: Option<usize>,
    /// How spans of different passages are compared: `logit`, `softmax`, `fusion`, `merge`.
    pub strategy: Option<String>,
    /// Reader weight μ of `fusion`/`merge`, 0..1.
    pub mu: Option<f32>,
    /// Weight of the passages' no-answer scores taken off their spans' scores, 0..1.
    pub null_weight: Option<f32>,
    /// Retriever: `bm25`, `dense` or `hybrid` (the last two when the index has passage vectors).
    pub retriever: Option<String>,
}

/// `POST /v1/retrieve`: a question and how many passages to return.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrieveRequest {
    /// The question.
    pub question: String,
    /// Passages returned (1..=the server's limit); the server's `top_k` when absent.
    pub top_k: Option<usize>,
    /// Retriever: `bm25`, `dense` or `hybrid` (the last two when the index has passage vectors).
    pub retriever: Option<String>,
}

/// A `retriever` field's value, or a 422 (an unknown name, or dense/hybrid on a server without
/// passage vectors).
pub(crate) fn parse_retriever(
    name: Option<&str>,
    has_vectors: bool,
) -> Result<Option<RetrieverMode>, ApiError> {
    let mode: Option<RetrieverMode> = name
        .map(|n| {
            n.parse()
                .map_err(|e: String| ApiError::unprocessable("bad_option", e))
        })
        .transpose()?;
    if mode.is_some_and(|m| m.needs_vectors() && !has_vectors) {
        return Err(ApiError::unprocessable(
            "bad_option",
            "this server's index has no passage vectors: only the bm25 retriever is available"
                .into(),
        ));
    }
    Ok(mode)
}

/// Checks a question's length against the limit (whether it can be searched is the pipeline's
/// rule, [`crate::Engine::check_question`]). Returns it trimmed.
pub(crate) fn check_length<'a>(question: &'a str, limits: &Limits) -> Result<&'a str, ApiError> {
    let trimmed = question.trim();
    let chars = trimmed.chars().count();
    if chars > limits.max_question_chars {
        return Err(ApiError::too_large(
            "question_too_long",
            format!(
                "the question has {chars} characters; at most {} are accepted",
                limits.max_question_chars
            ),
        ));
    }
    Ok(trimmed)
}

/// Checks a `top_k` override against the server's limit.
pub(crate) fn check_top_k(top_k: Option<usize>, limits: &Limits) -> Result<(), ApiError> {
    match top_k {
        Some(k) if k == 0 || k > limits.max_top_k => Err(ApiError::unprocessable(
            "bad_option",
            format!("top_k must be between 1 and {}, not {k}", limits.max_top_k),
        )),
        _ => Ok(()),
    }
}

impl AskRequest {
    /// The pipeline options of the request, checked against the server's `limits` and, applied to
    /// the server's `settings`, by [`AskOptions::apply`]; a value out of range is a 422.
    pub(crate) fn options(
        &self,
        limits: &Limits,
        settings: &PipelineSettings,
        has_vectors: bool,
    ) -> Result<AskOptions, ApiError> {
        let mut options = AskOptions::new();
        check_top_k(self.top_k, limits)?;
        if let Some(k) = self.top_k {
            options = options.with_top_k(k);
        }
        if let Some(n) = self.nbest {
            if n == 0 || n > limits.max_nbest {
                return Err(ApiError::unprocessable(
                    "bad_option",
                    format!("nbest must be between 1 and {}, not {n}", limits.max_nbest),
                ));
            }
            options = options.with_n_best(n);
        }
        if let Some(name) = &self.strategy {
            let strategy: Strategy = name
                .parse()
                .map_err(|e: String| ApiError::unprocessable("bad_option", e))?;
            options = options.with_strategy(strategy);
        }
        if let Some(mu) = self.mu {
            options = options.with_mu(mu);
        }
        if let Some(weight) = self.null_weight {
            options = options.with_null_weight(weight);
        }
        if let Some(mode) = parse_retriever(self.retriever.as_deref(), has_vectors)? {
            options = options.with_retriever(mode);
        }
        options
            .apply(settings)
            .map_err(|e| ApiError::unprocessable("bad_option", e.to_string()))?;
        Ok(options)
    }
}

/// The sentence holding an answer, split around it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvidenceJson {
    /// Sentence text before the answer.
    pub before: String,
    /// The answer as it appears in the passage.
    pub answer: String,
    /// Sentence text after the answer.
    pub after: String,
}

/// One answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnswerJson {
    /// The answer text.
    pub text: String,
    /// Probability over all candidates of the question (calibrated with the server's temperature).
    pub probability: f32,
    /// The passage it was read in.
    pub passage_id: String,
    /// That passage's title.
    pub title: String,
    /// Character offset of the answer in the passage text (Unicode scalar values, not bytes).
    pub start: usize,
    /// End character offset, exclusive.
    pub end: usize,
    /// Retrieval rank of the passage, 1-based.
    pub rank: usize,
    /// BM25 score of the passage.
    pub retriever_score: f32,
    /// The sentence holding the answer.
    pub sentence: String,
    /// The same sentence, split around the answer (for highlighting).
    pub evidence: EvidenceJson,
}

/// A passage read for a question.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PassageJson {
    /// Retrieval rank, 1-based.
    pub rank: usize,
    /// Passage id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Retrieval score: BM25's (for dense and hybrid retrieval, `/v1/ask` gives the score on
    /// BM25's scale that the answers were weighed with, `/v1/retrieve` the retriever's own).
    pub score: f32,
    /// BM25 score, when dense or hybrid retrieval knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25_score: Option<f32>,
    /// Dense score (cosine of the question and passage vectors), for dense and hybrid retrieval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_score: Option<f32>,
    /// Passage text.
    pub text: String,
}

/// Where the time of a request went, in milliseconds. The reading stages are those of the whole
/// batch the question was read in.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct TimingsJson {
    /// Waiting in the queue for a worker.
    pub queue_ms: f64,
    /// BM25 search of the batch.
    pub retrieval_ms: f64,
    /// Tokenization of the batch.
    pub tokenization_ms: f64,
    /// Encoder and head of the batch.
    pub encoder_ms: f64,
    /// Span decoding and aggregation of the batch.
    pub decoding_ms: f64,
    /// Questions read together in the batch.
    pub batch_questions: usize,
    /// Windows read in the batch.
    pub batch_windows: usize,
    /// From the request's arrival to its answer.
    pub total_ms: f64,
}

impl TimingsJson {
    /// The reading stages of `t`, the queue wait and the total.
    pub(crate) fn new(t: &Timings, batch: usize, queue_ms: f64, total_ms: f64) -> TimingsJson {
        TimingsJson {
            queue_ms,
            retrieval_ms: t.retrieval * 1e3,
            tokenization_ms: t.tokenization * 1e3,
            encoder_ms: t.encoder * 1e3,
            decoding_ms: t.decoding * 1e3,
            batch_questions: batch,
            batch_windows: t.windows,
            total_ms,
        }
    }
}

/// `POST /v1/ask` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AskResponse {
    /// The question as received (trimmed).
    pub question: String,
    /// Ranked answers; empty when nothing was found.
    pub answers: Vec<AnswerJson>,
    /// The passages read, by rank.
    pub passages: Vec<PassageJson>,
    /// Why there are no answers, when no passage matched (`no_passage`).
    pub note: Option<String>,
    /// Where the time went.
    pub timings: TimingsJson,
}

impl AskResponse {
    /// The answer to `question` (as received, trimmed): its answers with their evidence, the
    /// passages read and the timings (`queue_ms` waited, `batch` questions read together,
    /// `total_ms` in all). `odqa ask --json` prints the same.
    pub fn new(
        question: String,
        answered: &Answers,
        batch: usize,
        queue_ms: f64,
        total_ms: f64,
    ) -> AskResponse {
        AskResponse {
            question,
            answers: answered
                .answers
                .iter()
                .map(|a| AnswerJson::new(a, answered))
                .collect(),
            passages: answered.passages.iter().map(PassageJson::from).collect(),
            note: answered.error.as_ref().map(ToString::to_string),
            timings: TimingsJson::new(&answered.timings, batch, queue_ms, total_ms),
        }
    }
}

impl AnswerJson {
    /// One of `answers`, with its evidence sentence.
    pub fn new(answer: &Answer, answers: &Answers) -> AnswerJson {
        let text = answers.passage_of(answer).map_or("", |p| p.text.as_str());
        let e = evidence(text, answer.start, answer.end);
        AnswerJson {
            text: answer.text.clone(),
            probability: answer.probability,
            passage_id: answer.passage_id.clone(),
            title: answer.title.clone(),
            start: answer.start,
            end: answer.end,
            rank: answer.rank,
            retriever_score: answer.retriever_score,
            sentence: e.sentence(),
            evidence: EvidenceJson {
                before: e.before,
                answer: e.answer,
                after: e.after,
            },
        }
    }
}

impl From<&PassageRead> for PassageJson {
    fn from(p: &PassageRead) -> PassageJson {
        PassageJson {
            rank: p.rank,
            id: p.passage_id.clone(),
            title: p.title.clone(),
            score: p.retriever_score,
            bm25_score: p.bm25_score,
            dense_score: p.dense_score,
            text: p.text.clone(),
        }
    }
}

impl From<Hit> for PassageJson {
    fn from(h: Hit) -> PassageJson {
        PassageJson {
            rank: h.rank,
            id: h.id,
            title: h.title,
            score: h.score,
            bm25_score: h.bm25_score,
            dense_score: h.dense_score,
            text: h.text,
        }
    }
}

/// `POST /v1/retrieve` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RetrieveResponse {
    /// The question as received (trimmed).
    pub question: String,
    /// The retriever that found them (`bm25`, `dense`, `hybrid`).
    pub retriever: String,
    /// The best passages, best first.
    pub passages: Vec<PassageJson>,
    /// Search time in milliseconds.
    pub retrieval_ms: f64,
}

/// `GET /health` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` once the index and the model are loaded; `stale` once the index directory was
    /// replaced or removed (the server still answers from the index it opened).
    pub status: String,
    /// Why the status is not `ok`.
    pub warning: Option<String>,
    /// The index directory.
    pub index: String,
    /// The reader model directory.
    pub model: String,
    /// Passages in the index.
    pub passages: u64,
    /// Questions waiting for a worker.
    pub queued: usize,
    /// Questions dropped unread since the start because their clients had left.
    pub abandoned: usize,
    /// Connections open now.
    pub connections: usize,
}

/// Every error: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// An error's machine-readable code and human-readable message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// E.g. `bad_json`, `empty_question`, `question_too_long`, `bad_option`,
    /// `no_searchable_words`, `unreadable`, `queue_full`, `not_found`, `timeout`, `internal`.
    pub code: String,
    /// What to change.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked() {
        let limits = Limits::default();
        assert_eq!(check_length("  누구?  ", &limits).unwrap(), "누구?");
        let long = "가".repeat(limits.max_question_chars + 1);
        let err = check_length(&long, &limits).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (413, "question_too_long"));
        // The limit counts characters, not bytes: a Korean question at the limit is accepted.
        assert!(check_length(&long[3..], &limits).is_ok());

        let ask = |json: serde_json::Value| -> Result<AskOptions, ApiError> {
            let request: AskRequest = serde_json::from_value(json).unwrap();
            request.options(&limits, &PipelineSettings::default(), false)
        };
        let options = ask(serde_json::json!({"question": "q", "top_k": 3, "strategy": "merge"}));
        let options = options.unwrap();
        assert_eq!(
            (options.top_k, options.strategy),
            (Some(3), Some(Strategy::Merge))
        );
        for bad in [
            serde_json::json!({"question": "q", "top_k": 0}),
            serde_json::json!({"question": "q", "top_k": 100_000}),
            serde_json::json!({"question": "q", "nbest": 0}),
            serde_json::json!({"question": "q", "mu": 1.5}),
            serde_json::json!({"question": "q", "null_weight": 2}),
            serde_json::json!({"question": "q", "strategy": "best"}),
            serde_json::json!({"question": "q", "retriever": "bm-25"}),
            serde_json::json!({"question": "q", "retriever": "dense"}),
        ] {
            let err = ask(bad.clone()).unwrap_err();
            assert_eq!(
                (err.status.as_u16(), err.code),
                (422, "bad_option"),
                "{bad}"
            );
        }
        let hybrid: AskRequest =
            serde_json::from_value(serde_json::json!({"question": "q", "retriever": "hybrid"}))
                .unwrap();
        let options = hybrid
            .options(&limits, &PipelineSettings::default(), true)
            .unwrap();
        assert_eq!(options.retriever, Some(RetrieverMode::Hybrid));
        let typo =
            serde_json::from_value::<AskRequest>(serde_json::json!({"question": "q", "topk": 3}));
        assert!(typo.is_err(), "unknown fields are refused");
    }
}
