//! The reader model: encoder + head, loading from and saving to a Hugging Face model directory,
//! and the QA loss.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::config::{HeadKind, ReaderConfig};
use crate::encoder::{Encoder, EncoderInput};
use crate::error::{ReaderError, Result};
use crate::expected;
use crate::fused::ReaderBackend;
use crate::head::QaHead;
use crate::lora::{apply_adapter, open_model_dir, AdapterDir, LoraSpec, ModelSource};
use crate::model_files::{weights_file, TokenizerFiles};
use crate::precision::Precision;
use crate::weights::{Checkpoint, CheckpointWriter, StoredType};

/// Encoder and span head.
#[derive(Module, Debug)]
pub struct QaModel<B: Backend> {
    encoder: Encoder<B>,
    head: QaHead<B>,
}

/// A model loaded from a directory, with what the loader found.
#[derive(Debug)]
pub struct LoadedModel<B: Backend> {
    /// The model.
    pub model: QaModel<B>,
    /// Its configuration.
    pub config: ReaderConfig,
    /// True when the checkpoint had no head tensors and the head was freshly initialised.
    pub fresh_head: bool,
    /// Storage type of the checkpoint (used again when saving).
    pub stored_type: StoredType,
    /// Prefix of the encoder tensors in the checkpoint (`bert.`, `roberta.` or empty).
    pub encoder_prefix: String,
    /// Tensors of other heads (pooler, MLM) present in the checkpoint and not used.
    pub ignored: Vec<String>,
    /// The tokenizer that goes with the model (an adapter's own, else its base's).
    pub tokenizer: TokenizerFiles,
    /// The LoRA adapter applied, when the directory was one.
    pub adapter: Option<AdapterDir>,
    /// Things accepted that the user should hear about (e.g. an adapter on another base).
    pub warnings: Vec<String>,
}

/// The encoder prefix a checkpoint is written with: the one it was read with, else the family's
/// (`bert.`, `roberta.`, `electra.`).
pub(crate) fn save_prefix<'a>(config: &ReaderConfig, encoder_prefix: &'a str) -> &'a str {
    match encoder_prefix {
        "" => config.family().prefix(),
        prefix => prefix,
    }
}

mod checks;

pub(crate) use checks::{check_head_kind, check_unused, head_kind_of, is_other_head_tensor};
pub use checks::{check_model_dir, stored_head_kind};

/// Seed of the random initialisation of a fresh head.
pub const FRESH_HEAD_SEED: u64 = 20_240_601;

impl<B: Backend> QaModel<B> {
    /// A model from an encoder and a head.
    pub fn new(encoder: Encoder<B>, head: QaHead<B>) -> Self {
        QaModel { encoder, head }
    }

    /// Freezes (or unfreezes) the word embedding matrix; see [`Encoder::with_frozen_word_embeddings`].
    pub fn with_frozen_word_embeddings(self, frozen: bool) -> Self {
        QaModel {
            encoder: self.encoder.with_frozen_word_embeddings(frozen),
            head: self.head,
        }
    }

    /// Freezes the embeddings and the bottom `n` encoder layers; see [`Encoder::with_frozen_layers`].
    pub fn with_frozen_layers(self, n: usize) -> Self {
        QaModel {
            encoder: self.encoder.with_frozen_layers(n),
            head: self.head,
        }
    }

    /// The model prepared to train a LoRA adapter of `spec` (see [`Encoder::with_lora`]); the
    /// head stays trainable. A target naming no linear layer is an error.
    pub fn with_lora(
        self,
        config: &ReaderConfig,
        spec: &LoraSpec,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self> {
        let prefix = save_prefix(config, "");
        Ok(QaModel {
            encoder: self.encoder.with_lora(config, spec, prefix, seed, device)?,
            head: self.head,
        })
    }

    /// The model for inference in `precision` (`auto` resolved per CPU): the encoder's linear
    /// layers packed once ([`Encoder::with_precision`]); the head stays f32. Not for training.
    pub fn with_precision(self, precision: Precision) -> Self
    where
        B: ReaderBackend,
    {
        QaModel {
            encoder: self.encoder.with_precision(precision),
            head: self.head,
        }
    }

    /// The model with every LoRA update folded into its weights.
    pub fn merged(self) -> Self {
        QaModel {
            encoder: self.encoder.merged(),
            head: self.head,
        }
    }

    /// The encoder and the head, to change in place.
    pub(crate) fn parts_mut(&mut self) -> (&mut Encoder<B>, &mut QaHead<B>) {
        (&mut self.encoder, &mut self.head)
    }

    /// The encoder.
    pub fn encoder(&self) -> &Encoder<B> {
        &self.encoder
    }

    /// The encoder alone (the head dropped), e.g. to embed texts.
    pub fn into_encoder(self) -> Encoder<B> {
        self.encoder
    }

    /// The head.
    pub fn head(&self) -> &QaHead<B> {
        &self.head
    }

    /// Writes `config.json` and `model.safetensors` (tensor names as Hugging Face's
    /// `BertForQuestionAnswering` for the linear head) into `dir`, each through a temporary file
    /// renamed into place.
    pub fn save_dir(
        &self,
        config: &ReaderConfig,
        dir: &Path,
        encoder_prefix: &str,
        ty: StoredType,
    ) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| ReaderError::io(dir, e))?;
        let prefix = save_prefix(config, encoder_prefix);
        let mut w = CheckpointWriter::default();
        self.encoder.save(config, &mut w, prefix)?;
        self.head.save(config, &mut w)?;
        let mut config = config.clone();
        let family = config.family().class_stem();
        let arch = match config.head() {
            HeadKind::Linear => format!("{family}ForQuestionAnswering"),
            HeadKind::Cnn => format!("{family}CnnForQuestionAnswering"),
        };
        config
            .extra
            .insert("architectures".into(), serde_json::json!([arch]));
        config.odqa_head.get_or_insert(HeadKind::Linear);
        let tmp_model = dir.join(".model.safetensors.tmp");
        w.write(&tmp_model, ty)?;
        let tmp_config = dir.join(".config.json.tmp");
        config.write(&tmp_config)?;
        for (tmp, name) in [
            (tmp_model, "model.safetensors"),
            (tmp_config, "config.json"),
        ] {
            std::fs::rename(&tmp, dir.join(name))
                .map_err(|e| ReaderError::io(dir.join(name), e))?;
        }
        Ok(())
    }
}

impl<B: ReaderBackend> QaModel<B> {
    /// Loads `config.json` and `model.safetensors` from `dir`. Missing, mis-shaped or unexpected
    /// tensors are errors naming the tensor; a checkpoint without any head tensor gets a fresh head
    /// (`fresh_head`), seeded from the backend's RNG.
    pub fn load_dir(dir: &Path, device: &B::Device) -> Result<LoadedModel<B>> {
        // A fixed seed, so that a fresh head (and every answer read with it) is reproducible.
        Self::load_dir_with_head(dir, None, FRESH_HEAD_SEED, device)
    }

    /// As [`QaModel::load_dir`], with the head kind forced to `head` (when given; fine-tuning an
    /// encoder-only checkpoint with a chosen head) and a fresh head seeded from `head_seed`. A
    /// checkpoint that already holds a head of another kind is an error naming both kinds. Every
    /// tensor the configuration needs is checked against the checkpoint's header before anything
    /// is allocated.
    pub fn load_dir_with_head(
        dir: &Path,
        head: Option<HeadKind>,
        head_seed: u64,
        device: &B::Device,
    ) -> Result<LoadedModel<B>> {
        Self::load_source(&ModelSource::new(dir), head, head_seed, true, device)
    }

    /// Loads what `source` names: a full model directory, or a LoRA adapter applied to its base
    /// (its updates merged into the weights when `merge`, kept apart to train on otherwise). The
    /// head is the adapter's when it stores one; `head` and `head_seed` as for
    /// [`QaModel::load_dir_with_head`].
    pub fn load_source(
        source: &ModelSource,
        head: Option<HeadKind>,
        head_seed: u64,
        merge: bool,
        device: &B::Device,
    ) -> Result<LoadedModel<B>> {
        B::check_available()?;
        let found = open_model_dir(source)?;
        let dir = &found.weights;
        let mut config = found.read_config()?;
        if let Some(head) = head {
            config.odqa_head = Some(head);
        }
        let mut loaded = Self::load_checkpoint(dir, config, head, head_seed, device)?;
        if let Some(adapter) = &found.adapter {
            let applied = apply_adapter(&mut loaded.model, &loaded.config, adapter, device)?;
            loaded.fresh_head &= !applied.head;
            if merge {
                loaded.model = loaded.model.merged();
            }
        }
        loaded.tokenizer = found.tokenizer;
        loaded.adapter = found.adapter;
        loaded.warnings = found.warnings;
        Ok(loaded)
    }

    /// Loads the weights of `dir` ([`weights_file`]) with `config` (`head`: the kind asked for, if any).
    fn load_checkpoint(
        dir: &Path,
        config: ReaderConfig,
        head: Option<HeadKind>,
        head_seed: u64,
        device: &B::Device,
    ) -> Result<LoadedModel<B>> {
        let mut ckpt = Checkpoint::open(&weights_file(dir))?;
        let prefix = ckpt.encoder_prefix.clone();
        expected::check_encoder::<B>(&config, &ckpt, &prefix, device)?;
        // Head tensor names never start like encoder ones, so the whole header tells the head.
        let stored_head = head_kind_of(ckpt.unused().iter().map(String::as_str));
        check_head_kind(stored_head, &config, head, ckpt.path())?;
        if stored_head.is_some() {
            expected::check_head::<B>(&config, &ckpt, device)?;
        }
        let encoder = Encoder::load(&config, &mut ckpt, &prefix, device)?;
        let head = match stored_head {
            Some(_) => QaHead::load(&config, &mut ckpt, device)?,
            None => QaHead::init(&config, head_seed, device),
        };
        let (ignored, unused): (Vec<String>, Vec<String>) = ckpt
            .unused()
            .into_iter()
            .partition(|n| is_other_head_tensor(n));
        check_unused(&ckpt, &unused, config.head())?;
        Ok(LoadedModel {
            model: QaModel { encoder, head },
            fresh_head: stored_head.is_none(),
            stored_type: ckpt.stored_type,
            encoder_prefix: prefix,
            ignored,
            config,
            tokenizer: TokenizerFiles::in_dir(dir),
            adapter: None,
            warnings: Vec::new(),
        })
    }

    /// Start and end logits `[batch, seq_len]`.
    pub fn forward(&self, input: EncoderInput<B>, train: bool) -> (Tensor<B, 2>, Tensor<B, 2>) {
        self.head.forward(self.encoder.forward(input, train))
    }
}

/// Hugging Face's QA loss: positions clamped to `[0, seq_len]`, cross-entropy ignoring index
/// `seq_len`, mean over the kept rows for start and for end; returns `(total, start, end)` with
/// total = (start + end) / 2.
pub fn qa_loss<B: Backend>(
    start_logits: Tensor<B, 2>,
    end_logits: Tensor<B, 2>,
    start_positions: &[i64],
    end_positions: &[i64],
) -> (Tensor<B, 1>, Tensor<B, 1>, Tensor<B, 1>) {
    let start = cross_entropy_ignoring_len(start_logits, start_positions);
    let end = cross_entropy_ignoring_len(end_logits, end_positions);
    let total = (start.clone() + end.clone()).div_scalar(2.0);
    (total, start, end)
}

fn cross_entropy_ignoring_len<B: Backend>(logits: Tensor<B, 2>, positions: &[i64]) -> Tensor<B, 1> {
    let [b, l] = logits.dims();
    let device = logits.device();
    let clamped: Vec<i64> = positions.iter().map(|&p| p.clamp(0, l as i64)).collect();
    let keep: Vec<f32> = clamped
        .iter()
        .map(|&p| if p < l as i64 { 1.0 } else { 0.0 })
        .collect();
    let kept: f32 = keep.iter().sum();
    let targets: Vec<i64> = clamped.iter().map(|&p| p.min(l as i64 - 1)).collect();
    let targets =
        Tensor::<B, 1, Int>::from_data(TensorData::new(targets, [b]), &device).reshape([b, 1]);
    let keep = Tensor::<B, 1>::from_data(TensorData::new(keep, [b]), &device);
    let picked = log_softmax(logits, 1).gather(1, targets).reshape([b]);
    // 0/0 = NaN when every row is ignored, as PyTorch.
    (picked * keep).sum().neg().div_scalar(kept)
}
