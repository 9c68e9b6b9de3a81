//! What a run writes: the output model directory (loadable by `odqa read` and, for the linear head,
//! by transformers as `BertForQuestionAnswering`) and resumable checkpoints `checkpoint-{step}/`
//! (the same model files plus `optimizer.safetensors` and `trainer_state.json`).
//!
//! Every file is written to a temporary name and renamed into place; a checkpoint directory is
//! assembled under a hidden temporary name and renamed whole, and older checkpoints are removed only
//! after the new one is complete. A run killed at any point leaves the last good checkpoint intact.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use odqa_core::fsio::write_atomic;
use odqa_core::metrics::AnswerScores;
use odqa_reader::config::Family;
use odqa_reader::lora::save_adapter_dir;
use odqa_reader::weights::StoredType;
use odqa_reader::{HeadKind, LoraSpec, QaModel, ReaderConfig, TokenizerFiles};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::settings::TrainSettings;

/// Name of the trainer state file of a checkpoint.
pub const STATE_FILE: &str = "trainer_state.json";
/// Name of the optimizer state file of a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Name of the training summary of the output directory.
pub const TRAINING_FILE: &str = "training.json";

/// One evaluation on the dev set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Optimizer steps done.
    pub step: usize,
    /// Epochs done (fractional).
    pub epoch: f64,
    /// EM/F1 (KorQuAD v1.0 and SQuAD v1.1).
    pub scores: AnswerScores,
    /// Seconds the evaluation took.
    pub seconds: f64,
}

/// Loss and learning rate at one optimizer step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Optimizer step (1-based).
    pub step: usize,
    /// Mean training loss over the step's windows.
    pub loss: f64,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

/// The state of a run, saved with each checkpoint and (as `training.json`) with the output model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Settings of the run.
    pub settings: TrainSettings,
    /// Head trained.
    pub head: HeadKind,
    /// Fingerprint of the starting model (architecture and tokenizer); see [`model_fingerprint`].
    pub model_fingerprint: String,
    /// Optimizer steps done.
    pub step: usize,
    /// Optimizer steps planned.
    pub total_steps: usize,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: usize,
    /// Training examples kept.
    pub train_examples: usize,
    /// What each training set gave to the mixture (before `max_train_examples`).
    #[serde(default)]
    pub sources: Vec<crate::data::SourceCount>,
    /// Training windows.
    pub train_windows: usize,
    /// Examples skipped (with why), e.g. answers not found at `answer_start`.
    pub skipped: Vec<crate::data::Skipped>,
    /// Seconds spent in training steps (evaluation excluded), over all sessions of the run.
    pub train_seconds: f64,
    /// Windows trained on (counting repeats), over all sessions of the run.
    pub windows_seen: usize,
    /// Every evaluation, in order.
    pub evaluations: Vec<Evaluation>,
    /// The evaluation of the model in the output directory (the best so far).
    pub best: Option<Evaluation>,
    /// Loss, learning rate and gradient norm of every step.
    pub log: Vec<LogEntry>,
}

/// Architecture (`config`) and tokenizer (`tokenizer`'s files) of a model, as a short string; a
/// run can only be resumed with the model it started from.
pub fn model_fingerprint(tokenizer: &TokenizerFiles, config: &ReaderConfig) -> Result<String> {
    let bytes = tokenizer.identity_bytes()?;
    // ELECTRA's embedding width is named only where it exists, so that the fingerprints of
    // BERT/RoBERTa runs are those they were written with.
    let embeddings = match config.family() {
        Family::Electra => format!(" embeddings={}", config.embedding_dim()),
        Family::Bert | Family::Roberta => String::new(),
    };
    Ok(format!(
        "{} vocab={} hidden={}{embeddings} layers={} heads={} ffn={} positions={} tokenizer=xxh3:{:016x}",
        if config.model_type.is_empty() {
            "bert"
        } else {
            &config.model_type
        },
        config.vocab_size,
        config.hidden_size,
        config.num_hidden_layers,
        config.num_attention_heads,
        config.intermediate_size,
        config.max_position_embeddings,
        xxhash_rust::xxh3::xxh3_64(&bytes)
    ))
}

/// How a run's models are written: whole, or as a LoRA adapter of a base.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelFiles {
    /// `config.json`, `model.safetensors` (f32) and the tokenizer files, copied from
    /// `tokenizer`'s directory.
    Full {
        /// The starting model's tokenizer.
        tokenizer: TokenizerFiles,
    },
    /// `adapter_config.json` and `adapter_model.safetensors` (PEFT's format), naming the base by
    /// its path relative to where the adapter is written, and its sha256.
    Adapter {
        /// The update trained.
        spec: LoraSpec,
        /// The base model directory.
        base: PathBuf,
        /// sha256 of the base's weights file (`model.safetensors` or `pytorch_model.bin`).
        base_sha256: String,
    },
}

/// `to` relative to the directory `from` (both made absolute first), e.g. `../../base`.
fn relative_to(from: &Path, to: &Path) -> PathBuf {
    let (Ok(from), Ok(to)) = (std::fs::canonicalize(from), std::fs::canonicalize(to)) else {
        return to.to_path_buf();
    };
    let (a, b): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut path: PathBuf = a[common..].iter().map(|_| "..").collect();
    path.extend(&b[common..]);
    path
}

/// Writes a complete model directory into `dir` (see [`ModelFiles`]) and, when given,
/// `training.json`.
pub fn save_model<B: Backend>(
    dir: &Path,
    model: &QaModel<B>,
    config: &ReaderConfig,
    files: &ModelFiles,
    state: Option<&TrainerState>,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    match files {
        ModelFiles::Full { tokenizer } => {
            model.save_dir(config, dir, "", StoredType::F32)?;
            tokenizer.copy_into(dir)?;
        }
        ModelFiles::Adapter {
            spec,
            base,
            base_sha256,
        } => {
            let name = relative_to(dir, base).to_string_lossy().into_owned();
            save_adapter_dir(
                model,
                config,
                spec,
                Some(name),
                Some(base_sha256.clone()),
                dir,
            )?;
        }
    }
    if let Some(state) = state {
        write_json(&dir.join(TRAINING_FILE), state)?;
    }
    Ok(())
}

/// Writes a resumable checkpoint `out/checkpoint-{step}` and, once it is complete, keeps only the
/// newest `keep` checkpoints ([`prune_checkpoints`]).
pub fn save_checkpoint<B: Backend>(
    out: &Path,
    model: &QaModel<B>,
    config: &ReaderConfig,
    files: &ModelFiles,
    state: &TrainerState,
    keep: usize,
    save_optimizer: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let name = format!("checkpoint-{}", state.step);
    let tmp = out.join(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    save_model(&tmp, model, config, files, None)?;
    save_optimizer(&tmp.join(OPTIMIZER_FILE))?;
    write_json(&tmp.join(STATE_FILE), state)?;
    let dir = out.join(&name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    }
    std::fs::rename(&tmp, &dir).map_err(|e| TrainError::io(&dir, e))?;
    prune_checkpoints(out, state.step, keep)?;
    Ok(dir)
}

/// Removes the complete checkpoints of `out` but the one of step `current` (just written) and the
/// newest others, `keep` in all (at least the current one).
pub fn prune_checkpoints(out: &Path, current: usize, keep: usize) -> Result<()> {
    let older: Vec<(usize, PathBuf)> = checkpoints(out)?
        .into_iter()
        .filter(|(step, _)| *step != current)
        .collect();
    let removed = older.len().saturating_sub(keep.saturating_sub(1));
    for (_, old) in &older[..removed] {
        std::fs::remove_dir_all(old).map_err(|e| TrainError::io(old, e))?;
    }
    Ok(())
}

/// Complete checkpoints (`checkpoint-N` with a state file) in `out`, by step.
fn checkpoints(out: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(TrainError::io(out, e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(step) = name
            .strip_prefix("checkpoint-")
            .and_then(|s| s.parse::<usize>().ok())
        {
            if entry.path().join(STATE_FILE).is_file() {
                found.push((step, entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The checkpoint to resume from: `dir` itself when it is one, else its latest `checkpoint-N`.
pub fn find_checkpoint(dir: &Path) -> Result<PathBuf> {
    if dir.join(STATE_FILE).is_file() {
        return Ok(dir.to_path_buf());
    }
    if !dir.is_dir() {
        return Err(TrainError::BadResume {
            path: dir.to_path_buf(),
            message: "no such directory".into(),
        });
    }
    checkpoints(dir)?
        .pop()
        .map(|(_, path)| path)
        .ok_or_else(|| TrainError::BadResume {
            path: dir.to_path_buf(),
            message: format!(
                "no checkpoint to resume from (neither {STATE_FILE} nor a checkpoint-N directory)"
            ),
        })
}

/// Reads a checkpoint's trainer state.
pub fn read_state(checkpoint: &Path) -> Result<TrainerState> {
    let path = checkpoint.join(STATE_FILE);
    let bytes = std::fs::read(&path).map_err(|e| TrainError::io(&path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| TrainError::BadResume {
        path: path.clone(),
        message: format!("unreadable trainer state: {e}"),
    })
}

/// Refuses a checkpoint from another model, head, data, or layer-wise decay (the rates its Adam
/// moments were made with).
pub(crate) fn check_resumable(
    checkpoint: &Path,
    state: &TrainerState,
    fingerprint: &str,
    head: HeadKind,
    settings: &TrainSettings,
    windows: usize,
) -> Result<()> {
    let bad = |message: String| {
        Err(TrainError::BadResume {
            path: checkpoint.to_path_buf(),
            message,
        })
    };
    if state.model_fingerprint != fingerprint {
        return bad(format!(
            "this run started from a different model ({}) than the model given now ({fingerprint})",
            state.model_fingerprint
        ));
    }
    let (was, now) = (state.settings.lora_spec(), settings.lora_spec());
    if was != now {
        let describe = |s: &Option<LoraSpec>| match s {
            Some(s) => format!("a rank-{} LoRA adapter", s.rank),
            None => "the whole model".to_string(),
        };
        return bad(match (&was, &now) {
            (Some(w), Some(n)) => format!(
                "this run trains an adapter with {}: resume with the same LoRA settings",
                w.difference(n).unwrap_or_default()
            ),
            _ => format!("this run trains {}, not {}", describe(&was), describe(&now)),
        });
    }
    if state.settings.layer_lr_decay != settings.layer_lr_decay {
        return bad(format!(
            "this run trains with layer_lr_decay {}, not {}: resume with the same value",
            state.settings.layer_lr_decay, settings.layer_lr_decay
        ));
    }
    if state.head != head {
        return bad(format!(
            "this run trains a {} head, not a {head} head",
            state.head
        ));
    }
    if state.train_windows != windows
        || state.settings.effective_batch_size() != settings.effective_batch_size()
    {
        return bad(format!(
            "the training data or batch size differ from the interrupted run ({} windows in steps of {}, \
             now {windows} in steps of {}); resume with the same data and settings",
            state.train_windows,
            state.settings.effective_batch_size(),
            settings.effective_batch_size()
        ));
    }
    Ok(())
}

/// Writes `value` as pretty JSON, atomically.
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| TrainError::BadInput(format!("cannot serialise {}: {e}", path.display())))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use odqa_testkit::dir_names;

    #[test]
    fn pruning_keeps_the_newest_checkpoints_and_leaves_incomplete_ones() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        for step in [25, 50, 75, 100] {
            let checkpoint = out.join(format!("checkpoint-{step}"));
            std::fs::create_dir(&checkpoint).unwrap();
            std::fs::write(checkpoint.join(STATE_FILE), "{}").unwrap();
        }
        // No state file: not a complete checkpoint (e.g. being written by hand), never removed.
        std::fs::create_dir(out.join("checkpoint-10")).unwrap();

        prune_checkpoints(out, 100, 3).unwrap();
        let kept = [
            "checkpoint-10",
            "checkpoint-100",
            "checkpoint-50",
            "checkpoint-75",
        ];
        assert_eq!(dir_names(out), kept);
        prune_checkpoints(out, 100, 1).unwrap();
        assert_eq!(dir_names(out), ["checkpoint-10", "checkpoint-100"]);
    }

    #[test]
    fn the_checkpoint_just_written_stays_whatever_its_step() {
        // A resumed run may write a step below an existing one; the current one is never removed.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        for step in [40, 80] {
            let checkpoint = out.join(format!("checkpoint-{step}"));
            std::fs::create_dir(&checkpoint).unwrap();
            std::fs::write(checkpoint.join(STATE_FILE), "{}").unwrap();
        }
        prune_checkpoints(out, 40, 1).unwrap();
        assert_eq!(dir_names(out), ["checkpoint-40"]);
    }
}
