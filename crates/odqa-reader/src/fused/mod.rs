//! Fused kernels as a burn backend extension.
//!
//! [`ReaderBackend`] adds the reader's fused operations to a burn [`Backend`]. Every method has a
//! default implementation made of burn's own operations ([`composite`]), so any backend works:
//! the CUDA backend uses these defaults. The CPU backend ([`burn::backend::Flex`]) overrides them
//! with the kernels of [`kernels`] and [`train_kernels`] (for a dtype other than f32 it falls back
//! to the composite operations): attention with the key mask inside (parallel over batch rows,
//! query rows and heads, vectorised softmax, written straight into `[batch, seq, hidden]`), the
//! same with dropout on its probabilities and its backward pass for training, exact GELU with a
//! vectorised erf, and dropout whose mask is a counter-based hash of a seed.
//!
//! Under `Autodiff<B>` training attention, GELU and dropout are each one tracked operation whose
//! forward and backward are `B`'s fused operations.

mod autodiff;
pub mod composite;
mod flex;
pub mod kernels;
pub mod norm_kernels;
mod products;
pub mod train_kernels;

use burn::prelude::*;
use burn::tensor::ops::FloatTensor;
use burn::tensor::TensorPrimitive;

/// One dropout: the probability of dropping an element and the seed of the mask. The CPU kernels
/// derive the mask from the seed (element `i` is kept when a hash of (seed, `i`) says so), so a
/// backward pass regenerates it; the composite defaults draw an explicit mask instead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropoutDraw {
    /// Probability of dropping each element, in `[0, 1]`.
    pub prob: f32,
    /// Seed of the mask.
    pub seed: u64,
}

impl DropoutDraw {
    /// The factor of kept elements: `1/(1 − p)` (0 when everything is dropped).
    pub fn scale(self) -> f32 {
        if self.prob < 1.0 {
            1.0 / (1.0 - self.prob)
        } else {
            0.0
        }
    }

    /// Whether element `index` is kept. Indices come in blocks of [`Self::BLOCK`]: each block
    /// has a 32-bit key (splitmix64 of the seed and the block number), and element `t` of a block
    /// is kept when `lowbias32(key ^ t·φ)` is at or above `p · 2³²` (one 32-bit hash per element,
    /// which vectorises).
    #[inline(always)]
    pub fn keeps(self, index: u64) -> bool {
        let key = self.block_key(index / Self::BLOCK);
        let lane = (index % Self::BLOCK) as u32;
        lowbias32(key ^ lane.wrapping_mul(0x9E37_79B9)) >= self.threshold()
    }

    /// Elements per block of [`Self::keeps`].
    pub const BLOCK: u64 = 1024;

    /// The key of block `block`.
    #[inline(always)]
    pub fn block_key(self, block: u64) -> u32 {
        let z = mix64(
            self.seed
                .wrapping_add(block.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        (z ^ (z >> 32)) as u32
    }

    /// Hashes below this are dropped: `p · 2³²`, saturating (for p = 1 the scale is 0 anyway).
    #[inline(always)]
    pub fn threshold(self) -> u32 {
        (f64::from(self.prob) * 4_294_967_296.0).min(f64::from(u32::MAX)) as u32
    }
}

/// Chris Wellons' `lowbias32` integer hash: a bijection of `u32` with strong avalanche.
#[inline(always)]
pub fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// splitmix64's output function: a bijection of `u64` whose every output bit depends on every
/// input bit.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What training attention keeps for its backward pass.
#[derive(Debug, Clone)]
pub struct AttentionSaved<B: Backend> {
    /// The probabilities before dropout, `[batch, heads, seq, seq]`.
    pub probs: FloatTensor<B>,
    /// The explicit dropout mask of the probabilities (`1/(1 − p)` or 0), when the forward pass
    /// drew one (the composite default); none when the mask comes from the draw's seed or there is
    /// no dropout.
    pub keep: Option<FloatTensor<B>>,
}

/// A burn backend with the reader's fused operations (see the module documentation).
pub trait ReaderBackend: Backend {
    /// `softmax(QKᵀ/√d + mask)·V` with `q`, `k`, `v` `[batch, seq, hidden]` (head `h` = columns
    /// `h·d..(h+1)·d`), `key_mask` `[batch, seq]` (1 = attend, 0 = padding); returns
    /// `[batch, seq, hidden]`. Masked keys get probability 0 (transformers' additive `f32::MIN`
    /// mask; a row whose keys are all masked attends uniformly to all of them).
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_mask: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        composite::attention::<Self>(q, k, v, key_mask, heads)
    }

    /// [`Self::fused_attention`] with `dropout` on the probabilities, as in training. Returns the
    /// output and what [`Self::fused_attention_train_backward`] needs.
    fn fused_attention_train(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_mask: FloatTensor<Self>,
        heads: usize,
        dropout: DropoutDraw,
    ) -> (FloatTensor<Self>, AttentionSaved<Self>) {
        composite::attention_train_drawn::<Self>(q, k, v, key_mask, heads, dropout)
    }

    /// The gradients `[dq, dk, dv]` of [`Self::fused_attention_train`] (same `heads` and
    /// `dropout`) from the output's gradient `grad`.
    fn fused_attention_train_backward(
        grad: FloatTensor<Self>,
        qkv: [FloatTensor<Self>; 3],
        saved: AttentionSaved<Self>,
        heads: usize,
        dropout: DropoutDraw,
    ) -> [FloatTensor<Self>; 3] {
        let _ = dropout;
        composite::attention_train_backward::<Self>(grad, qkv, saved.probs, saved.keep, heads)
    }

    /// Dropout: returns `x` with each element dropped (0) with probability `p` or scaled by
    /// `1/(1 − p)`, and the explicit mask when one was drawn (the composite default).
    fn fused_dropout(
        x: FloatTensor<Self>,
        dropout: DropoutDraw,
    ) -> (FloatTensor<Self>, Option<FloatTensor<Self>>) {
        composite::dropout::<Self>(x, dropout)
    }

    /// The gradient through [`Self::fused_dropout`] (same `dropout`, its mask if it returned one).
    fn fused_dropout_backward(
        grad: FloatTensor<Self>,
        dropout: DropoutDraw,
        keep: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        let _ = dropout;
        match keep {
            Some(keep) => Self::float_mul(grad, keep),
            None => grad,
        }
    }

    /// LayerNorm over the last dimension, `(x − mean)/√(var + eps) · γ + β`: burn's `layer_norm`
    /// (one kernel on the CPU backend).
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        Self::layer_norm(x, gamma, Some(beta), eps)
    }

    /// The gradients `[dx, dγ, dβ]` of [`Self::fused_layer_norm`] at `x` from the output's
    /// gradient `grad`.
    fn fused_layer_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f64,
    ) -> [FloatTensor<Self>; 3] {
        composite::layer_norm_backward::<Self>(x, gamma, grad, eps)
    }

    /// Exact (erf) GELU.
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu(x)
    }

    /// The gradient through exact GELU at `x`: `grad · (Φ(x) + x·φ(x))`.
    fn fused_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu_backward(x, grad)
    }
}

#[cfg(feature = "cuda")]
impl ReaderBackend for burn::backend::Cuda {}

/// Attention through the backend's fused operation, on tensors.
pub fn attention<B: ReaderBackend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    key_mask: Tensor<B, 2>,
    heads: usize,
) -> Tensor<B, 3> {
    Tensor::from_primitive(TensorPrimitive::Float(B::fused_attention(
        q.into_primitive().tensor(),
        k.into_primitive().tensor(),
        v.into_primitive().tensor(),
        key_mask.into_primitive().tensor(),
        heads,
    )))
}

/// Training attention (dropout on the probabilities) through the backend's fused operation.
pub fn attention_train<B: ReaderBackend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    key_mask: Tensor<B, 2>,
    heads: usize,
    dropout: DropoutDraw,
) -> Tensor<B, 3> {
    let (out, _) = B::fused_attention_train(
        q.into_primitive().tensor(),
        k.into_primitive().tensor(),
        v.into_primitive().tensor(),
        key_mask.into_primitive().tensor(),
        heads,
        dropout,
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// Dropout through the backend's fused operation, on a tensor of any rank.
pub fn dropout<B: ReaderBackend, const D: usize>(
    x: Tensor<B, D>,
    dropout: DropoutDraw,
) -> Tensor<B, D> {
    let (out, _) = B::fused_dropout(x.into_primitive().tensor(), dropout);
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// `norm` (epsilon `eps`) through the backend's fused LayerNorm, on a tensor of any rank; burn's
/// own LayerNorm when `norm` has no bias.
pub fn layer_norm<B: ReaderBackend, const D: usize>(
    norm: &burn::nn::LayerNorm<B>,
    eps: f64,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    let Some(beta) = &norm.beta else {
        return norm.forward(x);
    };
    Tensor::from_primitive(TensorPrimitive::Float(B::fused_layer_norm(
        x.into_primitive().tensor(),
        norm.gamma.val().into_primitive().tensor(),
        beta.val().into_primitive().tensor(),
        eps,
    )))
}

/// GELU through the backend's fused operation, on a tensor of any rank.
pub fn fused_gelu<B: ReaderBackend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(B::fused_gelu(
        x.into_primitive().tensor(),
    )))
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::activation::gelu;
    use burn::tensor::Distribution;

    use super::*;

    fn max_abs_diff<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
        (a - b).abs().max().into_scalar().elem::<f32>()
    }

    #[test]
    fn fused_attention_matches_the_composite_one_with_masks() {
        let device = Default::default();
        let [b, l, hidden, heads] = [3, 29, 48, 4];
        let random =
            || Tensor::<Flex, 3>::random([b, l, hidden], Distribution::Normal(0.0, 1.0), &device);
        let (q, k, v) = (random(), random(), random());
        // Row 0: a padded tail; row 1: every key masked; row 2: a hole.
        let mut mask = vec![1f32; b * l];
        mask[20..l].fill(0.0);
        mask[l..2 * l].fill(0.0);
        mask[2 * l + 3] = 0.0;
        let mask = Tensor::<Flex, 2>::from_data(TensorData::new(mask, [b, l]), &device);
        let fused = attention(q.clone(), k.clone(), v.clone(), mask.clone(), heads);
        let composite = Tensor::<Flex, 3>::from_primitive(TensorPrimitive::Float(
            composite::attention::<Flex>(
                q.into_primitive().tensor(),
                k.into_primitive().tensor(),
                v.into_primitive().tensor(),
                mask.into_primitive().tensor(),
                heads,
            ),
        ));
        let diff = max_abs_diff(fused, composite);
        assert!(diff < 1e-5, "max |Δ| {diff}");
    }

    #[test]
    fn fused_gelu_values_and_gradients_match_burns_gelu() {
        type A = Autodiff<Flex>;
        let device = Default::default();
        let x = Tensor::<A, 2>::random([37, 53], Distribution::Normal(0.0, 2.0), &device);
        let upstream = Tensor::<A, 2>::random([37, 53], Distribution::Normal(0.0, 1.0), &device);
        let grad_of = |fused: bool| {
            let x = x.clone().detach().require_grad();
            let y = if fused {
                fused_gelu(x.clone())
            } else {
                gelu(x.clone())
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            (y.inner(), x.grad(&grads).expect("x has a gradient"))
        };
        let ((y_fused, g_fused), (y_burn, g_burn)) = (grad_of(true), grad_of(false));
        let dy = max_abs_diff(y_fused, y_burn);
        let dg = max_abs_diff(g_fused, g_burn);
        assert!(dy < 1e-5 && dg < 1e-5, "values Δ {dy}, gradients Δ {dg}");
    }
}

#[cfg(test)]
#[path = "train_tests.rs"]
mod train_tests;
