//! Fine-tuning of the odqa reader (`odqa train`): linear or CNN head on a BERT/RoBERTa encoder,
//! trained on SQuAD-format or `save_to_disk` data with run_qa-exact labels.
//!
//! - [`settings`]: every hyperparameter, from TOML and flags.
//! - [`data`]: examples, answer checks, labelled windows.
//! - [`optim`]: AdamW with transformers' decay groups, global-norm clipping, schedules.
//! - [`checkpoint`]: output model directory, resumable checkpoints, trainer state. Before any work
//!   a run refuses an output directory that holds its model, or anything at all unless the run
//!   resumes from it or may replace it ([`TrainOptions::overwrite`]).
//! - [`evaluate`]: dev EM/F1 during training.
//! - [`trainer`]: the run (its setup and step loop in private modules); [`events`]: what it
//!   reports while it runs.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod checkpoint;
pub mod data;
mod error;
pub mod evaluate;
pub mod events;
pub mod optim;
mod output;
mod session;
pub mod settings;
mod setup;
mod step;
pub mod trainer;

pub use error::{Result, TrainError};
pub use events::{EventSink, RunPlan, StepReport, TrainEvent};
pub use settings::{Schedule, TrainSettings};
pub use trainer::{train, train_model, TrainOptions, TrainReport};

/// The cancellation flag of [`TrainOptions::stop`] (re-exported from `odqa_core::control`).
pub use odqa_core::control::CancelToken;
