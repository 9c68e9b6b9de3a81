//! Training settings: every hyperparameter, readable from a TOML file (`configs/train-*.toml`) and
//! overridable by command-line flags of the same name (`learning_rate` ↔ `--learning-rate`).
//!
//! Relative paths in a settings file are taken relative to the current directory, as on the
//! command line. The defaults suit a small BERT (e.g. multilingual-e5-small) on a few thousand
//! questions.

use std::path::{Path, PathBuf};

use odqa_reader::window::WindowSettings;
use odqa_reader::{HeadKind, LoraSpec, ModelSource};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// How the learning rate decays after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Linearly to 0 at the last step (transformers' `linear`).
    Linear,
    /// Half a cosine to 0 at the last step (transformers' `cosine`).
    Cosine,
    /// Constant after warm-up.
    Constant,
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Schedule::Linear => "linear",
            Schedule::Cosine => "cosine",
            Schedule::Constant => "constant",
        })
    }
}

/// Everything a training run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// Model directory to start from (config.json, model.safetensors, tokenizer.json).
    pub model: Option<PathBuf>,
    /// Head to train; default: the model's own (`odqa_head` in config.json, else the head its
    /// checkpoint holds), else `cnn` for an encoder-only checkpoint.
    pub head: Option<HeadKind>,
    /// Training sets: SQuAD-format JSON files or `save_to_disk` split folders.
    pub train: Vec<PathBuf>,
    /// Sampling rate of each training set, in the order of `train` (0.5 = a seeded half of its
    /// examples, 2 = all of them twice); empty = 1 for every set.
    pub train_rates: Vec<f64>,
    /// Dev set evaluated during training (EM/F1); the best checkpoint is kept.
    pub dev: Option<PathBuf>,
    /// Output model directory.
    pub out: Option<PathBuf>,
    /// Passes over the training windows.
    pub epochs: usize,
    /// Stop after this many optimizer steps (the schedule is laid out over them).
    pub max_steps: Option<usize>,
    /// Train on N examples drawn (seeded) from the training sets.
    pub max_train_examples: Option<usize>,
    /// Evaluate on the first N dev questions only.
    pub max_dev_examples: Option<usize>,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Peak learning rate of the head's parameters (default: `learning_rate`). A linear head on an
    /// encoder whose last LayerNorm has small gains (multilingual-e5-small: ≈0.23) sees small
    /// inputs and, at the encoder's rate, moves its logits slowly.
    pub head_learning_rate: Option<f64>,
    /// Layer-wise learning-rate decay in (0, 1]: layer `i` of `L` trains at `learning_rate ·
    /// decay^(L − 1 − i)`, the embeddings at `decay^L` times it, the head at its own rate; 1 (the
    /// default) = one rate for the whole encoder.
    pub layer_lr_decay: f64,
    /// AdamW weight decay (not applied to biases and LayerNorm parameters).
    pub weight_decay: f64,
    /// AdamW β1.
    pub adam_beta1: f64,
    /// AdamW β2.
    pub adam_beta2: f64,
    /// AdamW ε.
    pub adam_epsilon: f64,
    /// Clip the global gradient norm to this value (0 = no clipping).
    pub max_grad_norm: f64,
    /// Fraction of the steps spent warming the learning rate up linearly from 0.
    pub warmup_ratio: f64,
    /// Decay after warm-up.
    pub schedule: Schedule,
    /// Windows per forward/backward pass.
    pub batch_size: usize,
    /// Forward/backward passes per optimizer step (effective batch = batch_size × this).
    pub gradient_accumulation_steps: usize,
    /// Window length in tokens.
    pub max_seq_len: usize,
    /// Overlap between the windows of a long context.
    pub doc_stride: usize,
    /// Keep the word embedding matrix fixed.
    pub freeze_word_embeddings: bool,
    /// Keep the embeddings and the bottom N encoder layers fixed (0 = train them all).
    pub freeze_layers: usize,
    /// Train a LoRA adapter of this rank instead of the whole model: the base stays frozen (no
    /// gradient, no optimizer state), the updates and the head train, and the output is an
    /// adapter directory in Hugging Face PEFT's format.
    pub lora_rank: Option<usize>,
    /// LoRA's `lora_alpha` (the update is scaled by `lora_alpha / rank`); default: twice the rank.
    pub lora_alpha: Option<f64>,
    /// Linear layers the adapter updates, by PEFT module name (`query`, `key`, `value`, `dense`,
    /// `attention.output.dense`, …), or `all-linear` (the default).
    pub lora_targets: Vec<String>,
    /// rsLoRA scaling (`lora_alpha / √rank`).
    pub lora_rslora: bool,
    /// With LoRA, the LayerNorms train too (stored whole in the adapter).
    pub lora_layer_norms: bool,
    /// The base of a LoRA adapter given as `model`, instead of the one its configuration names.
    pub base: Option<PathBuf>,
    /// Accept a base whose sha256 differs from the one the adapter recorded (with a warning).
    pub base_mismatch_ok: bool,
    /// Seed of the head initialisation, data order and dropout.
    pub seed: u64,
    /// Also evaluate every N optimizer steps (besides the end of every epoch).
    pub eval_steps: Option<usize>,
    /// Stop when this many evaluations in a row do not beat the best dev F1 (none = never).
    pub early_stopping_patience: Option<usize>,
    /// Write a resumable checkpoint every N optimizer steps (and at every epoch end).
    pub save_steps: usize,
    /// Resumable checkpoints kept in the output directory: the newest N (an older one is removed
    /// once a newer one is complete). More than 1 keeps points along the run, e.g. for checkpoint
    /// averaging.
    pub keep_checkpoints: usize,
    /// Windows per forward pass during evaluation.
    pub eval_batch_size: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            model: None,
            head: None,
            train: Vec::new(),
            train_rates: Vec::new(),
            dev: None,
            out: None,
            epochs: 2,
            max_steps: None,
            max_train_examples: None,
            max_dev_examples: None,
            learning_rate: 5e-5,
            head_learning_rate: None,
            layer_lr_decay: 1.0,
            weight_decay: 0.01,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            max_grad_norm: 1.0,
            warmup_ratio: 0.1,
            schedule: Schedule::Linear,
            batch_size: 8,
            gradient_accumulation_steps: 4,
            max_seq_len: 384,
            doc_stride: 128,
            freeze_word_embeddings: false,
            freeze_layers: 0,
            lora_rank: None,
            lora_alpha: None,
            lora_targets: Vec::new(),
            lora_rslora: false,
            lora_layer_norms: false,
            base: None,
            base_mismatch_ok: false,
            seed: 42,
            eval_steps: None,
            early_stopping_patience: None,
            save_steps: 100,
            keep_checkpoints: 1,
            eval_batch_size: 16,
        }
    }
}

impl TrainSettings {
    /// Reads a TOML settings file; unknown keys are errors naming the file.
    pub fn from_toml_file(path: &Path) -> Result<TrainSettings> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        toml::from_str(&text).map_err(|e| TrainError::BadConfig {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Checks that the settings can be trained with.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(TrainError::BadInput(m.to_string()));
        let missing = |key, what| Err(TrainError::MissingSetting { key, what });
        if self.model.is_none() {
            return missing("model", "model");
        }
        if self.out.is_none() {
            return missing("out", "output directory");
        }
        if self.train.is_empty() {
            return missing("train", "training data");
        }
        if !self.train_rates.is_empty() && self.train_rates.len() != self.train.len() {
            return Err(TrainError::RatesMismatch {
                sets: self.train.len(),
                rates: self.train_rates.len(),
            });
        }
        if let Some(r) = self
            .train_rates
            .iter()
            .find(|r| !(**r > 0.0 && r.is_finite()))
        {
            return bad(&format!("a sampling rate must be positive, not {r}"));
        }
        if self.batch_size == 0
            || self.gradient_accumulation_steps == 0
            || self.eval_batch_size == 0
        {
            return bad(
                "batch_size, gradient_accumulation_steps and eval_batch_size must be at least 1",
            );
        }
        if self.epochs == 0 && self.max_steps.is_none() {
            return bad("epochs must be at least 1 (or give max_steps)");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite())
            || self
                .head_learning_rate
                .is_some_and(|lr| !(lr > 0.0 && lr.is_finite()))
        {
            return bad("learning_rate and head_learning_rate must be positive numbers");
        }
        if !(self.layer_lr_decay > 0.0 && self.layer_lr_decay <= 1.0) {
            return bad("layer_lr_decay must be in (0, 1] (1 = no decay)");
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            return bad("warmup_ratio must be in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.adam_beta1) || !(0.0..1.0).contains(&self.adam_beta2) {
            return bad("adam_beta1 and adam_beta2 must be in [0, 1)");
        }
        if self.weight_decay < 0.0 || self.max_grad_norm < 0.0 || self.adam_epsilon <= 0.0 {
            return bad("weight_decay and max_grad_norm must be ≥ 0 and adam_epsilon > 0");
        }
        let windows = WindowSettings {
            max_seq_len: self.max_seq_len,
            doc_stride: self.doc_stride,
        };
        if let Err(e) = windows.validate() {
            return bad(&e.to_string());
        }
        if self.save_steps == 0
            || self.keep_checkpoints == 0
            || self.eval_steps == Some(0)
            || self.early_stopping_patience == Some(0)
        {
            return bad(
                "save_steps, keep_checkpoints, eval_steps and early_stopping_patience must be at least 1",
            );
        }
        self.validate_lora()
    }

    /// The adapter to train, when `lora_rank` is set (checked by [`TrainSettings::validate`]).
    pub fn lora_spec(&self) -> Option<LoraSpec> {
        let rank = self.lora_rank?;
        let targets = match self.lora_targets.as_slice() {
            [] => LoraSpec::all_linear(),
            [one] if one == "all-linear" => LoraSpec::all_linear(),
            many => many.to_vec(),
        };
        Some(LoraSpec {
            rank,
            alpha: self.lora_alpha.unwrap_or(2.0 * rank as f64),
            rslora: self.lora_rslora,
            targets,
            layer_norms: self.lora_layer_norms,
        })
    }

    /// LoRA settings without `lora_rank`, or a LoRA run that also freezes layers, are errors.
    fn validate_lora(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::BadInput(m));
        match self.lora_spec() {
            None if self.lora_alpha.is_some()
                || !self.lora_targets.is_empty()
                || self.lora_rslora
                || self.lora_layer_norms =>
            {
                bad(
                    "lora_alpha, lora_targets, lora_rslora and lora_layer_norms need lora_rank"
                        .into(),
                )
            }
            None => Ok(()),
            Some(_) if self.freeze_layers > 0 || self.freeze_word_embeddings => bad(
                "a LoRA run freezes the whole base already: drop freeze_layers and \
                 freeze_word_embeddings"
                    .into(),
            ),
            Some(spec) => spec
                .validate()
                .map_err(|e| TrainError::BadInput(e.to_string())),
        }
    }

    /// Where the starting model `dir` is, with the base settings (`dir` may be a checkpoint).
    pub fn model_source(&self, dir: &Path) -> ModelSource {
        ModelSource {
            dir: dir.to_path_buf(),
            base: self.base.clone(),
            base_mismatch_ok: self.base_mismatch_ok,
        }
    }

    /// Windows per optimizer step.
    pub fn effective_batch_size(&self) -> usize {
        self.batch_size * self.gradient_accumulation_steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_toml_and_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "model = \"m\"\nhead = \"cnn\"\ntrain = [\"a.json\"]\nlearning_rate = 1e-4\nschedule = \"cosine\"\n",
        )
        .unwrap();
        let s = TrainSettings::from_toml_file(&path).unwrap();
        assert_eq!(s.head, Some(HeadKind::Cnn));
        assert_eq!(s.learning_rate, 1e-4);
        assert_eq!(s.schedule, Schedule::Cosine);
        assert_eq!(s.batch_size, TrainSettings::default().batch_size);

        std::fs::write(&path, "learnin_rate = 1e-4\n").unwrap();
        let err = TrainSettings::from_toml_file(&path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("learnin_rate") && err.contains("t.toml"),
            "{err}"
        );
    }

    #[test]
    fn validation_names_what_is_missing() {
        let mut s = TrainSettings::default();
        let missing = |s: &TrainSettings| match s.validate() {
            Err(TrainError::MissingSetting { key, .. }) => key,
            other => panic!("{other:?}"),
        };
        assert_eq!(missing(&s), "model");
        s.model = Some("m".into());
        s.out = Some("o".into());
        assert_eq!(missing(&s), "train");
        s.train = vec!["t.json".into()];
        s.validate().unwrap();
        s.doc_stride = s.max_seq_len;
        assert!(s.validate().is_err());
    }
}
