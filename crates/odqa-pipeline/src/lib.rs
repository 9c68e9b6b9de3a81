//! Open-domain question answering: BM25 retrieval of the top-k passages, reading every passage on
//! its own with the reader (windows batched across passages and questions), and aggregating the
//! spans into ranked answers.
//!
//! - [`pipeline`]: [`Pipeline`] (retriever + reader + settings), per-stage timings.
//! - [`aggregate`]: the four strategies (logit, softmax, fusion, merge) over pooled candidates.
//! - [`breakdown`]: where open-domain answers are lost (retrieval, reading, aggregation).
//! - [`calibration`]: the probabilities' temperature, reliability table and calibration error.
//! - [`evidence()`]: the sentence holding an answer.
//! - [`josa`]: trimming trailing Korean particles from answers.
//! - [`settings`]: [`PipelineSettings`], from defaults, TOML and flags.
//! - [`tune`]: grid search of k, strategy, μ and trimming on a dev set, with a reads cache.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod aggregate;
pub mod breakdown;
pub mod calibration;
mod error;
mod evidence;
pub mod josa;
pub mod pipeline;
pub mod settings;
pub mod tune;

pub use aggregate::{Answer, PassageRead, Strategy};
pub use error::{PipelineError, Result};
pub use evidence::{evidence, Evidence};
pub use pipeline::{Pipeline, QuestionAnswers, QuestionReads, Timings};
pub use settings::PipelineSettings;
