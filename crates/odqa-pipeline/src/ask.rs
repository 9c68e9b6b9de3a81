//! The types of the question-level API: per-question options, per-question errors and the
//! answers to one question.

use odqa_retriever::RetrieverError;
use serde::{Deserialize, Serialize};

use crate::aggregate::{Answer, PassageRead, Strategy};
use crate::pipeline::Timings;
use crate::settings::{PipelineSettings, SettingError};

/// Per-question overrides of the pipeline's settings; `None` keeps the pipeline's value.
///
/// ```
/// use odqa_pipeline::{AskOptions, Strategy};
/// let options = AskOptions::new().with_top_k(5).with_strategy(Strategy::Merge);
/// assert_eq!(options.top_k, Some(5));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct AskOptions {
    /// Passages retrieved and read.
    pub top_k: Option<usize>,
    /// Answers kept.
    pub n_best: Option<usize>,
    /// How spans of different passages are compared.
    pub strategy: Option<Strategy>,
    /// Reader weight μ of `fusion`/`merge`, 0..1.
    pub mu: Option<f32>,
    /// Weight of the passages' no-answer scores, 0..1
    /// ([`PipelineSettings::null_weight`]).
    pub null_weight: Option<f32>,
    /// The retriever (dense and hybrid need the index's vectors loaded).
    pub retriever: Option<odqa_retriever::RetrieverMode>,
}

impl AskOptions {
    /// No overrides.
    pub fn new() -> AskOptions {
        AskOptions::default()
    }

    /// Reads the top `k` passages.
    pub fn with_top_k(mut self, k: usize) -> AskOptions {
        self.top_k = Some(k);
        self
    }

    /// Keeps `n` answers.
    pub fn with_n_best(mut self, n: usize) -> AskOptions {
        self.n_best = Some(n);
        self
    }

    /// Ranks with `strategy`.
    pub fn with_strategy(mut self, strategy: Strategy) -> AskOptions {
        self.strategy = Some(strategy);
        self
    }

    /// Weighs the reader by `mu` in `fusion`/`merge`.
    pub fn with_mu(mut self, mu: f32) -> AskOptions {
        self.mu = Some(mu);
        self
    }

    /// Takes `weight` × each passage's no-answer score off its spans' scores.
    pub fn with_null_weight(mut self, weight: f32) -> AskOptions {
        self.null_weight = Some(weight);
        self
    }

    /// Retrieves with `retriever`.
    pub fn with_retriever(mut self, retriever: odqa_retriever::RetrieverMode) -> AskOptions {
        self.retriever = Some(retriever);
        self
    }

    /// `settings` with these overrides, checked ([`PipelineSettings::validate`]'s error when a
    /// value is out of range).
    pub fn apply(&self, settings: &PipelineSettings) -> Result<PipelineSettings, SettingError> {
        let mut s = settings.clone();
        s.top_k = self.top_k.unwrap_or(s.top_k);
        s.n_best = self.n_best.unwrap_or(s.n_best);
        s.strategy = self.strategy.unwrap_or(s.strategy);
        s.mu = self.mu.unwrap_or(s.mu);
        s.null_weight = self.null_weight.unwrap_or(s.null_weight);
        s.retriever = self.retriever.unwrap_or(s.retriever);
        s.validate()?;
        Ok(s)
    }
}

/// Why a question has no (or fewer) passages read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", content = "message", rename_all = "snake_case")]
#[non_exhaustive]
pub enum QuestionError {
    /// Empty or only whitespace.
    #[error("the question is empty")]
    Empty,
    /// Nothing left to search for once analysed (only punctuation or symbols).
    #[error("the question has no searchable words (only punctuation or symbols)")]
    NoSearchableWords,
    /// The index has no passage sharing a word with the question.
    #[error("no passage matches the question")]
    NoPassage,
    /// The question cannot be read with its passages, e.g. it is longer than the window.
    #[error("{0}")]
    Unreadable(String),
    /// The search failed.
    #[error("{0}")]
    Search(String),
}

impl QuestionError {
    /// True when the question itself is at fault (empty, no words, too long) rather than the
    /// corpus having nothing for it.
    pub fn is_bad_question(&self) -> bool {
        matches!(
            self,
            QuestionError::Empty | QuestionError::NoSearchableWords | QuestionError::Unreadable(_)
        )
    }

    /// A stable machine-readable name: `empty`, `no_searchable_words`, `no_passage`,
    /// `unreadable`, `search`.
    pub fn code(&self) -> &'static str {
        match self {
            QuestionError::Empty => "empty",
            QuestionError::NoSearchableWords => "no_searchable_words",
            QuestionError::NoPassage => "no_passage",
            QuestionError::Unreadable(_) => "unreadable",
            QuestionError::Search(_) => "search",
        }
    }
}

impl From<&RetrieverError> for QuestionError {
    /// A failed search: the retriever's question errors keep their kind.
    fn from(error: &RetrieverError) -> QuestionError {
        match error {
            RetrieverError::EmptyQuestion => QuestionError::Empty,
            RetrieverError::NoSearchableWords { .. } => QuestionError::NoSearchableWords,
            other => QuestionError::Search(other.to_string()),
        }
    }
}

/// The answers to one question from [`crate::Pipeline::ask`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Answers {
    /// Ranked answers; empty when no passage matched, no span was found or none reached
    /// `min_probability`.
    pub answers: Vec<Answer>,
    /// The passages read, by rank, with their text (for evidence).
    pub passages: Vec<PassageRead>,
    /// Why nothing was read, when no passage matched ([`QuestionError::NoPassage`]).
    pub error: Option<QuestionError>,
    /// Where the time went.
    pub timings: Timings,
}

impl Answers {
    /// The passage `answer` was read in.
    pub fn passage_of(&self, answer: &Answer) -> Option<&PassageRead> {
        self.passages.iter().find(|p| p.rank == answer.rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_override_only_what_they_name() {
        let base = PipelineSettings::default();
        let s = AskOptions::new().with_top_k(3).apply(&base).unwrap();
        assert_eq!(s.top_k, 3);
        assert_eq!(s.mu, base.mu);
        assert_eq!(s.strategy, base.strategy);
        let err = AskOptions::new().with_mu(1.5).apply(&base).unwrap_err();
        assert_eq!((err.name, err.value.as_str()), ("mu", "1.5"), "{err}");
        let s = AskOptions::new()
            .with_null_weight(1.0)
            .apply(&base)
            .unwrap();
        assert_eq!((s.null_weight, s.mu), (1.0, base.mu));
        let err = AskOptions::new()
            .with_null_weight(-1.0)
            .apply(&base)
            .unwrap_err();
        assert_eq!(err.name, "null_weight", "{err}");
        assert!(AskOptions::new().with_top_k(0).apply(&base).is_err());
    }

    #[test]
    fn errors_serialize_with_their_code() {
        let json = serde_json::to_value(QuestionError::Unreadable("too long".into())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "unreadable", "message": "too long"})
        );
        let json = serde_json::to_value(QuestionError::Empty).unwrap();
        assert_eq!(json["code"], QuestionError::Empty.code());
        assert!(QuestionError::Empty.is_bad_question());
        assert!(!QuestionError::NoPassage.is_bad_question());
    }
}
