//! Span-scoring heads on top of the encoder.
//!
//! - `linear`: Hugging Face `qa_outputs`, Linear(hidden → 2).
//! - `cnn`: the odqa design. The hidden states `(B, L, H)` are read as `(B, H, L)`; a block
//!   Conv1d(H → channels, k, padding) → Conv1d(channels → H, 1) → ReLU → add the block's input →
//!   LayerNorm(H, eps 1e-5) is applied `cnn_blocks` times (the same block when `cnn_shared`), then
//!   `qa_outputs`. The convolutions do not mask padding: the head must see the full padded window
//!   it was trained on.
//!
//! Checkpoint names: `qa_outputs.{weight,bias}`; shared CNN block `conv1.*`, `conv2.*`,
//! `layer_norm.*` (the PyTorch implementation's names); unshared blocks `cnn_blocks.N.conv1.*`, ….

use burn::module::Param;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{LayerNorm, Linear, LinearConfig, PaddingConfig1d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::TensorData;

use crate::config::{HeadKind, ReaderConfig};
use crate::encoder::layer_norm_skeleton;
use crate::error::Result;
use crate::fused::{self, ReaderBackend};
use crate::params::{Loader, Saver};
use crate::weights::{Checkpoint, CheckpointWriter, ParamVisitor};

/// One CNN block.
#[derive(Module, Debug)]
pub struct CnnBlock<B: Backend> {
    conv1: Conv1d<B>,
    conv2: Conv1d<B>,
    layer_norm: LayerNorm<B>,
    /// The LayerNorm's epsilon (burn keeps its own private).
    #[module(skip)]
    norm_eps: f64,
}

/// The head: CNN blocks (none for `linear`) and `qa_outputs`.
#[derive(Module, Debug)]
pub struct QaHead<B: Backend> {
    blocks: Vec<CnnBlock<B>>,
    /// How many times the block sequence is applied (`cnn_blocks` when shared, else 1).
    repeats: usize,
    qa_outputs: Linear<B>,
}

fn conv_configs(config: &ReaderConfig) -> (Conv1dConfig, Conv1dConfig) {
    let h = config.hidden_size;
    (
        Conv1dConfig::new(h, config.cnn_channels, config.cnn_kernel_size).with_padding(
            PaddingConfig1d::Explicit(config.cnn_padding, config.cnn_padding),
        ),
        Conv1dConfig::new(config.cnn_channels, h, 1),
    )
}

fn block_prefix(config: &ReaderConfig, i: usize) -> String {
    if config.cnn_shared {
        String::new()
    } else {
        format!("cnn_blocks.{i}.")
    }
}

fn block_count(config: &ReaderConfig) -> usize {
    match config.head() {
        HeadKind::Linear => 0,
        HeadKind::Cnn if config.cnn_shared => 1,
        HeadKind::Cnn => config.cnn_blocks,
    }
}

impl<B: Backend> QaHead<B> {
    /// A freshly initialised head, reproducible from `seed`: convolutions as PyTorch initialises
    /// them (weights and biases U(±1/√fan_in)), LayerNorm gain 1 and bias 0, `qa_outputs` weight
    /// N(0, 0.02) and bias 0 (as transformers initialises `qa_outputs`).
    pub fn init(config: &ReaderConfig, seed: u64, device: &B::Device) -> Self {
        let mut head = Self::skeleton(config, device);
        let mut fresh = FreshInit {
            rng: SplitMix64(seed),
            device,
        };
        // `FreshInit` never fails.
        let _ = head.visit_params(config, &mut fresh);
        head
    }

    /// The head of `config` with lazy parameters (nothing allocated until a parameter is read),
    /// to be described or loaded.
    pub fn skeleton(config: &ReaderConfig, device: &B::Device) -> Self {
        let (c1, c2) = conv_configs(config);
        let eps = config.cnn_layer_norm_eps;
        let blocks = (0..block_count(config))
            .map(|_| CnnBlock {
                conv1: c1.init(device),
                conv2: c2.init(device),
                layer_norm: layer_norm_skeleton(config.hidden_size, eps, device),
                norm_eps: eps,
            })
            .collect();
        QaHead {
            blocks,
            repeats: repeats(config),
            qa_outputs: LinearConfig::new(config.hidden_size, 2).init(device),
        }
    }

    /// The one description of the head's parameters: the CNN blocks (`conv1`, `conv2`,
    /// `layer_norm`, under `cnn_blocks.N.` when unshared), then `qa_outputs`.
    pub fn visit_params(
        &mut self,
        config: &ReaderConfig,
        v: &mut impl ParamVisitor<B>,
    ) -> Result<()> {
        let (h, ch, k) = (
            config.hidden_size,
            config.cnn_channels,
            config.cnn_kernel_size,
        );
        for (i, block) in self.blocks.iter_mut().enumerate() {
            let p = block_prefix(config, i);
            v.conv1d(&format!("{p}conv1"), &mut block.conv1, [ch, h, k])?;
            v.conv1d(&format!("{p}conv2"), &mut block.conv2, [h, ch, 1])?;
            v.layer_norm(&format!("{p}layer_norm"), &mut block.layer_norm, h)?;
        }
        v.linear("qa_outputs", &mut self.qa_outputs, h, 2)
    }

    /// Loads the head's tensors from `ckpt`.
    pub fn load(config: &ReaderConfig, ckpt: &mut Checkpoint, device: &B::Device) -> Result<Self> {
        let mut head = Self::skeleton(config, device);
        head.visit_params(config, &mut Loader::new(ckpt, device))?;
        Ok(head)
    }

    /// Writes the head's tensors with the checkpoint names.
    pub fn save(&self, config: &ReaderConfig, w: &mut CheckpointWriter) -> Result<()> {
        // The visit takes the parameters mutably; a clone shares their tensors.
        self.clone().visit_params(config, &mut Saver::new(w))
    }

    /// The `qa_outputs` weight, burn layout `[hidden, 2]`.
    pub fn qa_outputs_weight(&self) -> Tensor<B, 2> {
        self.qa_outputs.weight.val()
    }

    /// The shared (first) CNN block's conv1 weight, conv2 weight and LayerNorm gain, if any.
    pub fn cnn_weights(&self) -> Option<(Tensor<B, 3>, Tensor<B, 3>, Tensor<B, 1>)> {
        self.blocks.first().map(|b| {
            (
                b.conv1.weight.val(),
                b.conv2.weight.val(),
                b.layer_norm.gamma.val(),
            )
        })
    }
}

impl<B: ReaderBackend> QaHead<B> {
    /// Start and end logits `[batch, seq_len]` from hidden states `[batch, seq_len, hidden]`.
    pub fn forward(&self, hidden: Tensor<B, 3>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        // Tokens stay rows ([B, L, H]): each convolution is one product over the tokens.
        let mut x = hidden;
        for _ in 0..self.repeats {
            for block in &self.blocks {
                let z = relu(conv_over_tokens(
                    &block.conv2,
                    conv_over_tokens(&block.conv1, x.clone()),
                ));
                x = fused::layer_norm(&block.layer_norm, block.norm_eps, z + x);
            }
        }
        let logits = self.qa_outputs.forward(x); // (B, L, 2)
        let [b, l, _] = logits.dims();
        let start = logits.clone().slice([0..b, 0..l, 0..1]).reshape([b, l]);
        let end = logits.slice([0..b, 0..l, 1..2]).reshape([b, l]);
        (start, end)
    }
}

/// `conv` (stride 1, `(k − 1)/2` zeros each side, as the config requires) along the tokens of
/// `x` `[batch, seq, in]`, giving `[batch, seq, out]`: the same values as `conv.forward` on
/// `[batch, in, seq]`, computed as one product of the `k` shifted copies of the tokens side by
/// side `[batch·seq, k·in]` with the kernel read as `[out, k·in]`ᵀ.
fn conv_over_tokens<B: Backend>(conv: &Conv1d<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [b, l, c] = x.dims();
    let weight = conv.weight.val();
    let [out, _, k] = weight.dims();
    let columns = if k == 1 {
        x.reshape([b * l, c])
    } else {
        let pad = (k - 1) / 2;
        let zeros = Tensor::<B, 3>::zeros([b, pad, c], &x.device());
        let padded = Tensor::cat(vec![zeros.clone(), x, zeros], 1);
        // Column t·in + ch of token i holds x[i + t − pad, ch].
        let shifted: Vec<Tensor<B, 3>> = (0..k)
            .map(|t| padded.clone().slice([0..b, t..t + l, 0..c]))
            .collect();
        Tensor::cat(shifted, 2).reshape([b * l, k * c])
    };
    // [out, in, k] → [out, k, in] → [out, k·in], matching the columns.
    let kernel = weight.swap_dims(1, 2).reshape([out, k * c]);
    let mut y = columns.matmul(kernel.transpose());
    if let Some(bias) = &conv.bias {
        y = y + bias.val().unsqueeze::<2>();
    }
    y.reshape([b, l, out])
}

/// Draws a fresh head's parameters in description order (convolutions U(±1/√fan_in), Linear
/// weights N(0, 0.02) and biases 0); other tensors (LayerNorm gain and bias) keep the skeleton's
/// initial values.
struct FreshInit<'a, B: Backend> {
    rng: SplitMix64,
    device: &'a B::Device,
}

impl<B: Backend> FreshInit<'_, B> {
    /// A parameter of `shape` drawn from U(±1/√fan_in).
    fn uniform<const D: usize>(&mut self, shape: [usize; D], fan_in: usize) -> Param<Tensor<B, D>> {
        let bound = 1.0 / (fan_in as f64).sqrt();
        let n = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|_| ((self.rng.next_f64() * 2.0 - 1.0) * bound) as f32)
            .collect();
        Param::from_data(TensorData::new(data, shape), self.device)
    }
}

impl<B: Backend> ParamVisitor<B> for FreshInit<'_, B> {
    fn tensor<const D: usize>(
        &mut self,
        _name: &str,
        _param: &mut Param<Tensor<B, D>>,
        _shape: [usize; D],
    ) -> Result<()> {
        Ok(())
    }

    fn transposed(
        &mut self,
        _name: &str,
        _param: &mut Param<Tensor<B, 2>>,
        _stored: [usize; 2],
    ) -> Result<()> {
        Ok(())
    }

    fn conv1d(&mut self, _path: &str, conv: &mut Conv1d<B>, weight: [usize; 3]) -> Result<()> {
        let fan_in = weight[1] * weight[2];
        conv.weight = self.uniform(weight, fan_in);
        conv.bias = Some(self.uniform([weight[0]], fan_in));
        Ok(())
    }

    fn linear(
        &mut self,
        _path: &str,
        linear: &mut Linear<B>,
        d_in: usize,
        d_out: usize,
    ) -> Result<()> {
        let normal: Vec<f32> = (0..d_in * d_out)
            .map(|_| (self.rng.next_normal() * 0.02) as f32)
            .collect();
        linear.weight = Param::from_data(TensorData::new(normal, [d_in, d_out]), self.device);
        linear.bias = Some(Param::from_tensor(Tensor::zeros([d_out], self.device)));
        Ok(())
    }
}

/// A small deterministic generator (SplitMix64), independent of the backend's global RNG.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        crate::fused::mix64(self.0)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn next_normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

fn repeats(config: &ReaderConfig) -> usize {
    if config.head() == HeadKind::Cnn && config.cnn_shared {
        config.cnn_blocks
    } else {
        1
    }
}
