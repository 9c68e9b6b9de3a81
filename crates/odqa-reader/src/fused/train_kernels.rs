//! The fused training kernels on `f32` slices: attention with dropout on its probabilities
//! (forward, keeping the probabilities, and backward) and dropout. Dropout decisions are a
//! counter-based hash of (seed, element index), so a backward pass regenerates its forward's mask
//! instead of storing it, and no decision depends on the thread count. Attention runs one rayon
//! task per (batch row, head), its products through `gemm` on that task's thread
//! (`fused/products.rs`).

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

use super::kernels::{softmax_unnormalised, AttentionShape};
use super::products::{head_offset, heads_to_rows, product};
use super::{lowbias32, DropoutDraw};

/// Elements per parallel task of the dropout kernel.
const ELEMENT_CHUNK: usize = 16 * 1024;

/// Attention as in training: `(softmax(QKᵀ/√d + mask) ∘ keep)·V` per batch row and head, `keep`
/// being `dropout`'s mask of the probabilities (element `((b·heads + h)·seq + i)·seq + j`).
/// Shapes and masking as [`super::kernels::attention`]. Returns the output `[batch, seq, hidden]`
/// and the probabilities before dropout `[batch, heads, seq, seq]` (for the backward pass).
pub fn attention_train(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    key_mask: &[f32],
    shape: AttentionShape,
    dropout: DropoutDraw,
) -> (Vec<f32>, Vec<f32>) {
    shape.check(&[q.len(), k.len(), v.len()], key_mask.len());
    let AttentionShape {
        batch,
        seq,
        hidden,
        heads,
    } = shape;
    let d = hidden / heads;
    let mut probs = vec![0f32; batch * heads * seq * seq];
    let mut out_by_head = vec![0f32; batch * seq * hidden];
    if probs.is_empty() {
        return (out_by_head, probs);
    }
    let scale = 1.0 / (d as f32).sqrt();
    let arch = Arch::new();
    probs
        .par_chunks_mut(seq * seq)
        .zip(out_by_head.par_chunks_mut(seq * d))
        .enumerate()
        .for_each(|(task, (p, out))| {
            let (b, h) = (task / heads, task % heads);
            let base = head_offset(shape, b, h);
            // Scores Q·Kᵀ/√d of this head (Q, K, V: seq × d at row stride `hidden`).
            product(
                [seq, seq, d],
                (p, seq, 1),
                (&q[base..], hidden, 1),
                (&k[base..], 1, hidden),
                scale,
            );
            arch.dispatch(MaskedSoftmax {
                rows: p,
                key_mask: &key_mask[b * seq..(b + 1) * seq],
            });
            let dropped = dropped_probabilities(p, dropout, task);
            let dropped = dropped.as_deref().unwrap_or(p);
            product(
                [seq, d, seq],
                (out, d, 1),
                (dropped, seq, 1),
                (&v[base..], hidden, 1),
                1.0,
            );
        });
    (heads_to_rows(&out_by_head, shape), probs)
}

/// The gradients `[dq, dk, dv]` of [`attention_train`] (same shapes, same `dropout`) from the
/// output's gradient `grad` and the probabilities it returned.
pub fn attention_train_backward(
    grad: &[f32],
    [q, k, v]: [&[f32]; 3],
    probs: &[f32],
    shape: AttentionShape,
    dropout: DropoutDraw,
) -> [Vec<f32>; 3] {
    let AttentionShape {
        batch,
        seq,
        hidden,
        heads,
    } = shape;
    shape.check(&[grad.len(), q.len(), k.len(), v.len()], batch * seq);
    assert_eq!(probs.len(), batch * heads * seq * seq);
    let d = hidden / heads;
    // dQ, dK, dV by head, `[batch, heads, seq, d]`: one `seq × d` block per task.
    let [mut dq_heads, mut dk_heads, mut dv_heads] = [(); 3].map(|_| vec![0f32; q.len()]);
    if probs.is_empty() {
        return [dq_heads, dk_heads, dv_heads];
    }
    let scale = 1.0 / (d as f32).sqrt();
    let arch = Arch::new();
    dq_heads
        .par_chunks_mut(seq * d)
        .zip(dk_heads.par_chunks_mut(seq * d))
        .zip(dv_heads.par_chunks_mut(seq * d))
        .enumerate()
        .for_each(|(task, ((dq, dk), dv))| {
            let (b, h) = (task / heads, task % heads);
            let base = head_offset(shape, b, h);
            let p = &probs[task * seq * seq..(task + 1) * seq * seq];
            let keep = keep_scales(dropout, task, seq);
            let dropped: Vec<f32>;
            let dropped = match &keep {
                Some(keep) => {
                    dropped = p.iter().zip(keep).map(|(&p, &s)| p * s).collect();
                    &dropped[..]
                }
                None => p,
            };
            let grad = &grad[base..];
            // dV = dropped(P)ᵀ · dO; d dropped(P) = dO · Vᵀ.
            product(
                [seq, d, seq],
                (dv, d, 1),
                (dropped, 1, seq),
                (grad, hidden, 1),
                1.0,
            );
            let mut d_scores = vec![0f32; seq * seq];
            product(
                [seq, seq, d],
                (&mut d_scores, seq, 1),
                (grad, hidden, 1),
                (&v[base..], 1, hidden),
                1.0,
            );
            arch.dispatch(SoftmaxBackward {
                seq,
                probs: p,
                dropped,
                keep: keep.as_deref(),
                grads: &mut d_scores,
                scale,
            });
            // dQ = dS · K; dK = dSᵀ · Q.
            product(
                [seq, d, seq],
                (dq, d, 1),
                (&d_scores, seq, 1),
                (&k[base..], hidden, 1),
                1.0,
            );
            product(
                [seq, d, seq],
                (dk, d, 1),
                (&d_scores, 1, seq),
                (&q[base..], hidden, 1),
                1.0,
            );
        });
    [dq_heads, dk_heads, dv_heads].map(|by_head| heads_to_rows(&by_head, shape))
}

/// Per element of attention task `task`'s `seq × seq` probabilities, `1/(1 − p)` if kept and 0
/// if dropped; none without dropout.
fn keep_scales(dropout: DropoutDraw, task: usize, seq: usize) -> Option<Vec<f32>> {
    if dropout.prob <= 0.0 {
        return None;
    }
    let mut keep = vec![1f32; seq * seq];
    Arch::new().dispatch(ScaleKept {
        values: &mut keep,
        first: (task * seq * seq) as u64,
        dropout,
    });
    Some(keep)
}

/// Attention task `task`'s probabilities `p` after dropout; none without dropout.
fn dropped_probabilities(p: &[f32], dropout: DropoutDraw, task: usize) -> Option<Vec<f32>> {
    if dropout.prob <= 0.0 {
        return None;
    }
    let mut dropped = p.to_vec();
    Arch::new().dispatch(ScaleKept {
        values: &mut dropped,
        first: (task * p.len()) as u64,
        dropout,
    });
    Some(dropped)
}

/// `values[t]` (the element of index `first + t`) scaled by `1/(1 − p)` when `dropout` keeps
/// it, 0 otherwise: [`DropoutDraw::keeps`] a block at a time, so the per-element hash vectorises.
struct ScaleKept<'a> {
    values: &'a mut [f32],
    first: u64,
    dropout: DropoutDraw,
}

impl WithSimd for ScaleKept<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let ScaleKept {
            mut values,
            first,
            dropout,
        } = self;
        let (scale, threshold) = (dropout.scale(), dropout.threshold());
        let mut index = first;
        while !values.is_empty() {
            let lane0 = index % DropoutDraw::BLOCK;
            let run = ((DropoutDraw::BLOCK - lane0) as usize).min(values.len());
            let (here, rest) = values.split_at_mut(run);
            let key = dropout.block_key(index / DropoutDraw::BLOCK);
            for (t, x) in here.iter_mut().enumerate() {
                let lane = lane0 as u32 + t as u32;
                let kept = lowbias32(key ^ lane.wrapping_mul(0x9E37_79B9)) >= threshold;
                *x = if kept { *x * scale } else { 0.0 };
            }
            index += run as u64;
            values = rest;
        }
    }
}

/// Each row of `rows` (scores of one head, `seq` keys) replaced by its softmax over the attended
/// keys; masked keys get 0; with every key masked, every key gets `1/seq`.
struct MaskedSoftmax<'a> {
    rows: &'a mut [f32],
    key_mask: &'a [f32],
}

impl WithSimd for MaskedSoftmax<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let MaskedSoftmax { rows, key_mask } = self;
        let seq = key_mask.len();
        let uniform = key_mask.iter().all(|&m| m < 0.5);
        for row in rows.chunks_exact_mut(seq) {
            if uniform {
                row.fill(1.0 / seq as f32);
                continue;
            }
            for (x, &m) in row.iter_mut().zip(key_mask) {
                if m < 0.5 {
                    *x = f32::NEG_INFINITY;
                }
            }
            let norm = 1.0 / softmax_unnormalised(row);
            for (x, &m) in row.iter_mut().zip(key_mask) {
                *x = if m < 0.5 { 0.0 } else { *x * norm };
            }
        }
    }
}

/// The scores' gradient from the dropped probabilities' gradient `grads` (replaced in place):
/// `dS = P ∘ (dP − Σ_j P·dP) · scale`, with `dP = grads ∘ keep`.
struct SoftmaxBackward<'a> {
    /// Keys per row.
    seq: usize,
    probs: &'a [f32],
    dropped: &'a [f32],
    keep: Option<&'a [f32]>,
    grads: &'a mut [f32],
    scale: f32,
}

impl WithSimd for SoftmaxBackward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let seq = self.seq;
        for (i, g) in self.grads.chunks_exact_mut(seq).enumerate() {
            let row = i * seq..(i + 1) * seq;
            let (p, dropped) = (&self.probs[row.clone()], &self.dropped[row.clone()]);
            // Σ_j P·dP = Σ_j dropped(P)·d dropped(P).
            let delta = dot(dropped, g);
            match self.keep.map(|keep| &keep[row]) {
                Some(keep) => {
                    for ((g, &p), &s) in g.iter_mut().zip(p).zip(keep) {
                        *g = p * (*g * s - delta) * self.scale;
                    }
                }
                None => {
                    for (g, &p) in g.iter_mut().zip(p) {
                        *g = p * (*g - delta) * self.scale;
                    }
                }
            }
        }
    }
}

/// `Σ a·b` in 16 interleaved partial sums (vectorises).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut sums = [0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for t in 0..LANES {
            sums[t] = x[t].mul_add(y[t], sums[t]);
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// Dropout in place: element `i` of `x` becomes `x[i] / (1 − p)` if `dropout` keeps index `i`,
/// 0 otherwise. The same call on a gradient is dropout's backward pass.
pub fn dropout_in_place(x: &mut [f32], dropout: DropoutDraw) {
    if dropout.prob <= 0.0 {
        return;
    }
    let arch = Arch::new();
    x.par_chunks_mut(ELEMENT_CHUNK)
        .enumerate()
        .for_each(|(chunk, values)| {
            arch.dispatch(ScaleKept {
                values,
                first: (chunk * ELEMENT_CHUNK) as u64,
                dropout,
            });
        });
}
