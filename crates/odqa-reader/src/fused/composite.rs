//! The default implementations of [`super::ReaderBackend`]: burn's own operations, as
//! transformers computes them. Any backend runs them (CUDA does); the CPU kernels are tested
//! against them.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::ops::FloatTensor;
use burn::tensor::TensorMetadata;
use burn::tensor::{Distribution, TensorPrimitive};

use super::{AttentionSaved, DropoutDraw};

fn float<B: Backend, const D: usize>(t: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

fn primitive<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// `[batch, seq, hidden]` → `[batch, heads, seq, d]`.
fn split<B: Backend>(t: Tensor<B, 3>, heads: usize) -> Tensor<B, 4> {
    let [b, l, hidden] = t.dims();
    t.reshape([b, l, heads, hidden / heads]).swap_dims(1, 2)
}

/// `[batch, heads, seq, d]` → `[batch, seq, hidden]`.
fn merge<B: Backend>(t: Tensor<B, 4>) -> Tensor<B, 3> {
    let [b, heads, l, d] = t.dims();
    t.swap_dims(1, 2).reshape([b, l, heads * d])
}

/// The attention probabilities `softmax(QKᵀ/√d + (1 − mask)·f32::MIN)`, `[batch, heads, seq, seq]`.
fn probabilities<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    key_mask: Tensor<B, 2>,
    heads: usize,
) -> Tensor<B, 4> {
    let [b, l, hidden] = q.dims();
    let d = hidden / heads;
    let additive = key_mask
        .neg()
        .add_scalar(1.0)
        .mul_scalar(f32::MIN)
        .reshape([b, 1, 1, l]);
    let scores = split(q, heads)
        .matmul(split(k, heads).swap_dims(2, 3))
        .div_scalar((d as f64).sqrt())
        + additive;
    softmax(scores, 3)
}

/// [`super::ReaderBackend::fused_attention`]: the explicit
/// `softmax(QKᵀ/√d + (1 − mask)·f32::MIN)·V`.
pub fn attention<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    key_mask: FloatTensor<B>,
    heads: usize,
) -> FloatTensor<B> {
    let probs = probabilities::<B>(float(q), float(k), float(key_mask), heads);
    primitive(merge(probs.matmul(split(float(v), heads))))
}

/// A dropout mask of `shape`: `1/(1 − p)` where kept, 0 where dropped, drawn from the backend's
/// random generator (not from the draw's seed).
pub fn dropout_keep<B: Backend, const D: usize>(
    shape: [usize; D],
    dropout: DropoutDraw,
    device: &B::Device,
) -> Tensor<B, D> {
    let keep_prob = 1.0 - f64::from(dropout.prob);
    Tensor::<B, D>::random(shape, Distribution::Bernoulli(keep_prob), device)
        .mul_scalar(dropout.scale())
}

/// Attention as in training: `(softmax(QKᵀ/√d + mask) ∘ keep)·V`, `keep` being the dropout
/// mask of the probabilities (`1/(1 − p)` or 0; none without dropout). Returns the output
/// `[batch, seq, hidden]` and the probabilities before dropout `[batch, heads, seq, seq]`.
pub fn attention_train<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    key_mask: FloatTensor<B>,
    heads: usize,
    keep: Option<FloatTensor<B>>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let probs = probabilities::<B>(float(q), float(k), float(key_mask), heads);
    let dropped = match keep {
        Some(keep) => probs.clone() * float::<B, 4>(keep),
        None => probs.clone(),
    };
    let out = merge(dropped.matmul(split(float(v), heads)));
    (primitive(out), primitive(probs))
}

/// The gradients `[dq, dk, dv]` of [`attention_train`] from the output's gradient `grad`, the
/// probabilities it returned and the same `keep` mask.
pub fn attention_train_backward<B: Backend>(
    grad: FloatTensor<B>,
    [q, k, v]: [FloatTensor<B>; 3],
    probs: FloatTensor<B>,
    keep: Option<FloatTensor<B>>,
    heads: usize,
) -> [FloatTensor<B>; 3] {
    let (q, k, v) = (float(q), float(k), float(v));
    let [_, _, hidden] = q.dims();
    let scale = 1.0 / ((hidden / heads) as f64).sqrt();
    let probs: Tensor<B, 4> = float(probs);
    let keep: Option<Tensor<B, 4>> = keep.map(float);
    let grad_out = split(float(grad), heads);
    let dropped = match &keep {
        Some(keep) => probs.clone() * keep.clone(),
        None => probs.clone(),
    };
    let dv = dropped.swap_dims(2, 3).matmul(grad_out.clone());
    let d_dropped = grad_out.matmul(split(v, heads).swap_dims(2, 3));
    let d_probs = match keep {
        Some(keep) => d_dropped * keep,
        None => d_dropped,
    };
    let delta = (probs.clone() * d_probs.clone()).sum_dim(3);
    let d_scores = (probs * (d_probs - delta)).mul_scalar(scale);
    let dq = d_scores.clone().matmul(split(k, heads));
    let dk = d_scores.swap_dims(2, 3).matmul(split(q, heads));
    [dq, dk, dv].map(|g| primitive(merge(g)))
}

/// [`super::ReaderBackend::fused_attention_train`]: [`attention_train`] with a mask drawn by
/// [`dropout_keep`] (none without dropout), kept for the backward pass.
pub fn attention_train_drawn<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    key_mask: FloatTensor<B>,
    heads: usize,
    dropout: DropoutDraw,
) -> (FloatTensor<B>, AttentionSaved<B>) {
    let keep = (dropout.prob > 0.0).then(|| {
        let [b, l, _] = q.shape().dims();
        let device = B::float_device(&q);
        primitive(dropout_keep::<B, 4>([b, heads, l, l], dropout, &device))
    });
    let (out, probs) = attention_train::<B>(q, k, v, key_mask, heads, keep.clone());
    (out, AttentionSaved { probs, keep })
}

/// [`super::ReaderBackend::fused_dropout`]: `x ∘ keep` with `keep` drawn by [`dropout_keep`];
/// returns the mask too.
pub fn dropout<B: Backend>(
    x: FloatTensor<B>,
    dropout: DropoutDraw,
) -> (FloatTensor<B>, Option<FloatTensor<B>>) {
    let shape = x.shape();
    let device = B::float_device(&x);
    let flat = dropout_keep::<B, 1>([shape.num_elements()], dropout, &device);
    let keep = B::float_reshape(primitive(flat), shape);
    (B::float_mul(x, keep.clone()), Some(keep))
}

/// [`super::ReaderBackend::fused_layer_norm_backward`]: LayerNorm's gradients from its input `x`
/// (rows of `d = γ.len()` values), `γ` and the output's gradient.
pub fn layer_norm_backward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    grad: FloatTensor<B>,
    eps: f64,
) -> [FloatTensor<B>; 3] {
    let shape = x.shape();
    let d = gamma.shape().num_elements();
    let rows = shape.num_elements() / d.max(1);
    let as_rows = |t: FloatTensor<B>| float::<B, 2>(B::float_reshape(t, [rows, d].into()));
    let (x, dy) = (as_rows(x), as_rows(grad));
    let gamma = float::<B, 1>(gamma).unsqueeze::<2>();
    let centered = x.clone() - x.mean_dim(1);
    let rstd = (centered.clone() * centered.clone())
        .mean_dim(1)
        .add_scalar(eps)
        .sqrt()
        .recip();
    let xhat = centered * rstd.clone();
    let g = dy.clone() * gamma;
    let g_mean = g.clone().mean_dim(1);
    let gx_mean = (g.clone() * xhat.clone()).mean_dim(1);
    let dx = (g - g_mean - xhat.clone() * gx_mean) * rstd;
    let d_gamma = (dy.clone() * xhat).sum_dim(0).reshape([d]);
    let d_beta = dy.sum_dim(0).reshape([d]);
    [
        B::float_reshape(primitive(dx), shape),
        primitive(d_gamma),
        primitive(d_beta),
    ]
}
