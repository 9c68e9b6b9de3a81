//! Reading comprehension: a model directory + SQuAD-format examples → n-best answers. The
//! logits of many windows, for reading comprehension and the open-domain pipeline alike, are
//! computed in [`batched`] ([`Reader::logits`]).

pub mod batched;

use std::path::Path;

use burn::prelude::*;
use odqa_core::control::Observer;
use odqa_core::squad::QaExample;

use crate::config::ReaderConfig;
use crate::decode::{decode_example, trimmed, Candidate, DecodeSettings};
use crate::encoder::EncoderInput;
use crate::error::{ReaderError, Result};
use crate::features::{Feature, FeatureTokenizer, WindowInput, WindowSettings};
use crate::fused::ReaderBackend;
use crate::lora::ModelSource;
use crate::model::{QaModel, FRESH_HEAD_SEED};
use crate::precision::Precision;

pub use batched::{BatchHook, Observed, Progress, WindowLogits};

/// A loaded reader: model, configuration and tokenizer.
pub struct Reader<B: Backend> {
    model: QaModel<B>,
    config: ReaderConfig,
    tokenizer: FeatureTokenizer,
    device: B::Device,
    /// True when the checkpoint had no head (fresh random head: answers are meaningless).
    pub fresh_head: bool,
    /// What loading accepted that the user should hear about (e.g. an adapter on another base).
    pub warnings: Vec<String>,
}

/// The reader's answer for one example.
#[derive(Debug, Clone, PartialEq)]
pub struct ExamplePrediction {
    /// Question id.
    pub id: String,
    /// Best answer text; empty when there is none (transformers would write `"empty"`).
    pub answer: String,
    /// The n-best candidates (transformers' `empty` placeholder when no span was found).
    pub nbest: Vec<Candidate>,
    /// Why the example could not be read (e.g. a question longer than the window).
    pub error: Option<String>,
    /// Number of windows the example was read in.
    pub windows: usize,
}

impl<B: ReaderBackend> Reader<B> {
    /// Loads a Hugging Face model directory (`config.json`, `model.safetensors` or
    /// `pytorch_model.bin`, `tokenizer.json` or `vocab.txt`)
    /// or a LoRA adapter directory on the base its configuration names.
    pub fn load(dir: &Path, windows: WindowSettings, device: &B::Device) -> Result<Reader<B>> {
        Self::open(&ModelSource::new(dir), windows, device)
    }

    /// Loads what `source` names (see [`QaModel::load_source`]); an adapter's updates are merged
    /// into the weights, so reading costs what a full checkpoint costs.
    pub fn open(
        source: &ModelSource,
        windows: WindowSettings,
        device: &B::Device,
    ) -> Result<Reader<B>> {
        let loaded = QaModel::<B>::load_source(source, None, FRESH_HEAD_SEED, true, device)?;
        let config = loaded.config;
        let tokenizer = FeatureTokenizer::open(&loaded.tokenizer, &config, windows)?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(ReaderError::bad_model(
                loaded.tokenizer.main_file(),
                format!(
                    "the tokenizer has {} entries but the model's embedding matrix has {} rows (vocab_size): \
                     ids past {} would index outside it; use the tokenizer the model was trained with",
                    tokenizer.vocab_size(),
                    config.vocab_size,
                    config.vocab_size - 1
                ),
            ));
        }
        windows
            .fits(&config)
            .map_err(|e| ReaderError::BadInput(e.to_string()))?;
        Ok(Reader {
            model: loaded.model,
            config,
            tokenizer,
            device: device.clone(),
            fresh_head: loaded.fresh_head,
            warnings: loaded.warnings,
        })
    }

    /// A reader from a model already in memory (e.g. evaluation during training), its configuration
    /// and tokenizer.
    pub fn from_parts(
        model: QaModel<B>,
        config: ReaderConfig,
        tokenizer: FeatureTokenizer,
        device: &B::Device,
    ) -> Reader<B> {
        Reader {
            model,
            config,
            tokenizer,
            device: device.clone(),
            fresh_head: false,
            warnings: Vec::new(),
        }
    }

    /// The reader computing in `precision` ([`QaModel::with_precision`]; `auto` resolved per
    /// CPU).
    pub fn with_precision(self, precision: Precision) -> Reader<B> {
        Reader {
            model: self.model.with_precision(precision),
            ..self
        }
    }

    /// The model configuration.
    pub fn config(&self) -> &ReaderConfig {
        &self.config
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &FeatureTokenizer {
        &self.tokenizer
    }

    /// The model.
    pub fn model(&self) -> &QaModel<B> {
        &self.model
    }

    /// Encoder inputs for a batch of windows (all of the same, padded length).
    pub fn batch_input(&self, features: &[&Feature]) -> EncoderInput<B> {
        batch_input(&self.config, features, &self.device)
    }

    /// Reads every example: windows tokenized in parallel, their logits by [`Reader::logits`]
    /// (`batch_size` windows per forward pass), n-best decoding per example. Examples that cannot
    /// be tokenized get an empty answer and an error. `observer` is told the windows read so far
    /// (from worker threads, after every batch) and can stop the call between batches
    /// ([`ReaderError::Interrupted`]).
    pub fn read(
        &self,
        examples: &[QaExample],
        decode: DecodeSettings,
        batch_size: usize,
        observer: &dyn Observer,
    ) -> Result<Vec<ExamplePrediction>> {
        let inputs: Vec<WindowInput<'_>> = examples
            .iter()
            .map(|e| (e.question.as_str(), e.context.as_str(), None))
            .collect();
        let per_example = self.tokenizer.features_batch(&inputs);
        let features: Vec<&Feature> = per_example
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .flatten()
            .collect();
        let logits = self.logits(&features, batch_size, &Observed(observer))?;
        let mut next = 0;
        let predictions = examples
            .iter()
            .zip(&per_example)
            .map(|(example, windows)| match windows {
                Ok(windows) => {
                    let with_logits: Vec<(&Feature, &[f32], &[f32])> = windows
                        .iter()
                        .zip(&logits[next..next + windows.len()])
                        .map(|(f, (s, e))| (f, s.as_slice(), e.as_slice()))
                        .collect();
                    next += windows.len();
                    let year_question = decode.year_question(&example.question);
                    let decoded = decode_example(&example.context, &with_logits, decode);
                    let nbest = trimmed(decoded, year_question);
                    let answer = nbest
                        .first()
                        .filter(|c| !c.is_placeholder())
                        .map(|c| c.text.clone())
                        .unwrap_or_default();
                    ExamplePrediction {
                        id: example.id.clone(),
                        answer,
                        nbest,
                        error: None,
                        windows: windows.len(),
                    }
                }
                Err(e) => ExamplePrediction {
                    id: example.id.clone(),
                    answer: String::new(),
                    nbest: Vec::new(),
                    error: Some(e.to_string()),
                    windows: 0,
                },
            })
            .collect();
        Ok(predictions)
    }
}

/// Encoder inputs for windows of one padded length. Position ids: 0..L for BERT; RoBERTa's
/// `pad + 1 + cumsum(ids != pad)` with pads at `pad`.
pub fn batch_input<B: Backend>(
    config: &ReaderConfig,
    features: &[&Feature],
    device: &B::Device,
) -> EncoderInput<B> {
    let l = features.first().map_or(0, |f| f.input_ids.len());
    batch_input_len(config, features, l, device)
}

/// The length a batch of windows can be cut to without changing any real token's logits: the
/// longest window's real tokens plus the head's [`ReaderConfig::receptive_margin`], at most the
/// padded length.
pub fn cut_len(config: &ReaderConfig, features: &[&Feature]) -> usize {
    let longest = features.iter().map(|f| real_len(f)).max().unwrap_or(0);
    let padded = features
        .iter()
        .map(|f| f.input_ids.len())
        .min()
        .unwrap_or(0);
    (longest + config.receptive_margin()).min(padded)
}

/// The number of real (unpadded) tokens of a window.
pub fn real_len(feature: &Feature) -> usize {
    feature.attention_mask.iter().filter(|&&m| m == 1).count()
}

/// [`batch_input`] over the first `l` tokens of every window (at most their padded length).
pub fn batch_input_len<B: Backend>(
    config: &ReaderConfig,
    features: &[&Feature],
    l: usize,
    device: &B::Device,
) -> EncoderInput<B> {
    let b = features.len();
    let l = features
        .iter()
        .map(|f| f.input_ids.len())
        .fold(l, usize::min);
    let mut ids = Vec::with_capacity(b * l);
    let mut types = Vec::with_capacity(b * l);
    let mut positions = Vec::with_capacity(b * l);
    let mut mask = Vec::with_capacity(b * l);
    let pad = config.pad_token_id as i64;
    for f in features {
        let mut count = 0i64;
        for i in 0..l {
            let id = f.input_ids[i] as i64;
            ids.push(id);
            types.push(f.token_type_ids[i] as i64);
            mask.push(f.attention_mask[i] as f32);
            positions.push(if config.roberta_positions() {
                if id != pad {
                    count += 1;
                    pad + count
                } else {
                    pad
                }
            } else {
                i as i64
            });
        }
    }
    let int = |v: Vec<i64>| Tensor::<B, 2, Int>::from_data(TensorData::new(v, [b, l]), device);
    EncoderInput {
        input_ids: int(ids),
        token_type_ids: int(types),
        position_ids: int(positions),
        attention_mask: Tensor::from_data(TensorData::new(mask, [b, l]), device),
    }
}
