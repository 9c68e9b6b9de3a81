//! `odqa train`: fine-tune a reader (linear or CNN head) on SQuAD-format or `save_to_disk` data.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use odqa_reader::{DefaultBackend, HeadKind};
use odqa_train::{train, Schedule, TrainError, TrainOptions, TrainSettings};

use crate::args::{BaseArgs, UsageError};

/// Arguments of `odqa train` (the help text is on the subcommand in main.rs).
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// TOML settings file (e.g. configs/train-e5-small-cnn.toml); flags override its values
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Model directory to start from (config.json, model.safetensors or pytorch_model.bin,
    /// tokenizer.json or vocab.txt)
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Head to train [default: the model's own head; cnn for an encoder-only checkpoint]
    #[arg(long, value_enum)]
    head: Option<HeadArg>,
    /// Training data: SQuAD-format JSON (KorQuAD, XQuAD) or save_to_disk split folders; repeatable
    #[arg(long, value_name = "PATH", num_args = 1..)]
    train: Vec<PathBuf>,
    /// Sampling rate of each --train set, in order: 0.5 = a seeded half of its examples, 2 = all
    /// of them twice [default: 1 each]; the counts go to training.json
    #[arg(long, value_name = "RATE", num_args = 1..)]
    train_rate: Vec<f64>,
    /// Dev set with answers, evaluated after every epoch (EM/F1); the best model is kept
    #[arg(long, value_name = "PATH")]
    dev: Option<PathBuf>,
    /// Output model directory
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue an interrupted run from DIR (a checkpoint-N directory, or --out to take its latest)
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Replace what --out holds (an earlier run or model; without this it is refused): the new
    /// run is trained in a hidden directory beside it that takes its place when the run ends, so
    /// a run that fails leaves the old one as it was. Never allowed when --out holds --model
    #[arg(long)]
    overwrite: bool,
    /// Passes over the training windows [default: 2]
    #[arg(long)]
    epochs: Option<usize>,
    /// Stop after N optimizer steps (the schedule spans them)
    #[arg(long, value_name = "N")]
    max_steps: Option<usize>,
    /// Train on N examples drawn (seeded) from the training data
    #[arg(long, value_name = "N")]
    max_train_examples: Option<usize>,
    /// Evaluate on the first N dev questions only
    #[arg(long, value_name = "N")]
    max_dev_examples: Option<usize>,
    /// Peak learning rate [default: 5e-5]
    #[arg(long, value_name = "LR")]
    learning_rate: Option<f64>,
    /// Peak learning rate of the head's parameters [default: --learning-rate]
    #[arg(long, value_name = "LR")]
    head_learning_rate: Option<f64>,
    /// Layer-wise learning-rate decay in (0, 1]: the top layer trains at the learning rate, each
    /// layer below at this factor times the one above, the embeddings below the first layer
    /// (as ELECTRA's layer_lr_decay, but the top layer at the full rate; 0.8–0.9 is usual)
    /// [default: 1 = one rate]
    #[arg(long, value_name = "FACTOR")]
    layer_lr_decay: Option<f64>,
    /// AdamW weight decay, not applied to biases and LayerNorm [default: 0.01]
    #[arg(long)]
    weight_decay: Option<f64>,
    /// AdamW β1 [default: 0.9]
    #[arg(long)]
    adam_beta1: Option<f64>,
    /// AdamW β2 [default: 0.999]
    #[arg(long)]
    adam_beta2: Option<f64>,
    /// AdamW ε [default: 1e-8]
    #[arg(long)]
    adam_epsilon: Option<f64>,
    /// Clip the global gradient norm (0 = off) [default: 1.0]
    #[arg(long)]
    max_grad_norm: Option<f64>,
    /// Fraction of steps for linear warm-up [default: 0.1]
    #[arg(long)]
    warmup_ratio: Option<f64>,
    /// Learning-rate decay after warm-up [default: linear]
    #[arg(long, value_enum)]
    schedule: Option<ScheduleArg>,
    /// Windows per forward/backward pass [default: 8]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Passes per optimizer step; effective batch = batch size × this [default: 4]
    #[arg(long)]
    gradient_accumulation_steps: Option<usize>,
    /// Window length in tokens [default: 384]
    #[arg(long)]
    max_seq_len: Option<usize>,
    /// Overlap between windows of a long context [default: 128]
    #[arg(long)]
    doc_stride: Option<usize>,
    /// Keep the word embeddings fixed
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    freeze_word_embeddings: Option<bool>,
    /// Keep the embeddings and the bottom N encoder layers fixed: fewer parameters to update and
    /// no backward pass through them [default: 0 = train every layer]
    #[arg(long, value_name = "N")]
    freeze_layers: Option<usize>,
    /// Train a LoRA adapter of rank R instead of the whole model: the base stays frozen, the
    /// low-rank updates and the head train, and --out is an adapter directory in Hugging Face
    /// PEFT's format (adapter_config.json, adapter_model.safetensors: a few MB) that every
    /// command reads with --model, on the base it names
    #[arg(long, value_name = "R")]
    lora_rank: Option<usize>,
    /// LoRA scaling numerator: updates are scaled by ALPHA / R [default: 2 × R]
    #[arg(long, value_name = "ALPHA")]
    lora_alpha: Option<f64>,
    /// Linear layers LoRA updates, by PEFT module name or suffix, comma-separated (query, key,
    /// value, dense = all three dense layers, attention.output.dense, intermediate.dense,
    /// output.dense = both dense layers ending so), or all-linear [default: all-linear]
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    lora_targets: Vec<String>,
    /// rsLoRA scaling (ALPHA / √R)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    lora_rslora: Option<bool>,
    /// With LoRA, train the LayerNorms too (stored whole in the adapter)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    lora_layer_norms: Option<bool>,
    #[command(flatten)]
    base: BaseArgs,
    /// Seed of head initialisation, data order and dropout [default: 42]
    #[arg(long)]
    seed: Option<u64>,
    /// Also evaluate every N optimizer steps
    #[arg(long, value_name = "N")]
    eval_steps: Option<usize>,
    /// Stop when N evaluations in a row (every epoch, every --eval-steps) do not beat the best dev
    /// F1; the best model is kept [default: never]
    #[arg(long, value_name = "N")]
    early_stopping_patience: Option<usize>,
    /// Write a resumable checkpoint every N optimizer steps [default: 100]
    #[arg(long, value_name = "N")]
    save_steps: Option<usize>,
    /// Keep the newest N resumable checkpoints (e.g. to average points along the run with
    /// scripts/average-checkpoints.py) [default: 1]
    #[arg(long, value_name = "N")]
    keep_checkpoints: Option<usize>,
    /// Windows per forward pass when evaluating [default: 16]
    #[arg(long)]
    eval_batch_size: Option<usize>,
    /// Worker threads for the CPU backend (0 = one per core)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// No progress (a bar on a terminal, otherwise a line every 5 % of the steps) and no
    /// evaluation lines
    #[arg(long)]
    quiet: bool,
}

/// Heads.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum HeadArg {
    /// Hugging Face qa_outputs (loads in transformers as *ForQuestionAnswering)
    Linear,
    /// Shared Conv1d blocks + LayerNorm, then Linear
    Cnn,
}

/// Schedules.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScheduleArg {
    /// Linear decay to 0
    Linear,
    /// Cosine decay to 0
    Cosine,
    /// Constant after warm-up
    Constant,
}

impl TrainArgs {
    /// The config file's settings with the flags given on top.
    fn settings(&self) -> anyhow::Result<TrainSettings> {
        let mut s = match &self.config {
            Some(path) => TrainSettings::from_toml_file(path)?,
            None => TrainSettings::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field.clone() {
                    s.$field = v;
                }
            )*};
        }
        set!(
            epochs,
            learning_rate,
            layer_lr_decay,
            weight_decay,
            adam_beta1,
            adam_beta2,
            adam_epsilon,
            max_grad_norm,
            warmup_ratio,
            batch_size,
            gradient_accumulation_steps,
            max_seq_len,
            doc_stride,
            freeze_word_embeddings,
            freeze_layers,
            lora_rslora,
            lora_layer_norms,
            seed,
            save_steps,
            keep_checkpoints,
            eval_batch_size
        );
        macro_rules! set_opt {
            ($($field:ident),*) => {$(
                if self.$field.is_some() {
                    s.$field = self.$field.clone();
                }
            )*};
        }
        set_opt!(
            model,
            dev,
            out,
            head_learning_rate,
            max_steps,
            max_train_examples,
            max_dev_examples,
            eval_steps,
            early_stopping_patience,
            lora_rank,
            lora_alpha
        );
        if let Some(base) = &self.base.base {
            s.base = Some(base.clone());
        }
        s.base_mismatch_ok |= self.base.base_mismatch_ok;
        if !self.lora_targets.is_empty() {
            s.lora_targets = self.lora_targets.clone();
        }
        if !self.train.is_empty() {
            s.train = self.train.clone();
        }
        if !self.train_rate.is_empty() {
            s.train_rates = self.train_rate.clone();
        }
        if let Some(h) = self.head {
            s.head = Some(match h {
                HeadArg::Linear => HeadKind::Linear,
                HeadArg::Cnn => HeadKind::Cnn,
            });
        }
        if let Some(k) = self.schedule {
            s.schedule = match k {
                ScheduleArg::Linear => Schedule::Linear,
                ScheduleArg::Cosine => Schedule::Cosine,
                ScheduleArg::Constant => Schedule::Constant,
            };
        }
        s.validate().map_err(in_flags)?;
        Ok(s)
    }
}

/// A settings error worded with the flags that set what is missing; any other error as it is.
fn in_flags(err: TrainError) -> anyhow::Error {
    match err {
        TrainError::MissingSetting { key, what } => {
            let flag = match key {
                "train" => "--train PATH",
                "out" => "--out DIR",
                _ => "--model DIR",
            };
            UsageError(format!(
                "no {what}: give {flag} (or `{key}` in the config file)"
            ))
            .into()
        }
        TrainError::RatesMismatch { sets, rates } => UsageError(format!(
            "{sets} training sets but {rates} sampling rates: give one --train-rate per --train"
        ))
        .into(),
        err => err.into(),
    }
}

/// A refused output directory as a usage error naming the flags that lead on; any other error as
/// it is.
fn refused(err: TrainError, settings: &TrainSettings) -> anyhow::Error {
    match err {
        TrainError::OutputExists { dir } => UsageError(format!(
            "--out {0} already holds a model or a training run: continue that run with --resume \
             {0}, or replace it with --overwrite (the old one is deleted only when the new run \
             ends without an error)",
            dir.display()
        ))
        .into(),
        TrainError::OutputHoldsInput { dir, input } => {
            let is_model = settings.model.as_ref() == Some(&input);
            let (dir, input) = (dir.display(), input.display());
            UsageError(if is_model {
                format!(
                    "--out {dir} is or holds the --model directory {input}, which training would \
                     overwrite or delete; choose another --out"
                )
            } else {
                format!(
                    "--out {dir} holds {input}, an input of this run, which --overwrite would \
                     delete; choose another --out"
                )
            })
            .into()
        }
        err @ (TrainError::MissingSetting { .. } | TrainError::RatesMismatch { .. }) => {
            in_flags(err)
        }
        err => anyhow::Error::new(err).context("training failed"),
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let settings = args.settings()?;
    // The first Ctrl-C asks for a checkpoint after the current step; a second one exits at once
    // (status 130; the last complete checkpoint is untouched).
    let stop = crate::args::stop_flag("interrupted: saving a checkpoint after this step");
    let progress = (!args.quiet).then(crate::progress::TrainProgress::new);
    let options = TrainOptions {
        resume: args.resume.clone(),
        overwrite: args.overwrite,
        events: progress.as_ref().map(|p| p.sink()),
        stop,
    };
    let device = Default::default();
    let report = crate::args::with_threads(args.threads, || {
        train::<DefaultBackend>(&settings, &options, &device)
    })?
    .map_err(|e| refused(e, &settings))?;
    if let Some(progress) = &progress {
        progress.finish();
    } else {
        // Without progress lines the warnings were not shown as they happened.
        for warning in &report.warnings {
            eprintln!("warning: {warning}");
        }
    }
    let state = &report.state;
    if !state.skipped.is_empty() {
        eprintln!(
            "skipped {} training example(s) (listed in training.json), e.g.:",
            state.skipped.len()
        );
        for s in state.skipped.iter().take(5) {
            eprintln!("  {}: {}", s.id, s.reason);
        }
    }
    let out = settings
        .out
        .as_deref()
        .unwrap_or_else(|| std::path::Path::new("."));
    eprintln!(
        "{} steps, {} windows seen in {:.0} s of training ({:.2} windows/s), {:.0} s in all",
        state.step,
        state.windows_seen,
        state.train_seconds,
        state.windows_seen as f64 / state.train_seconds.max(1e-9),
        report.seconds
    );
    if let Some(best) = &state.best {
        eprintln!(
            "best dev: step {} EM {:.2} F1 {:.2} (KorQuAD v1.0), EM {:.2} F1 {:.2} (SQuAD v1.1)",
            best.step,
            best.scores.korquad_em,
            best.scores.korquad_f1,
            best.scores.squad_em,
            best.scores.squad_f1
        );
    }
    if report.interrupted {
        let at = report
            .checkpoint
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        return Err(crate::args::Interrupted(format!(
            "training interrupted at step {}; continue with --resume {at}",
            state.step
        ))
        .into());
    }
    eprintln!("model written to {}", out.display());
    Ok(())
}
