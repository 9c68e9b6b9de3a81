//! Sentence embeddings with the reader's encoder, as sentence-transformers computes them for
//! multilingual-e5: `prefix + text` tokenized with the model's tokenizer (special tokens added,
//! truncated to `max_len` tokens), the encoder's last hidden state mean-pooled over the real
//! tokens, L2-normalised. The same encoder code and fused kernels as reading; texts are sorted by
//! length and batched side by side on the rayon pool, each batch cut to its longest text. Padding
//! is masked out, so a vector does not depend on the texts it shares a batch with, on the batch
//! size or on the thread count, but for float rounding: products of other shapes may add in
//! another order (measured: ≤ 1e-6 per value; `tests/embed.rs` allows 1e-5).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::*;
use odqa_core::control::Observer;
use rayon::prelude::*;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::config::ReaderConfig;
use crate::encoder::Encoder;
use crate::error::{ReaderError, Result};
use crate::features::Feature;
use crate::fused::ReaderBackend;
use crate::lora::ModelSource;
use crate::model::{QaModel, FRESH_HEAD_SEED};
use crate::precision::Precision;
use crate::read::batch_input_len;

/// The most tokens an e5 text is read with (the model's own limit).
pub const DEFAULT_MAX_LEN: usize = 512;

/// An encoder that turns texts into unit vectors (mean pooling over the last hidden state).
pub struct Embedder<B: Backend> {
    encoder: Encoder<B>,
    config: ReaderConfig,
    tokenizer: Tokenizer,
    max_len: usize,
    device: B::Device,
    /// What loading accepted that the user should hear about.
    pub warnings: Vec<String>,
}

impl<B: ReaderBackend> Embedder<B> {
    /// Loads the encoder of the model `dir` names (a Hugging Face model directory, a reader or a
    /// LoRA adapter on its base; any head is left unused) and its tokenizer, reading at most
    /// `max_len` tokens per text (at most what the model's positions allow).
    pub fn load(dir: &Path, max_len: usize, device: &B::Device) -> Result<Embedder<B>> {
        let loaded =
            QaModel::<B>::load_source(&ModelSource::new(dir), None, FRESH_HEAD_SEED, true, device)?;
        let config = loaded.config;
        let allowed = config.max_sequence_len();
        if max_len == 0 || max_len > allowed {
            return Err(ReaderError::BadInput(format!(
                "texts cannot be embedded with {max_len} tokens: the model {} reads 1 to {allowed}",
                dir.display()
            )));
        }
        let mut tokenizer = loaded.tokenizer.load()?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                stride: 0,
                strategy: TruncationStrategy::LongestFirst,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| ReaderError::BadTokenizer {
                path: loaded.tokenizer.main_file(),
                message: e.to_string(),
            })?;
        tokenizer.with_padding(None);
        Ok(Embedder {
            encoder: loaded.model.into_encoder(),
            config,
            tokenizer,
            max_len,
            device: device.clone(),
            warnings: loaded.warnings,
        })
    }

    /// The embedder computing in `precision` ([`Encoder::with_precision`]; `auto` resolved per
    /// CPU).
    pub fn with_precision(self, precision: Precision) -> Embedder<B> {
        Embedder {
            encoder: self.encoder.with_precision(precision),
            ..self
        }
    }

    /// The length of the vectors (the encoder's hidden size).
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// The most tokens a text is read with.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The token ids of `text` as the encoder reads it (special tokens added, truncated).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| ReaderError::BadInput(format!("cannot tokenize {text:?}: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The unit vectors of `texts`, in order: tokenized in parallel, sorted by length (stably)
    /// and cut into batches of `batch_size` computed side by side. `observer` is told the texts
    /// done (from worker threads, after every batch) and can stop the call between batches
    /// ([`ReaderError::Interrupted`]).
    pub fn embed<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        batch_size: usize,
        observer: &dyn Observer,
    ) -> Result<Vec<Vec<f32>>> {
        let ids: Vec<Vec<u32>> = texts
            .par_iter()
            .map(|t| self.token_ids(t.as_ref()))
            .collect::<Result<_>>()?;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let batches: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
        let done = AtomicUsize::new(0);
        let computed: Vec<Vec<Vec<f32>>> = batches
            .par_iter()
            .map(|batch| {
                if observer.should_stop() {
                    return Err(ReaderError::Interrupted);
                }
                let rows: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
                let vectors = self.batch_vectors(&rows)?;
                let now = done.fetch_add(batch.len(), Ordering::Relaxed) + batch.len();
                observer.progress(now, texts.len());
                Ok(vectors)
            })
            .collect::<Result<_>>()?;
        let mut vectors = vec![Vec::new(); texts.len()];
        for (batch, got) in batches.iter().zip(computed) {
            for (&i, v) in batch.iter().zip(got) {
                vectors[i] = v;
            }
        }
        Ok(vectors)
    }

    /// The unit vectors of one batch of token id lists, padded to the longest.
    fn batch_vectors(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let len = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        if rows.is_empty() || len == 0 {
            return Ok(vec![vec![0.0; self.dim()]; rows.len()]);
        }
        let features: Vec<Feature> = rows.iter().map(|r| padded(r, len, &self.config)).collect();
        let refs: Vec<&Feature> = features.iter().collect();
        let input = batch_input_len::<B>(&self.config, &refs, len, &self.device);
        let mask = input.attention_mask.clone();
        let hidden = self.encoder.forward(input, false);
        let [b, l, h] = hidden.dims();
        let mask3 = mask.reshape([b, l, 1]);
        let summed = (hidden * mask3.clone()).sum_dim(1).reshape([b, h]);
        let values = summed
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| {
                ReaderError::BadInput(format!("cannot read the encoder's output: {e:?}"))
            })?;
        Ok(values
            .chunks_exact(h)
            .zip(rows)
            .map(|(sum, row)| mean_normalised(sum, row.len()))
            .collect())
    }
}

/// A window of one text's ids padded with the model's pad id to `len` (what
/// [`batch_input_len`] reads: ids, zero segment ids, the mask).
fn padded(ids: &[u32], len: usize, config: &ReaderConfig) -> Feature {
    let pad = config.pad_token_id as u32;
    let mut input_ids = ids.to_vec();
    input_ids.resize(len, pad);
    let mut attention_mask = vec![1u32; ids.len()];
    attention_mask.resize(len, 0);
    Feature {
        example_index: 0,
        input_ids,
        token_type_ids: vec![0; len],
        attention_mask,
        offsets: Vec::new(),
        sequence_ids: Vec::new(),
        start_position: None,
        end_position: None,
    }
}

/// `sum / count`, scaled to unit length (a zero vector stays zero).
fn mean_normalised(sum: &[f32], count: usize) -> Vec<f32> {
    let n = count.max(1) as f32;
    let mean: Vec<f32> = sum.iter().map(|v| v / n).collect();
    let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        mean.iter().map(|v| v / norm).collect()
    } else {
        mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_then_unit_length() {
        let v = mean_normalised(&[6.0, 8.0], 2);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert_eq!(mean_normalised(&[0.0, 0.0], 3), vec![0.0, 0.0]);
    }
}
