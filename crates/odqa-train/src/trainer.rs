//! The training loop: labelled windows → shuffled micro-batches → loss → gradients (accumulated)
//! → AdamW step; evaluation on the dev set every epoch (and every `eval_steps`), the best model kept
//! in the output directory, resumable checkpoints along the way.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use odqa_core::control::CancelToken;
use odqa_reader::{QaModel, ReaderBackend};

use crate::checkpoint::TrainerState;
use crate::error::Result;
use crate::events::{EventSink, TrainEvent};
use crate::optim::{layer_scales, param_tensor_count};
use crate::output::Output;
use crate::session::Session;
use crate::settings::TrainSettings;
use crate::setup::{Base, Start, StepPlan, TrainData};

/// How to run (not part of the run's settings).
#[derive(Clone, Default)]
pub struct TrainOptions {
    /// Continue from this checkpoint (or the latest `checkpoint-N` inside this directory).
    pub resume: Option<PathBuf>,
    /// Replace what the output directory holds (an earlier run, a model). The run is trained in a
    /// hidden sibling directory that takes the old one's place when the run ends without an
    /// error (finished, stopped early, or stopped with a checkpoint); a run that fails leaves the
    /// old one as it was. Without it a non-empty output directory is refused
    /// ([`TrainError::OutputExists`](crate::TrainError::OutputExists)) unless the run resumes
    /// from a checkpoint in it.
    pub overwrite: bool,
    /// Receives the run's plan, every step, every evaluation (none when `None`).
    pub events: Option<EventSink>,
    /// Cancelled (e.g. by Ctrl-C) to stop after the current step, saving a checkpoint first. The
    /// default is never cancelled.
    pub stop: CancelToken,
}

impl std::fmt::Debug for TrainOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainOptions")
            .field("resume", &self.resume)
            .field("overwrite", &self.overwrite)
            .field("events", &self.events.as_ref().map(|_| "…"))
            .field("stop", &self.stop)
            .finish()
    }
}

impl TrainOptions {
    /// Hands `event` to the event sink, if any.
    pub(crate) fn emit(&self, event: TrainEvent<'_>) {
        if let Some(sink) = &self.events {
            sink(&event);
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// The final state (also in `training.json` / the last checkpoint).
    pub state: TrainerState,
    /// True when stopped early through [`TrainOptions::stop`].
    pub interrupted: bool,
    /// True when `early_stopping_patience` evaluations in a row did not beat the best.
    pub stopped_early: bool,
    /// The last checkpoint written.
    pub checkpoint: Option<PathBuf>,
    /// Wall time of this session, evaluation included.
    pub seconds: f64,
    /// What the run accepted that the user should hear about (see [`TrainEvent::Warning`]).
    pub warnings: Vec<String>,
}

/// Trains a reader as `settings` says, on backend `B` with autodiff.
pub fn train<B: ReaderBackend>(
    settings: &TrainSettings,
    options: &TrainOptions,
    device: &B::Device,
) -> Result<TrainReport> {
    train_model::<B>(settings, options, device).map(|(report, _)| report)
}

/// As [`train`], also returning the model as it is at the end of the run (the last step's
/// weights, which are in the output directory when there is no dev set).
pub fn train_model<B: ReaderBackend>(
    settings: &TrainSettings,
    options: &TrainOptions,
    device: &B::Device,
) -> Result<(TrainReport, QaModel<B>)> {
    train_on::<burn::backend::Autodiff<B>>(settings, options, device)
}

/// [`train_model`] on the autodiff backend `AB`: checks and reads what the run needs, runs the
/// step loop, saves what the output directory keeps.
fn train_on<AB: AutodiffBackend + ReaderBackend>(
    settings: &TrainSettings,
    options: &TrainOptions,
    device: &AB::Device,
) -> Result<(TrainReport, QaModel<AB::InnerBackend>)>
where
    AB::InnerBackend: ReaderBackend,
{
    let wall = Instant::now();
    settings.validate()?;
    let base = Base::read(settings)?;
    for warning in &base.warnings {
        options.emit(TrainEvent::Warning(warning));
    }
    let mut output = Output::check(settings, options, &base.weights)?;
    let data = TrainData::load(settings, &base.tokenizer)?;
    let plan = StepPlan::new(settings, data.set.features.len());
    let start = Start::<AB>::new(
        settings,
        options.resume.as_deref(),
        &base,
        &data,
        &plan,
        device,
    )?;
    let config = start.loaded.config.clone();
    let model = match &base.lora {
        Some(spec) => start
            .loaded
            .model
            .with_lora(&config, spec, settings.seed, device)?,
        None => start
            .loaded
            .model
            .with_frozen_word_embeddings(settings.freeze_word_embeddings)
            .with_frozen_layers(settings.freeze_layers),
    };
    // The output directory, or the hidden one that replaces it at the end (see Output).
    let out_dir = output.create()?;
    let resumed_from = start.resumed_from.clone().map(|p| (p, start.state.step));
    let mut session = Session {
        settings,
        options,
        device,
        base: &base,
        data: &data,
        plan,
        config,
        out: &out_dir,
        // The head's parameters come after the encoder's in visiting order.
        head_start: param_tensor_count(model.encoder()),
        head_factor: settings
            .head_learning_rate
            .map_or(1.0, |h| h / settings.learning_rate),
        base_scales: layer_scales(&model.encoder().parameter_depths(), settings.layer_lr_decay),
        optimizer: start.optimizer,
        state: start.state,
        checkpoint: start.resumed_from,
        loss_avg: None,
    };
    options.emit(TrainEvent::Started(&plan.report(
        base.head,
        &data.set,
        resumed_from,
    )));
    let (model, ending) = session.run(model)?;
    session.save_final(&model, ending)?;
    let checkpoint = output.finish(session.checkpoint)?;
    Ok((
        TrainReport {
            state: session.state,
            interrupted: ending.interrupted,
            stopped_early: ending.stopped_early,
            checkpoint,
            seconds: wall.elapsed().as_secs_f64(),
            warnings: base.warnings.clone(),
        },
        model.valid(),
    ))
}
