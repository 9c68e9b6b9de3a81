//! What a running [`crate::train`] reports, for the caller to show as it likes (a progress bar on
//! a terminal, log lines in a file, nothing): the library itself never writes to the terminal.

use std::path::PathBuf;
use std::sync::Arc;

use odqa_reader::HeadKind;

use crate::checkpoint::Evaluation;

/// The run about to start.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    /// Head being trained.
    pub head: HeadKind,
    /// Labelled training windows.
    pub windows: usize,
    /// Training examples they come from.
    pub examples: usize,
    /// Examples skipped (answer not at its offset, …).
    pub skipped: usize,
    /// Examples whose answer ends inside a token (labelled with the whole token; decoding cuts a
    /// particle there).
    pub inside_token_ends: usize,
    /// Optimizer steps of the whole run.
    pub total_steps: usize,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: usize,
    /// Windows per optimizer step.
    pub windows_per_step: usize,
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// The checkpoint resumed from and its step, when resuming.
    pub resumed_from: Option<(PathBuf, usize)>,
}

/// One optimizer step done.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Steps done (1-based).
    pub step: usize,
    /// Steps of the whole run.
    pub total_steps: usize,
    /// The epoch this step belongs to (1-based).
    pub epoch: usize,
    /// This step's mean loss.
    pub loss: f64,
    /// Exponential moving average of the loss (factor 0.9).
    pub smoothed_loss: f64,
    /// Learning rate of this step.
    pub learning_rate: f64,
    /// Training windows per second so far (time of the steps only).
    pub windows_per_second: f64,
}

/// One report of a running training.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent<'a> {
    /// The run starts (or resumes).
    Started(&'a RunPlan),
    /// An optimizer step ended.
    Step(StepReport),
    /// An evaluation on this many dev questions starts.
    Evaluating {
        /// Dev questions.
        questions: usize,
    },
    /// An evaluation ended; `best`: the best so far (its model was saved).
    Evaluated {
        /// The evaluation.
        evaluation: &'a Evaluation,
        /// Whether it is the best so far.
        best: bool,
    },
    /// Something accepted that the user should hear about (e.g. an adapter's base whose sha256
    /// differs from the recorded one, accepted by `base_mismatch_ok`); also in
    /// [`TrainReport::warnings`](crate::TrainReport::warnings).
    Warning(&'a str),
    /// Training stops early: this many evaluations in a row did not beat the best.
    EarlyStop {
        /// Evaluations without improvement.
        evaluations: usize,
    },
}

/// Receives the events of a run (called on the training thread; keep it quick).
pub type EventSink = Arc<dyn Fn(&TrainEvent<'_>) + Send + Sync>;
