//! The BERT/RoBERTa/ELECTRA encoder (Hugging Face `BertModel` without pooler, `ElectraModel`),
//! in burn.
//!
//! Embeddings (word + position + token type, LayerNorm with the config's eps; for ELECTRA of
//! `embedding_size`, then `embeddings_project` to the hidden size when the two differ), then
//! `num_hidden_layers` post-norm transformer layers: self-attention with an additive padding mask
//! (`(1 − mask) · f32::MIN`, as transformers), exact-erf GELU feed-forward. Dropout runs only when
//! `train` is set on an autodiff backend. Attention (with dropout on its probabilities when
//! training), GELU, LayerNorm and dropout are the backend's fused operations
//! ([`ReaderBackend`]); every linear layer is one `[batch·seq, hidden]` product.

use std::cell::Cell;

use burn::module::{ModuleVisitor, Param};
use burn::nn::{Dropout, Embedding, LayerNorm};
use burn::prelude::*;
use burn::tensor::activation::{gelu_approximate, relu};
use burn::tensor::Distribution;

use crate::fused::{self, mix64, DropoutDraw, ReaderBackend};
use crate::lora::Projection;
use crate::precision::Precision;

mod lora;
mod params;

pub(crate) use params::{layer_norm_skeleton, layer_path};

/// One batch of encoder inputs, all `[batch, seq_len]`.
#[derive(Debug, Clone)]
pub struct EncoderInput<B: Backend> {
    /// Token ids.
    pub input_ids: Tensor<B, 2, Int>,
    /// Segment ids (zeros for RoBERTa-style tokenizers).
    pub token_type_ids: Tensor<B, 2, Int>,
    /// Position ids (BERT: 0..L; RoBERTa: `pad + 1 + cumsum(mask)`, pads at `pad`).
    pub position_ids: Tensor<B, 2, Int>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor<B, 2>,
}

/// Activation of the feed-forward layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact GELU (erf).
    Gelu,
    /// tanh-approximated GELU (`gelu_new`).
    GeluTanh,
    /// ReLU.
    Relu,
}

/// Token, position and segment embeddings (of `embedding_size` for ELECTRA, projected to the
/// hidden size when the two differ).
#[derive(Module, Debug)]
pub struct Embeddings<B: Backend> {
    word_embeddings: Embedding<B>,
    position_embeddings: Embedding<B>,
    token_type_embeddings: Embedding<B>,
    layer_norm: LayerNorm<B>,
    dropout: Dropout,
    /// ELECTRA's `embeddings_project` (embedding size → hidden size), after the dropout.
    projection: Option<Projection<B>>,
    /// The LayerNorm's epsilon (burn keeps its own private).
    #[module(skip)]
    norm_eps: f64,
}

/// One transformer layer. Its linear layers are [`Projection`]s: a LoRA update may be attached.
#[derive(Module, Debug)]
pub struct Layer<B: Backend> {
    query: Projection<B>,
    key: Projection<B>,
    value: Projection<B>,
    attention_output: Projection<B>,
    attention_norm: LayerNorm<B>,
    intermediate: Projection<B>,
    output: Projection<B>,
    output_norm: LayerNorm<B>,
    dropout: Dropout,
    attention_dropout: Dropout,
    heads: usize,
    #[module(skip)]
    activation: Activation,
    /// Attention in the reduced precision of a bf16 reader ([`Encoder::with_precision`]).
    #[module(skip)]
    bf16_attention: bool,
    /// The LayerNorms' epsilon.
    #[module(skip)]
    norm_eps: f64,
}

/// The encoder: embeddings and layers.
#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    embeddings: Embeddings<B>,
    layers: Vec<Layer<B>>,
    /// Padding id: its word embedding row (and RoBERTa's padding position row) gets no gradient.
    pad_token_id: usize,
    roberta_positions: bool,
}

impl<B: Backend> Encoder<B> {
    /// The word embedding matrix (for freezing or gradient checks).
    pub fn word_embeddings(&self) -> &Param<Tensor<B, 2>> {
        &self.embeddings.word_embeddings.weight
    }

    /// ELECTRA's projection of the embeddings to the hidden size (burn's `[in, out]` layout), when
    /// the model has one (for gradient checks).
    pub fn embeddings_projection(&self) -> Option<&Param<Tensor<B, 2>>> {
        self.embeddings
            .projection
            .as_ref()
            .map(|p| &p.linear.weight)
    }

    /// Stops (or restarts) gradients to the word embedding matrix: a frozen matrix is not updated
    /// by training.
    pub fn with_frozen_word_embeddings(mut self, frozen: bool) -> Self {
        let weight = self.embeddings.word_embeddings.weight;
        self.embeddings.word_embeddings.weight = weight.set_require_grad(!frozen);
        self
    }

    /// Freezes the embeddings and the bottom `n` layers (0 = none; `n` above the layer count
    /// freezes them all): their parameters stop requiring gradients, so autodiff records nothing
    /// for them (no graph, no backward pass) and training leaves them as they are. Inference is
    /// unchanged.
    pub fn with_frozen_layers(mut self, n: usize) -> Self {
        if n == 0 {
            return self;
        }
        self.embeddings = self.embeddings.no_grad();
        self.layers = self
            .layers
            .into_iter()
            .enumerate()
            .map(|(i, layer)| if i < n { layer.no_grad() } else { layer })
            .collect();
        self
    }

    /// The depth of each float parameter in visiting order (the order optimizers see them): 0 for
    /// the embeddings, `i + 1` for layer `i`; for layer-wise learning rates.
    pub fn parameter_depths(&self) -> Vec<usize> {
        let mut depths = vec![0; param_tensor_count(&self.embeddings)];
        for (i, layer) in self.layers.iter().enumerate() {
            depths.extend(std::iter::repeat_n(i + 1, param_tensor_count(layer)));
        }
        depths
    }
}

/// Number of float parameter tensors of `module` (the index of the first parameter of whatever is
/// visited after it).
pub fn param_tensor_count<B: Backend, M: Module<B>>(module: &M) -> usize {
    struct Count(usize);
    impl<B: Backend> ModuleVisitor<B> for Count {
        fn visit_float<const D: usize>(&mut self, _: &Param<Tensor<B, D>>) {
            self.0 += 1;
        }
    }
    let mut count = Count(0);
    module.visit(&mut count);
    count.0
}

impl<B: ReaderBackend> Encoder<B> {
    /// The encoder with every linear layer prepared for `precision` ([`Projection::with_precision`]);
    /// unchanged (f32) on a backend without reduced-precision kernels (CUDA).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        if !B::reduced_precision() {
            return self;
        }
        self.embeddings.projection = self
            .embeddings
            .projection
            .map(|p| p.with_precision(precision));
        self.layers = self
            .layers
            .into_iter()
            .map(|layer| layer.with_precision(precision))
            .collect();
        self
    }
}

impl<B: Backend> Layer<B> {
    fn with_precision(self, precision: Precision) -> Self {
        let p = |projection: Projection<B>| projection.with_precision(precision);
        Layer {
            query: p(self.query),
            key: p(self.key),
            value: p(self.value),
            attention_output: p(self.attention_output),
            intermediate: p(self.intermediate),
            // int8 leaves the feed-forward down-projection in f32: its inputs (GELU outputs) have
            // outliers that one scale per row quantizes coarsely (tuning split: EM −0.49 with it
            // in int8, ±0.00 without).
            output: match precision.resolve() {
                Precision::Int8 => self.output.with_precision(Precision::Fp32),
                _ => p(self.output),
            },
            bf16_attention: precision.resolve() == Precision::Bf16,
            ..self
        }
    }
}

impl<B: ReaderBackend> Encoder<B> {
    /// Last hidden states `[batch, seq_len, hidden]`.
    pub fn forward(&self, input: EncoderInput<B>, train: bool) -> Tensor<B, 3> {
        let e = &self.embeddings;
        let pad = self.pad_token_id as i64;
        let word = e.word_embeddings.forward(input.input_ids.clone());
        let word = no_grad_where(word, input.input_ids.equal_elem(pad));
        let position = e.position_embeddings.forward(input.position_ids.clone());
        let position = if self.roberta_positions {
            no_grad_where(position, input.position_ids.equal_elem(pad))
        } else {
            position
        };
        let x = word + position + e.token_type_embeddings.forward(input.token_type_ids);
        let draws =
            (train && B::ad_enabled(&x.device())).then(|| DropoutDraws::draw::<B>(&x.device()));
        let x = fused::layer_norm(&e.layer_norm, e.norm_eps, x);
        let x = dropout(x, &e.dropout, draws.as_ref());
        let [b, l, width] = x.dims();
        // Rows = tokens: every linear layer is one [batch·seq, hidden] product.
        let mut x = x.reshape([b * l, width]);
        if let Some(projection) = &e.projection {
            x = projection.forward(x);
        }
        let [_, hidden] = x.dims();
        for layer in &self.layers {
            x = layer.forward(x, [b, l], &input.attention_mask, draws.as_ref());
        }
        x.reshape([b, l, hidden])
    }
}

/// Like PyTorch's `Embedding(padding_idx=…)`: rows looked up at `frozen` positions keep their value
/// but pass no gradient back to the embedding matrix.
fn no_grad_where<B: Backend>(x: Tensor<B, 3>, frozen: Tensor<B, 2, Bool>) -> Tensor<B, 3> {
    if !B::ad_enabled(&x.device()) {
        return x;
    }
    let [b, l, _] = x.dims();
    let frozen = frozen.float().reshape([b, l, 1]);
    let keep = frozen.clone().neg().add_scalar(1.0);
    x.clone() * keep + x.detach() * frozen
}

/// The dropout draws of one training forward pass: a base seed drawn from the backend's random
/// generator (which the trainer seeds), and from it one seed per dropout call, in call order.
struct DropoutDraws {
    base: u64,
    calls: Cell<u64>,
}

impl DropoutDraws {
    fn draw<B: ReaderBackend>(device: &B::Device) -> Self {
        if !B::dropout_uses_seeds() {
            // The masks come from the backend's own generator: nothing to copy off the device.
            return DropoutDraws {
                base: 0,
                calls: Cell::new(0),
            };
        }
        let uniform = Tensor::<B, 1>::random([2], Distribution::Uniform(0.0, 1.0), device);
        let halves = uniform
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap_or_default();
        let base = halves.iter().fold(0u64, |acc, &u| {
            (acc << 24) | ((u * 16_777_216.0) as u64 & 0xFF_FFFF)
        });
        DropoutDraws {
            base,
            calls: Cell::new(0),
        }
    }

    /// The next call's draw with drop probability `prob`.
    fn next(&self, prob: f64) -> DropoutDraw {
        let call = self.calls.get();
        self.calls.set(call + 1);
        DropoutDraw {
            prob: prob as f32,
            seed: mix64(self.base ^ mix64(call.wrapping_add(1))),
        }
    }
}

/// `x` through `module`'s dropout when training (`draws` given), unchanged otherwise.
fn dropout<B: ReaderBackend, const D: usize>(
    x: Tensor<B, D>,
    module: &Dropout,
    draws: Option<&DropoutDraws>,
) -> Tensor<B, D> {
    match draws {
        Some(draws) if module.prob > 0.0 => fused::dropout(x, draws.next(module.prob)),
        _ => x,
    }
}

impl<B: ReaderBackend> Layer<B> {
    /// One layer over the tokens `[batch·seq, hidden]` of a `[batch, seq]` batch whose padding
    /// mask is `key_mask`; with dropout when `draws` are given (training).
    fn forward(
        &self,
        x: Tensor<B, 2>,
        [b, l]: [usize; 2],
        key_mask: &Tensor<B, 2>,
        draws: Option<&DropoutDraws>,
    ) -> Tensor<B, 2> {
        let [_, hidden] = x.dims();
        let batched = |t: Tensor<B, 2>| t.reshape([b, l, hidden]);
        let q = batched(self.query.forward(x.clone()));
        let k = batched(self.key.forward(x.clone()));
        let v = batched(self.value.forward(x.clone()));
        let key_mask = key_mask.clone();
        let context = match draws {
            Some(draws) => {
                let draw = draws.next(self.attention_dropout.prob);
                fused::attention_train(q, k, v, key_mask, self.heads, draw)
            }
            None => fused::attention(q, k, v, key_mask, self.heads, self.bf16_attention),
        };
        let context = context.reshape([b * l, hidden]);
        let attended = dropout(self.attention_output.forward(context), &self.dropout, draws);
        let attended = fused::layer_norm(&self.attention_norm, self.norm_eps, attended + x);
        let inner = self.intermediate.forward(attended.clone());
        let inner = match self.activation {
            Activation::Gelu => fused::fused_gelu(inner),
            Activation::GeluTanh => gelu_approximate(inner),
            Activation::Relu => relu(inner),
        };
        let out = dropout(self.output.forward(inner), &self.dropout, draws);
        fused::layer_norm(&self.output_norm, self.norm_eps, out + attended)
    }
}
