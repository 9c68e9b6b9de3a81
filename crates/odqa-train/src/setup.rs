//! What a run prepares before its first step: the starting model's config, fingerprint, head and
//! tokenizer ([`Base`]); the training windows and the dev set ([`TrainData`]); how many steps of
//! how many windows ([`StepPlan`]); the model, optimizer and state, fresh or from a checkpoint
//! ([`Start`]).

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use odqa_core::squad::QaExample;
use odqa_reader::features::{FeatureTokenizer, WindowSettings};
use odqa_reader::lora::{open_model_dir, ModelDir};
use odqa_reader::model::LoadedModel;
use odqa_reader::{HeadKind, LoraSpec, QaModel, ReaderBackend};

use crate::checkpoint::{
    check_resumable, find_checkpoint, model_fingerprint, read_state, ModelFiles, TrainerState,
    OPTIMIZER_FILE,
};
use crate::data::{dev_examples, read_mixture, subset, training_set, SourceCount, TrainingSet};
use crate::error::{Result, TrainError};
use crate::events::RunPlan;
use crate::optim::{AdamW, AdamWSettings};
use crate::settings::TrainSettings;

/// The model a run starts from, as read before any work.
pub(crate) struct Base {
    /// Its directory.
    pub(crate) dir: PathBuf,
    /// The directory its weights come from: itself, or an adapter's base.
    pub(crate) weights: PathBuf,
    /// What opening it accepted that the user should hear about (another base).
    pub(crate) warnings: Vec<String>,
    /// Its fingerprint (see [`model_fingerprint`]).
    pub(crate) fingerprint: String,
    /// The head to train: the settings', the config's, the stored one's, or a CNN head.
    pub(crate) head: HeadKind,
    /// Its tokenizer, cutting windows as the settings say.
    pub(crate) tokenizer: FeatureTokenizer,
    /// How the run's models are written (whole, with this tokenizer, or as an adapter).
    pub(crate) files: ModelFiles,
    /// The run trains a LoRA adapter (of this spec) and the model is loaded unmerged.
    pub(crate) lora: Option<LoraSpec>,
}

impl Base {
    /// Reads the starting model's config and tokenizer, refusing settings it cannot take
    /// (`freeze_layers` beyond its layers, windows beyond its positions). `settings` are valid.
    pub(crate) fn read(settings: &TrainSettings) -> Result<Base> {
        let Some(dir) = settings.model.as_deref() else {
            unreachable!("validate() checks the model");
        };
        // An adapter directory is read on its base (the run continues the adapter with LoRA,
        // or fine-tunes the merged model without).
        let found = open_model_dir(&settings.model_source(dir))?;
        let config = found.read_config()?;
        if settings.freeze_layers > config.num_hidden_layers {
            return Err(TrainError::BadInput(format!(
                "freeze_layers {} is more than the model's {} layers",
                settings.freeze_layers, config.num_hidden_layers
            )));
        }
        let fingerprint = model_fingerprint(&found.tokenizer, &config)?;
        let head = match settings.head.or(config.odqa_head) {
            Some(head) => head,
            None => found.stored_head()?.unwrap_or(HeadKind::Cnn),
        };
        let windows = WindowSettings {
            max_seq_len: settings.max_seq_len,
            doc_stride: settings.doc_stride,
        };
        let tokenizer = FeatureTokenizer::open(&found.tokenizer, &config, windows)?;
        windows
            .fits(&config)
            .map_err(|e| TrainError::BadInput(e.to_string()))?;
        let lora = lora_spec(settings, &found)?;
        let files = match &lora {
            None => ModelFiles::Full {
                tokenizer: found.tokenizer.clone(),
            },
            Some(spec) => ModelFiles::Adapter {
                spec: spec.clone(),
                base_sha256: found.weights_sha256()?,
                base: found.weights.clone(),
            },
        };
        Ok(Base {
            dir: dir.to_path_buf(),
            weights: found.weights.clone(),
            warnings: found.warnings.clone(),
            fingerprint,
            head,
            tokenizer,
            files,
            lora,
        })
    }
}

/// The adapter a run trains: the settings', or, when the model is an adapter, the adapter's own
/// (the settings may leave `lora_alpha` and `lora_targets` out, and may not differ).
fn lora_spec(settings: &TrainSettings, found: &ModelDir) -> Result<Option<LoraSpec>> {
    let Some(asked) = settings.lora_spec() else {
        return Ok(None);
    };
    let Some(adapter) = &found.adapter else {
        return Ok(Some(asked));
    };
    let own = &adapter.spec;
    let asked = LoraSpec {
        alpha: settings.lora_alpha.unwrap_or(own.alpha),
        targets: if settings.lora_targets.is_empty() {
            own.targets.clone()
        } else {
            asked.targets
        },
        ..asked
    };
    match own.difference(&asked) {
        None => Ok(Some(own.clone())),
        Some(difference) => Err(TrainError::BadInput(format!(
            "{} is an adapter with {difference}: continuing it keeps its own LoRA settings \
             (or train a new adapter from its base)",
            adapter.dir.display()
        ))),
    }
}

/// The data of a run.
pub(crate) struct TrainData {
    /// The labelled training windows.
    pub(crate) set: TrainingSet,
    /// What each training source gave to the mixture.
    pub(crate) sources: Vec<SourceCount>,
    /// The dev questions, when there is a dev set.
    pub(crate) dev: Option<Vec<QaExample>>,
}

impl TrainData {
    /// Reads the training mixture (refusing one that gives no window) and the dev set.
    pub(crate) fn load(settings: &TrainSettings, tokenizer: &FeatureTokenizer) -> Result<Self> {
        let (mixture, sources) =
            read_mixture(&settings.train, &settings.train_rates, settings.seed)?;
        let examples = subset(mixture, settings.max_train_examples, settings.seed);
        let read_count = examples.len();
        let set = training_set(tokenizer, &examples);
        drop(examples);
        if set.features.is_empty() {
            return Err(empty_set(settings, read_count, &set));
        }
        let dev = match &settings.dev {
            Some(path) => Some(dev_examples(path, settings.max_dev_examples)?),
            None => None,
        };
        Ok(TrainData { set, sources, dev })
    }
}

/// The error for a training set without windows: what was read, how much was skipped and why.
fn empty_set(settings: &TrainSettings, read_count: usize, set: &TrainingSet) -> TrainError {
    let files: Vec<String> = settings
        .train
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    TrainError::BadInput(format!(
        "empty training set: {read_count} example(s) read from {}, {} skipped{}",
        files.join(", "),
        set.skipped.len(),
        set.skipped
            .first()
            .map(|s| format!(" (first: {}: {})", s.id, s.reason))
            .unwrap_or_default()
    ))
}

/// The run's schedule: how many steps, of how many windows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepPlan {
    /// Training windows.
    pub(crate) windows: usize,
    /// Windows per optimizer step.
    pub(crate) per_step: usize,
    /// Optimizer steps per epoch.
    pub(crate) steps_per_epoch: usize,
    /// Optimizer steps of the whole run.
    pub(crate) total_steps: usize,
    /// Warm-up steps.
    pub(crate) warmup: usize,
}

impl StepPlan {
    /// The schedule of `settings` over `windows` training windows.
    pub(crate) fn new(settings: &TrainSettings, windows: usize) -> Self {
        let per_step = settings.effective_batch_size();
        let steps_per_epoch = windows.div_ceil(per_step);
        let total_steps = settings
            .max_steps
            .unwrap_or(settings.epochs * steps_per_epoch);
        let warmup = (settings.warmup_ratio * total_steps as f64).ceil() as usize;
        StepPlan {
            windows,
            per_step,
            steps_per_epoch,
            total_steps,
            warmup,
        }
    }

    /// The plan reported when the run starts (`resumed_from`: the checkpoint and its step).
    pub(crate) fn report(
        &self,
        head: HeadKind,
        set: &TrainingSet,
        resumed_from: Option<(PathBuf, usize)>,
    ) -> RunPlan {
        RunPlan {
            head,
            windows: self.windows,
            examples: set.examples,
            skipped: set.skipped.len(),
            inside_token_ends: set.inside_token_ends,
            total_steps: self.total_steps,
            steps_per_epoch: self.steps_per_epoch,
            windows_per_step: self.per_step,
            warmup_steps: self.warmup,
            resumed_from,
        }
    }
}

/// The model, optimizer and state a run starts from.
pub(crate) struct Start<AB: AutodiffBackend> {
    /// The model and its config (the head set to the run's).
    pub(crate) loaded: LoadedModel<AB>,
    /// The optimizer, with the checkpoint's moments when resuming.
    pub(crate) optimizer: AdamW<AB::InnerBackend>,
    /// The run's state.
    pub(crate) state: TrainerState,
    /// The checkpoint resumed from.
    pub(crate) resumed_from: Option<PathBuf>,
}

impl<AB: AutodiffBackend + ReaderBackend> Start<AB> {
    /// Seeds the backend, then starts from the base model, or from the checkpoint `resume` names
    /// (after checking it belongs to this run).
    pub(crate) fn new(
        settings: &TrainSettings,
        resume: Option<&Path>,
        base: &Base,
        data: &TrainData,
        plan: &StepPlan,
        device: &AB::Device,
    ) -> Result<Self> {
        AB::seed(device, settings.seed);
        let optimizer = AdamW::<AB::InnerBackend>::new(AdamWSettings::from(settings));
        match resume {
            Some(dir) => Self::resumed(dir, settings, base, plan, optimizer, device),
            None => {
                let loaded = QaModel::<AB>::load_source(
                    &settings.model_source(&base.dir),
                    Some(base.head),
                    settings.seed,
                    base.lora.is_none(),
                    device,
                )?;
                let state = fresh_state(settings, base, data, plan);
                Ok(Start {
                    loaded,
                    optimizer,
                    state,
                    resumed_from: None,
                })
            }
        }
    }

    /// Starts from the checkpoint in (or latest in) `dir`, with the settings given now.
    fn resumed(
        dir: &Path,
        settings: &TrainSettings,
        base: &Base,
        plan: &StepPlan,
        mut optimizer: AdamW<AB::InnerBackend>,
        device: &AB::Device,
    ) -> Result<Self> {
        let checkpoint = find_checkpoint(dir)?;
        let mut state = read_state(&checkpoint)?;
        check_resumable(
            &checkpoint,
            &state,
            &base.fingerprint,
            base.head,
            settings,
            plan.windows,
        )?;
        // Settings such as max_steps may have been changed for the rest of the run.
        state.settings = settings.clone();
        state.total_steps = plan.total_steps;
        let loaded = QaModel::<AB>::load_source(
            &settings.model_source(&checkpoint),
            Some(base.head),
            settings.seed,
            base.lora.is_none(),
            device,
        )?;
        optimizer.load::<AB, _>(
            &checkpoint.join(OPTIMIZER_FILE),
            &loaded.model,
            state.step as u64,
        )?;
        Ok(Start {
            loaded,
            optimizer,
            state,
            resumed_from: Some(checkpoint),
        })
    }
}

/// The state of a run before its first step.
fn fresh_state(
    settings: &TrainSettings,
    base: &Base,
    data: &TrainData,
    plan: &StepPlan,
) -> TrainerState {
    TrainerState {
        settings: settings.clone(),
        head: base.head,
        model_fingerprint: base.fingerprint.clone(),
        step: 0,
        total_steps: plan.total_steps,
        steps_per_epoch: plan.steps_per_epoch,
        train_examples: data.set.examples,
        sources: data.sources.clone(),
        train_windows: plan.windows,
        skipped: data.set.skipped.clone(),
        train_seconds: 0.0,
        windows_seen: 0,
        evaluations: Vec::new(),
        best: None,
        log: Vec::new(),
    }
}
