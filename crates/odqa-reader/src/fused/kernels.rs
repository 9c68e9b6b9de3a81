//! The fused inference kernels on plain `f32` slices: attention with the key mask inside, exact
//! GELU with a vectorised erf. Each kernel runs compiled for the best instruction set of the CPU it
//! runs on (AVX-512, AVX2 + FMA, or scalar), chosen at run time with `pulp`, and in parallel on the
//! rayon pool over independent rows, so its results do not depend on the thread count.

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

use super::products::{head_offset, heads_to_rows, product};
use crate::precision::attention::HeadProducts;

/// Elements per parallel task of the elementwise kernels.
const ELEMENT_CHUNK: usize = 16 * 1024;

/// Shapes of one attention call: `q`, `k`, `v` and the output are `[batch, seq, hidden]`
/// row-major, head `h` being the columns `h·d..(h+1)·d` (d = hidden / heads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    /// Batch size.
    pub batch: usize,
    /// Sequence length (queries and keys).
    pub seq: usize,
    /// Hidden size (heads · head size).
    pub hidden: usize,
    /// Number of heads.
    pub heads: usize,
}

impl AttentionShape {
    /// Panics unless `hidden` splits into `heads`, each of `lens` is `batch · seq · hidden` and
    /// `mask_len` is `batch · seq`.
    pub fn check(self, lens: &[usize], mask_len: usize) {
        let AttentionShape {
            batch,
            seq,
            hidden,
            heads,
        } = self;
        assert!(
            heads > 0 && hidden % heads == 0,
            "hidden must split into heads"
        );
        assert!(lens.iter().all(|&n| n == batch * seq * hidden));
        assert_eq!(mask_len, batch * seq);
    }
}

/// `softmax(QKᵀ/√d + mask)·V` per batch row and head. `key_mask` is `[batch, seq]`, ≥ 0.5 for
/// keys that are attended to; masked keys get probability 0 (as with transformers' additive
/// `f32::MIN` mask). A row whose keys are all masked attends uniformly to every key (what the
/// additive mask gives when every score is `f32::MIN`).
///
/// With `bf16`, the two products per head run in bf16 on AMX tiles (f32 sums and softmax) where
/// the CPU has AMX-BF16, in f32 elsewhere.
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    key_mask: &[f32],
    shape: AttentionShape,
    bf16: bool,
) -> Vec<f32> {
    attention_on((Arch::new(), bf16), q, k, v, key_mask, shape)
}

/// [`attention`] with its softmax compiled for `arch` (tests run the narrower paths too), its
/// products on AMX tiles when `bf16` and the CPU has them.
fn attention_on(
    (arch, bf16): (Arch, bool),
    q: &[f32],
    k: &[f32],
    v: &[f32],
    key_mask: &[f32],
    shape: AttentionShape,
) -> Vec<f32> {
    let AttentionShape {
        batch,
        seq,
        hidden,
        heads,
    } = shape;
    shape.check(&[q.len(), k.len(), v.len()], key_mask.len());
    let d = hidden / heads;
    let mut by_head = vec![0f32; batch * seq * hidden];
    if by_head.is_empty() {
        return by_head;
    }
    let keys: Vec<Keys> = (0..batch)
        .into_par_iter()
        .map(|b| Keys::gather(k, v, &key_mask[b * seq..(b + 1) * seq], b, shape))
        .collect();
    let scale = 1.0 / (d as f32).sqrt();
    by_head
        .par_chunks_mut(seq * d)
        .enumerate()
        .for_each(|(task, out)| {
            let (b, h) = (task / heads, task % heads);
            let keys = &keys[b];
            let n = keys.n;
            let (k_head, v_head) = (keys.head(&keys.k, h, d), keys.head(&keys.v, h, d));
            let tiles = bf16.then(HeadProducts::new).flatten();
            // Scores of the attended keys (all 0 when every key is masked: uniform attention).
            let mut scores = vec![0f32; seq * n];
            if let (Some(tiles), false) = (&tiles, keys.uniform) {
                let q_rows = (&q[head_offset(shape, b, h)..], hidden, seq);
                tiles.scores(q_rows, (k_head, d), scale, &mut scores);
            } else if !keys.uniform {
                product(
                    [seq, n, d],
                    (&mut scores, n, 1),
                    (&q[head_offset(shape, b, h)..], hidden, 1),
                    (k_head, 1, d),
                    scale,
                );
            }
            let norms = arch.dispatch(RowSoftmax {
                rows: &mut scores,
                n,
            });
            if let Some(tiles) = &tiles {
                tiles.context((&scores, n), (v_head, d), &norms, out);
                return;
            }
            product(
                [seq, d, n],
                (out, d, 1),
                (&scores, n, 1),
                (v_head, d, 1),
                1.0,
            );
            for (row, norm) in out.chunks_exact_mut(d).zip(norms) {
                row.iter_mut().for_each(|x| *x *= norm);
            }
        });
    heads_to_rows(&by_head, shape)
}

/// The attended keys of one batch row: per head, K and V of the `n` attended keys, `[n, d]`.
struct Keys {
    /// Number of attended keys.
    n: usize,
    /// True when every key is masked: uniform attention over all keys.
    uniform: bool,
    /// Per head, `n · d` values.
    k: Vec<f32>,
    /// Per head, `n · d` values.
    v: Vec<f32>,
}

impl Keys {
    fn gather(k: &[f32], v: &[f32], mask: &[f32], b: usize, shape: AttentionShape) -> Keys {
        let AttentionShape {
            seq, hidden, heads, ..
        } = shape;
        let d = hidden / heads;
        let mut picked: Vec<usize> = (0..seq).filter(|&j| mask[j] >= 0.5).collect();
        let uniform = picked.is_empty();
        if uniform {
            picked = (0..seq).collect();
        }
        let n = picked.len();
        let mut ks = vec![0f32; heads * n * d];
        let mut vs = vec![0f32; heads * n * d];
        for (jj, &j) in picked.iter().enumerate() {
            let row = (b * seq + j) * hidden;
            for h in 0..heads {
                let to = (h * n + jj) * d..(h * n + jj + 1) * d;
                let from = row + h * d..row + (h + 1) * d;
                ks[to.clone()].copy_from_slice(&k[from.clone()]);
                vs[to].copy_from_slice(&v[from]);
            }
        }
        Keys {
            n,
            uniform,
            k: ks,
            v: vs,
        }
    }

    /// Head `h`'s `[n, d]` block of `values` (`self.k` or `self.v`).
    fn head<'a>(&self, values: &'a [f32], h: usize, d: usize) -> &'a [f32] {
        &values[h * self.n * d..(h + 1) * self.n * d]
    }
}

/// Each `n`-wide row of `rows` replaced by `exp(x − max)`; returns each row's `1 / Σ`.
struct RowSoftmax<'a> {
    rows: &'a mut [f32],
    n: usize,
}

impl WithSimd for RowSoftmax<'_> {
    type Output = Vec<f32>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> Vec<f32> {
        // A loop, not a closure: closures do not inherit the function's target features.
        let mut norms = Vec::with_capacity(self.rows.len() / self.n.max(1));
        for row in self.rows.chunks_exact_mut(self.n) {
            norms.push(1.0 / softmax_unnormalised(row));
        }
        norms
    }
}

/// Replaces `x` by `exp(x − max x)` and returns their sum.
#[inline(always)]
pub(super) fn softmax_unnormalised(x: &mut [f32]) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (m, &e) in lanes.iter_mut().zip(chunk) {
            *m = if e > *m { e } else { *m };
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, &e| if e > m { e } else { m });
    let mut sums = [0f32; LANES];
    let mut chunks = x.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (sum, e) in sums.iter_mut().zip(chunk.iter_mut()) {
            *e = exp(*e - max);
            *sum += *e;
        }
    }
    let mut total = 0.0;
    for e in chunks.into_remainder() {
        *e = exp(*e - max);
        total += *e;
    }
    sums.iter().sum::<f32>() + total
}

/// `e^x` for `f32`, branch-free (vectorises): Cephes' range reduction and polynomial, within
/// 2 ulp on [-87, 88]; inputs below −87.3 give ≈ 1e-38 instead of a smaller number.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    let x = x.clamp(-87.3, 88.3);
    // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits.
    const SHIFTER: f32 = 12_582_912.0;
    let shifted = x.mul_add(LOG2E, SHIFTER);
    let n = shifted - SHIFTER;
    let r = n.mul_add(-0.693_359_4, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let y = p.mul_add(r * r, r) + 1.0;
    let exponent = shifted
        .to_bits()
        .wrapping_sub(SHIFTER.to_bits())
        .wrapping_add(127);
    y * f32::from_bits(exponent << 23)
}

/// `erf(x)` for `f32`, branch-free (vectorises): a rational approximation on [-4, 4] (±1 past
/// it), within 1e-6 of the exact value.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p.mul_add(x2, 2.770_681_4e-8);
    p = p.mul_add(x2, -2.101_024e-6);
    p = p.mul_add(x2, -5.692_506_4e-5);
    p = p.mul_add(x2, -7.349_906_3e-4);
    p = p.mul_add(x2, -2.954_600_5e-3);
    p = p.mul_add(x2, -1.609_603_3e-2);
    let mut q = -1.456_607_2e-5_f32;
    q = q.mul_add(x2, -2.133_740_6e-4);
    q = q.mul_add(x2, -1.682_827e-3);
    q = q.mul_add(x2, -7.373_329e-3);
    q = q.mul_add(x2, -1.426_474e-2);
    x * p / q
}

/// Exact (erf) GELU in place: `x · ½ · (1 + erf(x / √2))`.
pub fn gelu_in_place(x: &mut [f32]) {
    x.par_chunks_mut(ELEMENT_CHUNK)
        .for_each(|chunk| Arch::new().dispatch(Gelu(chunk)));
}

struct Gelu<'a>(&'a mut [f32]);

impl WithSimd for Gelu<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        for x in self.0.iter_mut() {
            *x *= 0.5 * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// The gradient through exact GELU, in place of `grad`: `grad · (Φ(x) + x·φ(x))`.
pub fn gelu_backward_in_place(x: &[f32], grad: &mut [f32]) {
    assert_eq!(x.len(), grad.len());
    grad.par_chunks_mut(ELEMENT_CHUNK)
        .zip(x.par_chunks(ELEMENT_CHUNK))
        .for_each(|(grad, x)| Arch::new().dispatch(GeluBackward { x, grad }));
}

struct GeluBackward<'a> {
    x: &'a [f32],
    grad: &'a mut [f32],
}

impl WithSimd for GeluBackward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        // 1/√(2π)
        const PDF_NORM: f32 = 0.398_942_3;
        for (g, &x) in self.grad.iter_mut().zip(self.x) {
            let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
            let pdf = PDF_NORM * exp(-0.5 * x * x);
            *g *= x.mul_add(pdf, cdf);
        }
    }
}

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod tests;
