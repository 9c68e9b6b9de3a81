//! The training loop: labelled windows → shuffled micro-batches → loss → gradients (accumulated)
//! → AdamW step; evaluation on the dev set every epoch (and every `eval_steps`), the best model kept
//! in the output directory, resumable checkpoints along the way.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use odqa_core::squad::QaExample;
use odqa_reader::features::{FeatureTokenizer, WindowSettings};
use odqa_reader::model::stored_head_kind;
use odqa_reader::read::Reader;
use odqa_reader::{HeadKind, QaModel, ReaderBackend, ReaderConfig};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::checkpoint::{
    find_checkpoint, model_fingerprint, read_state, save_checkpoint, save_model, write_json,
    Evaluation, LogEntry, TrainerState, OPTIMIZER_FILE, TRAINING_FILE,
};
use crate::data::{dev_examples, read_mixture, subset, training_set};
use crate::error::{Result, TrainError};
use crate::evaluate::evaluate;
use crate::events::{EventSink, RunPlan, StepReport, TrainEvent};
use crate::optim::{learning_rate, param_tensor_count, AdamW, AdamWSettings, LearningRates};
use crate::settings::TrainSettings;

/// How to run (not part of the run's settings).
#[derive(Clone, Default)]
pub struct TrainOptions {
    /// Continue from this checkpoint (or the latest `checkpoint-N` inside this directory).
    pub resume: Option<PathBuf>,
    /// Replace what the output directory holds (an earlier run, a model). The run is trained in a
    /// hidden sibling directory that takes the old one's place when the run ends without an
    /// error (finished, stopped early, or stopped with a checkpoint); a run that fails leaves the
    /// old one as it was. Without it a non-empty output directory is refused
    /// ([`TrainError::OutputExists`]) unless the run resumes from a checkpoint in it.
    pub overwrite: bool,
    /// Receives the run's plan, every step, every evaluation (none when `None`).
    pub events: Option<EventSink>,
    /// Set (e.g. by Ctrl-C) to stop after the current step, saving a checkpoint first.
    pub stop: Option<Arc<AtomicBool>>,
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
    fn emit(&self, event: TrainEvent<'_>) {
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
    let Some(model_dir) = settings.model.as_deref() else {
        unreachable!("validate() checks the model");
    };
    let base_config = ReaderConfig::read(&model_dir.join("config.json"))?;
    if settings.freeze_layers > base_config.num_hidden_layers {
        return Err(TrainError::BadInput(format!(
            "freeze_layers {} is more than the model's {} layers",
            settings.freeze_layers, base_config.num_hidden_layers
        )));
    }
    let fingerprint = model_fingerprint(model_dir, &base_config)?;
    let head = match settings.head.or(base_config.odqa_head) {
        Some(head) => head,
        None => stored_head_kind(model_dir)?.unwrap_or(HeadKind::Cnn),
    };
    let windows = WindowSettings {
        max_seq_len: settings.max_seq_len,
        doc_stride: settings.doc_stride,
    };
    let tokenizer_src = model_dir.join("tokenizer.json");
    let tokenizer =
        FeatureTokenizer::from_file(&tokenizer_src, windows, base_config.pad_token_id as u32)?;
    windows
        .fits(&base_config)
        .map_err(|e| TrainError::BadInput(e.to_string()))?;
    let mut output = crate::output::Output::check(settings, options)?;

    // Data.
    let (mixture, sources) = read_mixture(&settings.train, &settings.train_rates, settings.seed)?;
    let examples = subset(mixture, settings.max_train_examples, settings.seed);
    let read_count = examples.len();
    let set = training_set(&tokenizer, &examples);
    drop(examples);
    if set.features.is_empty() {
        let files: Vec<String> = settings
            .train
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(TrainError::BadInput(format!(
            "empty training set: {read_count} example(s) read from {}, {} skipped{}",
            files.join(", "),
            set.skipped.len(),
            set.skipped
                .first()
                .map(|s| format!(" (first: {}: {})", s.id, s.reason))
                .unwrap_or_default()
        )));
    }
    let dev: Option<Vec<QaExample>> = match &settings.dev {
        Some(path) => Some(dev_examples(path, settings.max_dev_examples)?),
        None => None,
    };

    // Schedule.
    let n = set.features.len();
    let per_step = settings.effective_batch_size();
    let steps_per_epoch = n.div_ceil(per_step);
    let total_steps = settings
        .max_steps
        .unwrap_or(settings.epochs * steps_per_epoch);
    let warmup = (settings.warmup_ratio * total_steps as f64).ceil() as usize;

    // Model, optimizer and state: fresh or resumed.
    AB::seed(device, settings.seed);
    let mut optimizer = AdamW::<AB::InnerBackend>::new(AdamWSettings::from(settings));
    let (loaded, mut state, resumed_from) = match &options.resume {
        Some(dir) => {
            let checkpoint = find_checkpoint(dir)?;
            let mut state = read_state(&checkpoint)?;
            crate::checkpoint::check_resumable(
                &checkpoint,
                &state,
                &fingerprint,
                head,
                settings,
                n,
            )?;
            // Settings such as max_steps may have been changed for the rest of the run.
            state.settings = settings.clone();
            state.total_steps = total_steps;
            let loaded =
                QaModel::<AB>::load_dir_with_head(&checkpoint, Some(head), settings.seed, device)?;
            optimizer.load::<AB, _>(
                &checkpoint.join(OPTIMIZER_FILE),
                &loaded.model,
                state.step as u64,
            )?;
            (loaded, state, Some(checkpoint))
        }
        None => {
            let loaded =
                QaModel::<AB>::load_dir_with_head(model_dir, Some(head), settings.seed, device)?;
            let state = TrainerState {
                settings: settings.clone(),
                head,
                model_fingerprint: fingerprint.clone(),
                step: 0,
                total_steps,
                steps_per_epoch,
                train_examples: set.examples,
                sources,
                train_windows: n,
                skipped: set.skipped.clone(),
                train_seconds: 0.0,
                windows_seen: 0,
                evaluations: Vec::new(),
                best: None,
                log: Vec::new(),
            };
            (loaded, state, None)
        }
    };
    let config = loaded.config.clone();
    let mut model = loaded
        .model
        .with_frozen_word_embeddings(settings.freeze_word_embeddings)
        .with_frozen_layers(settings.freeze_layers);
    // The output directory, or the hidden one that replaces it at the end (see Output).
    let out_dir = output.create()?;
    let out = out_dir.as_path();
    // The head's parameters come after the encoder's in visiting order.
    let head_start = param_tensor_count(model.encoder());
    let head_factor = settings
        .head_learning_rate
        .map_or(1.0, |h| h / settings.learning_rate);

    let plan = RunPlan {
        head,
        windows: n,
        examples: set.examples,
        skipped: set.skipped.len(),
        total_steps,
        steps_per_epoch,
        windows_per_step: per_step,
        warmup_steps: warmup,
        resumed_from: resumed_from.clone().map(|p| (p, state.step)),
    };
    options.emit(TrainEvent::Started(&plan));

    let mut checkpoint = resumed_from.clone();
    let mut interrupted = false;
    let mut stopped_early = false;
    let mut loss_avg: Option<f64> = None;
    while state.step < total_steps {
        let epoch = state.step / steps_per_epoch;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(
            settings.seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ));
        for chunk in order.chunks(per_step).skip(state.step % steps_per_epoch) {
            let started = Instant::now();
            // Dropout masks depend only on the seed and the step, so a resumed run repeats them.
            AB::seed(device, settings.seed.wrapping_add(state.step as u64 + 1));
            let (grads, loss) = crate::step::step_gradients(
                &model,
                &config,
                &set.features,
                chunk,
                settings.batch_size,
                device,
            );
            let lr = learning_rate(
                settings.learning_rate,
                settings.schedule,
                state.step,
                total_steps,
                warmup,
            );
            let rates = LearningRates {
                base: lr,
                head: lr * head_factor,
                head_start,
            };
            let (next, grad_norm) =
                optimizer.step::<AB, _>(model, grads, rates, settings.max_grad_norm);
            model = next;
            state.step += 1;
            state.windows_seen += chunk.len();
            state.train_seconds += started.elapsed().as_secs_f64();
            state.log.push(LogEntry {
                step: state.step,
                loss,
                learning_rate: lr,
                grad_norm,
            });
            let smoothed_loss = loss_avg.map_or(loss, |a| 0.9 * a + 0.1 * loss);
            loss_avg = Some(smoothed_loss);
            options.emit(TrainEvent::Step(StepReport {
                step: state.step,
                total_steps,
                epoch: epoch + 1,
                loss,
                smoothed_loss,
                learning_rate: lr,
                windows_per_second: state.windows_seen as f64 / state.train_seconds.max(1e-9),
            }));
            if !loss.is_finite() {
                return Err(TrainError::BadInput(format!(
                    "the loss became {loss} at step {} (learning rate {lr:.2e}); lower learning_rate \
                     or check the data; the last good checkpoint is kept",
                    state.step
                )));
            }
            let end_of_epoch = state.step % steps_per_epoch == 0 || state.step == total_steps;
            let eval_now = end_of_epoch || settings.eval_steps.is_some_and(|k| state.step % k == 0);
            if let (Some(dev), true) = (&dev, eval_now) {
                options.emit(TrainEvent::Evaluating {
                    questions: dev.len(),
                });
                let t = Instant::now();
                let reader =
                    Reader::from_parts(model.valid(), config.clone(), tokenizer.clone(), device);
                let (scores, _) = evaluate(&reader, dev, settings.eval_batch_size);
                let evaluation = Evaluation {
                    step: state.step,
                    epoch: state.step as f64 / steps_per_epoch as f64,
                    scores,
                    seconds: t.elapsed().as_secs_f64(),
                };
                let better = state
                    .best
                    .as_ref()
                    .is_none_or(|b| scores.korquad_f1 > b.scores.korquad_f1);
                options.emit(TrainEvent::Evaluated {
                    evaluation: &evaluation,
                    best: better,
                });
                state.evaluations.push(evaluation.clone());
                if better {
                    state.best = Some(evaluation);
                    save_model(out, &model.valid(), &config, &tokenizer_src, Some(&state))?;
                }
                let without_gain = evaluations_since_best(&state);
                if settings
                    .early_stopping_patience
                    .is_some_and(|p| without_gain >= p)
                    && state.step < total_steps
                {
                    options.emit(TrainEvent::EarlyStop {
                        evaluations: without_gain,
                    });
                    stopped_early = true;
                }
            }
            let stop = options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::SeqCst));
            if end_of_epoch || stop || stopped_early || state.step % settings.save_steps == 0 {
                let inner = model.valid();
                checkpoint = Some(save_checkpoint(
                    out,
                    &inner,
                    &config,
                    &tokenizer_src,
                    &state,
                    |p| optimizer.save(p),
                )?);
            }
            if stop {
                interrupted = true;
                break;
            }
            if end_of_epoch || stopped_early || state.step >= total_steps {
                break;
            }
        }
        if interrupted || stopped_early {
            break;
        }
    }
    if dev.is_none() && !interrupted {
        save_model(out, &model.valid(), &config, &tokenizer_src, Some(&state))?;
    } else if state.best.is_some() {
        // The model files are the best evaluation's; training.json covers the whole run.
        write_json(&out.join(TRAINING_FILE), &state)?;
    }
    let checkpoint = output.finish(checkpoint)?;
    Ok((
        TrainReport {
            state,
            interrupted,
            stopped_early,
            checkpoint,
            seconds: wall.elapsed().as_secs_f64(),
        },
        model.valid(),
    ))
}

/// Evaluations after the best one (all of them when there is no best yet).
fn evaluations_since_best(state: &TrainerState) -> usize {
    match &state.best {
        Some(best) => state
            .evaluations
            .iter()
            .filter(|e| e.step > best.step)
            .count(),
        None => state.evaluations.len(),
    }
}
