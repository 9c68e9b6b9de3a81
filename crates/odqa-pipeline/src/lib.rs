//! Open-domain question answering: BM25 retrieval of the top-k passages, reading every passage on
//! its own with the reader (windows batched across passages and questions), and aggregating the
//! spans into ranked answers.
//!
//! - [`pipeline`]: [`Pipeline`] (retriever + reader + settings), per-stage timings.
//! - [`aggregate`]: the four strategies (logit, softmax, fusion, merge) over pooled candidates.
//! - [`breakdown`]: where open-domain answers are lost (retrieval, reading, aggregation).
//! - [`dense`]: passage vectors with the reader's encoder code, and the question encoder of
//!   dense and hybrid retrieval.
//! - [`distinct`]: the answers shown are different answers, not fragments of a better one.
//! - [`calibration`]: the probabilities' temperature, reliability table and calibration error.
//! - [`evidence()`]: the sentence holding an answer.
//! - [`settings`]: [`PipelineSettings`], from defaults, TOML and flags.
//! - [`tune`]: grid search of k, strategy, μ and trimming on a dev set, with a reads cache.
//!
//! Embedding odqa: index a corpus once ([`odqa_retriever::build_index`]), open a [`Pipeline`] on
//! the index and a reader with a QA head, then [`Pipeline::ask`] (one question, optionally with
//! [`AskOptions`]) or [`Pipeline::answer`] (a batch, with an [`Observer`] for progress and
//! cancellation, e.g. a [`CancelToken`]). Nothing here prints or installs signal handlers.
//!
//! ```
//! use odqa_pipeline::{
//!     AskOptions, CancelToken, Pipeline, PipelineError, PipelineSettings, QuestionError,
//! };
//! use odqa_reader::DefaultBackend;
//! use odqa_retriever::{build_index, BuildOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
//! let index = tempfile::tempdir()?;
//! let corpus = fixtures.join("wikipedia_documents.json");
//! build_index(&[corpus], index.path(), &BuildOptions::default(), &CancelToken::new())?;
//!
//! // A tiny test model (128 positions): its answers are not meant to be right, only well-formed.
//! let model = fixtures.join("reader-parity/tiny-bert-qa");
//! let mut settings = PipelineSettings::default();
//! (settings.max_seq_len, settings.doc_stride) = (128, 32);
//! let pipeline: Pipeline<DefaultBackend> =
//!     Pipeline::open(index.path(), &model, settings, &Default::default())?;
//!
//! let got = pipeline.ask_with("임종석은 누구인가?", &AskOptions::new().with_top_k(3))?;
//! let best = &got.answers[0];
//! assert!(got.passages.len() <= 3);
//! assert!(got.passages.iter().any(|p| p.passage_id == best.passage_id));
//! assert!(best.start <= best.end && best.probability <= 1.0);
//!
//! // A question at fault is an error that says why.
//! match pipeline.ask("?!") {
//!     Err(PipelineError::Question(QuestionError::NoSearchableWords)) => {}
//!     other => panic!("expected no searchable words, got {other:?}"),
//! }
//! # Ok(())
//! # }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod aggregate;
mod ask;
pub mod breakdown;
pub mod calibration;
pub mod dense;
pub mod distinct;
mod error;
mod evidence;
pub mod pipeline;
mod retrieval;
pub mod settings;
pub mod submission;
pub mod tune;

pub use aggregate::{Answer, PassageRead, Strategy};
pub use ask::{Answers, AskOptions, QuestionError};
pub use error::{PipelineError, Result};
pub use evidence::{evidence, Evidence};
/// The reader's backends, for naming a [`Pipeline`]'s type.
pub use odqa_reader::precision::Precision;
pub use odqa_reader::{DefaultBackend, ModelSource, ReaderBackend};
/// A retrieved passage (the retriever's type, so callers need not depend on it).
pub use odqa_retriever::{Hit, RetrieverMode};
pub use pipeline::{Pipeline, QuestionAnswers, QuestionReads, Timings};
pub use settings::{FusionKind, PipelineSettings, SettingError};
pub use submission::Submission;

/// Question sets, their scoring and the check of output paths, for the front ends (CLI, server,
/// Python) that read and write them.
pub mod data {
    pub use odqa_core::fsio::check_outputs;
    pub use odqa_core::predictions::{score_predictions, PredictionScores};
    pub use odqa_core::questions::read_questions;
    pub use odqa_core::squad::{read_examples, Answer as GoldAnswer, QaExample};
}

/// Building an index, for front ends that offer it beside the pipeline.
pub mod indexing {
    pub use odqa_retriever::{
        build_index, BuildOptions, BuildSummary, CancelToken, Language, LanguageChoice,
    };
}

/// Reading comprehension without retrieval (a question and its paragraph), for front ends.
pub mod reading {
    pub use odqa_reader::decode::{Candidate, DecodeSettings};
    pub use odqa_reader::read::{ExamplePrediction, Reader};
    pub use odqa_reader::window::WindowSettings;
}

/// Progress and cancellation (odqa-core's, shared with the retriever and the trainer).
pub use odqa_core::control::{CancelToken, Observer, Unobserved};
