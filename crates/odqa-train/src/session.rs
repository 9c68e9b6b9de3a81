//! The step loop of a run: each epoch's shuffled windows in optimizer steps, the dev evaluations
//! that keep the best model in the output directory and may stop the run early, the resumable
//! checkpoints, and what is saved when the loop ends.

use odqa_reader::precision::Precision;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use odqa_core::squad::QaExample;
use odqa_reader::read::Reader;
use odqa_reader::{QaModel, ReaderBackend, ReaderConfig};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::checkpoint::{
    save_checkpoint, save_model, write_json, Evaluation, LogEntry, TrainerState, TRAINING_FILE,
};
use crate::error::{Result, TrainError};
use crate::evaluate::evaluate;
use crate::events::{StepReport, TrainEvent};
use crate::optim::{learning_rate, AdamW, LearningRates};
use crate::settings::TrainSettings;
use crate::setup::{Base, StepPlan, TrainData};
use crate::trainer::TrainOptions;

/// A run from its first step (or the one it resumes at) to its end.
pub(crate) struct Session<'a, AB: AutodiffBackend> {
    /// The run's settings.
    pub(crate) settings: &'a TrainSettings,
    /// Events and the stop flag.
    pub(crate) options: &'a TrainOptions,
    /// The device trained on.
    pub(crate) device: &'a AB::Device,
    /// The starting model (tokenizer).
    pub(crate) base: &'a Base,
    /// The training windows and the dev set.
    pub(crate) data: &'a TrainData,
    /// The schedule.
    pub(crate) plan: StepPlan,
    /// The model's config.
    pub(crate) config: ReaderConfig,
    /// Where models and checkpoints are written.
    pub(crate) out: &'a Path,
    /// Index of the head's first parameter tensor (they come after the encoder's).
    pub(crate) head_start: usize,
    /// The head's learning rate over the encoder's.
    pub(crate) head_factor: f64,
    /// Factors of the encoder's rate per parameter (layer-wise decay; empty = none).
    pub(crate) base_scales: Arc<[f64]>,
    /// The optimizer.
    pub(crate) optimizer: AdamW<AB::InnerBackend>,
    /// The run's state.
    pub(crate) state: TrainerState,
    /// The last checkpoint written (or resumed from).
    pub(crate) checkpoint: Option<PathBuf>,
    /// Exponential moving average of the loss (this session's steps).
    pub(crate) loss_avg: Option<f64>,
}

/// How the step loop ended.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ending {
    /// Stopped through [`TrainOptions::stop`].
    pub(crate) interrupted: bool,
    /// Stopped by early stopping.
    pub(crate) stopped_early: bool,
}

impl<AB: AutodiffBackend + ReaderBackend> Session<'_, AB>
where
    AB::InnerBackend: ReaderBackend,
{
    /// Trains `model` until the last step, an early stop or a stop request; returns the model
    /// as it is then.
    pub(crate) fn run(&mut self, mut model: QaModel<AB>) -> Result<(QaModel<AB>, Ending)> {
        let (plan, data) = (self.plan, self.data);
        let mut ending = Ending::default();
        while self.state.step < plan.total_steps {
            let epoch = self.state.step / plan.steps_per_epoch;
            let order = epoch_order(plan.windows, self.settings.seed, epoch);
            for chunk in order
                .chunks(plan.per_step)
                .skip(self.state.step % plan.steps_per_epoch)
            {
                model = self.step(model, chunk, epoch)?;
                let step = self.state.step;
                let end_of_epoch =
                    step.is_multiple_of(plan.steps_per_epoch) || step == plan.total_steps;
                let eval_now = end_of_epoch
                    || self
                        .settings
                        .eval_steps
                        .is_some_and(|k| step.is_multiple_of(k));
                if let (Some(dev), true) = (&data.dev, eval_now) {
                    if self.evaluate(&model, dev)? {
                        ending.stopped_early = true;
                    }
                }
                let stop = self.options.stop.is_cancelled();
                let save_now = step.is_multiple_of(self.settings.save_steps);
                if end_of_epoch || stop || ending.stopped_early || save_now {
                    self.save_checkpoint(&model)?;
                }
                if stop {
                    ending.interrupted = true;
                    break;
                }
                if end_of_epoch || ending.stopped_early || step >= plan.total_steps {
                    break;
                }
            }
            if ending.interrupted || ending.stopped_early {
                break;
            }
        }
        Ok((model, ending))
    }

    /// One optimizer step on the windows `chunk` of epoch `epoch` (0-based); refuses a loss
    /// that is not finite.
    fn step(&mut self, model: QaModel<AB>, chunk: &[usize], epoch: usize) -> Result<QaModel<AB>> {
        let settings = self.settings;
        let started = Instant::now();
        // Dropout masks depend only on the seed and the step, so a resumed run repeats them.
        AB::seed(
            self.device,
            settings.seed.wrapping_add(self.state.step as u64 + 1),
        );
        let (grads, loss) = crate::step::step_gradients(
            &model,
            &self.config,
            &self.data.set.features,
            chunk,
            settings.batch_size,
            self.device,
        );
        let lr = learning_rate(
            settings.learning_rate,
            settings.schedule,
            self.state.step,
            self.plan.total_steps,
            self.plan.warmup,
        );
        let rates = LearningRates {
            base: lr,
            head: lr * self.head_factor,
            head_start: self.head_start,
            base_scales: self.base_scales.clone(),
        };
        let (model, grad_norm) =
            self.optimizer
                .step::<AB, _>(model, grads, rates, settings.max_grad_norm);
        self.record_step(chunk.len(), started, epoch, loss, lr, grad_norm);
        if !loss.is_finite() {
            return Err(TrainError::BadInput(format!(
                "the loss became {loss} at step {} (learning rate {lr:.2e}); lower learning_rate \
                 or check the data; the last good checkpoint is kept",
                self.state.step
            )));
        }
        Ok(model)
    }

    /// Counts a step done on `windows` windows since `started` in the state and its log, and
    /// reports it.
    fn record_step(
        &mut self,
        windows: usize,
        started: Instant,
        epoch: usize,
        loss: f64,
        lr: f64,
        grad_norm: f64,
    ) {
        let state = &mut self.state;
        state.step += 1;
        state.windows_seen += windows;
        state.train_seconds += started.elapsed().as_secs_f64();
        state.log.push(LogEntry {
            step: state.step,
            loss,
            learning_rate: lr,
            grad_norm,
        });
        let smoothed_loss = self.loss_avg.map_or(loss, |a| 0.9 * a + 0.1 * loss);
        self.loss_avg = Some(smoothed_loss);
        self.options.emit(TrainEvent::Step(StepReport {
            step: state.step,
            total_steps: self.plan.total_steps,
            epoch: epoch + 1,
            loss,
            smoothed_loss,
            learning_rate: lr,
            windows_per_second: state.windows_seen as f64 / state.train_seconds.max(1e-9),
        }));
    }

    /// Evaluates `model` on `dev`, saving it as the output model when it is the best so far;
    /// true when early stopping says to stop.
    fn evaluate(&mut self, model: &QaModel<AB>, dev: &[QaExample]) -> Result<bool> {
        self.options.emit(TrainEvent::Evaluating {
            questions: dev.len(),
        });
        let t = Instant::now();
        // In `odqa read`'s default precision, so that the scores are what `odqa read` of the
        // saved model and the official script give.
        let reader = Reader::from_parts(
            model.valid(),
            self.config.clone(),
            self.base.tokenizer.clone(),
            self.device,
        )
        .with_precision(Precision::default());
        let (scores, _) = evaluate(&reader, dev, self.settings.eval_batch_size)?;
        let state = &mut self.state;
        let evaluation = Evaluation {
            step: state.step,
            epoch: state.step as f64 / self.plan.steps_per_epoch as f64,
            scores,
            seconds: t.elapsed().as_secs_f64(),
        };
        let better = state
            .best
            .as_ref()
            .is_none_or(|b| scores.korquad_f1 > b.scores.korquad_f1);
        self.options.emit(TrainEvent::Evaluated {
            evaluation: &evaluation,
            best: better,
        });
        state.evaluations.push(evaluation.clone());
        if better {
            state.best = Some(evaluation);
            self.keep_model(model)?;
        }
        Ok(self.early_stop())
    }

    /// Whether `early_stopping_patience` evaluations in a row did not beat the best (before the
    /// last step); reports the early stop.
    fn early_stop(&self) -> bool {
        let without_gain = evaluations_since_best(&self.state);
        let stop = self
            .settings
            .early_stopping_patience
            .is_some_and(|p| without_gain >= p)
            && self.state.step < self.plan.total_steps;
        if stop {
            self.options.emit(TrainEvent::EarlyStop {
                evaluations: without_gain,
            });
        }
        stop
    }

    /// Writes `model` as the output directory's model, with the state as its training.json.
    fn keep_model(&self, model: &QaModel<AB>) -> Result<()> {
        save_model(
            self.out,
            &model.valid(),
            &self.config,
            &self.base.files,
            Some(&self.state),
        )
    }

    /// Writes a resumable checkpoint of `model` (older ones beyond `keep_checkpoints` are removed).
    fn save_checkpoint(&mut self, model: &QaModel<AB>) -> Result<()> {
        let inner = model.valid();
        let optimizer = &self.optimizer;
        self.checkpoint = Some(save_checkpoint(
            self.out,
            &inner,
            &self.config,
            &self.base.files,
            &self.state,
            self.settings.keep_checkpoints,
            |p| optimizer.save(p),
        )?);
        Ok(())
    }

    /// Saves what the output directory keeps when the loop ended as `ending` says: the last
    /// model when there is no dev set (unless interrupted), else the whole run's training.json
    /// beside the best evaluation's model.
    pub(crate) fn save_final(&self, model: &QaModel<AB>, ending: Ending) -> Result<()> {
        if self.data.dev.is_none() && !ending.interrupted {
            self.keep_model(model)?;
        } else if self.state.best.is_some() {
            // The model files are the best evaluation's; training.json covers the whole run.
            write_json(&self.out.join(TRAINING_FILE), &self.state)?;
        }
        Ok(())
    }
}

/// The order of the training windows in epoch `epoch` (0-based): a shuffle seeded by the run's
/// seed and the epoch, so a resumed run repeats it.
fn epoch_order(windows: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..windows).collect();
    order.shuffle(&mut StdRng::seed_from_u64(
        seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    ));
    order
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
