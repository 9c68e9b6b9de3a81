//! The fused inference kernels on plain `f32` slices: attention with the key mask inside, exact
//! GELU with a vectorised erf. Each kernel runs compiled for the best instruction set of the CPU it
//! runs on (AVX-512, AVX2 + FMA, or scalar), chosen at run time with `pulp`, and in parallel on the
//! rayon pool over independent rows, so its results do not depend on the thread count.

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

/// Keys are padded to a multiple of this many: the narrow block of scores kept in registers
/// (8 AVX2 registers); with 16-lane SIMD (AVX-512) blocks of twice as many are used first.
const KEY_BLOCK: usize = 64;
/// Query rows per parallel attention task.
const QUERY_ROWS: usize = 16;
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

/// `softmax(QKᵀ/√d + mask)·V` per batch row and head. `key_mask` is `[batch, seq]`, ≥ 0.5 for
/// keys that are attended to; masked keys get probability 0 (as with transformers' additive
/// `f32::MIN` mask). A row whose keys are all masked attends uniformly to every key (what the
/// additive mask gives when every score is `f32::MIN`).
pub fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    key_mask: &[f32],
    shape: AttentionShape,
) -> Vec<f32> {
    attention_on(Arch::new(), q, k, v, key_mask, shape)
}

/// [`attention`] compiled for `arch` (tests run the narrower paths too).
fn attention_on(
    arch: Arch,
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
    assert!(
        heads > 0 && hidden % heads == 0,
        "hidden must split into heads"
    );
    let n_elements = batch * seq * hidden;
    assert!(q.len() == n_elements && k.len() == n_elements && v.len() == n_elements);
    assert_eq!(key_mask.len(), batch * seq);
    let mut out = vec![0f32; n_elements];
    if n_elements == 0 {
        return out;
    }
    let keys: Vec<Keys> = (0..batch)
        .into_par_iter()
        .map(|b| Keys::gather(k, v, &key_mask[b * seq..(b + 1) * seq], b, shape))
        .collect();
    let scale = 1.0 / ((hidden / heads) as f32).sqrt();
    out.par_chunks_mut(QUERY_ROWS * hidden)
        .enumerate()
        .for_each(|(chunk, out_rows)| {
            let first_row = chunk * QUERY_ROWS;
            // A chunk never spans two batch rows when seq is a multiple of QUERY_ROWS; otherwise
            // it is split at the boundary below.
            let mut row = first_row;
            let mut out_rows = out_rows;
            while !out_rows.is_empty() {
                let b = row / seq;
                let rows_here = (seq - row % seq).min(out_rows.len() / hidden);
                let (here, rest) = out_rows.split_at_mut(rows_here * hidden);
                let queries = &q[row * hidden..(row + rows_here) * hidden];
                arch.dispatch(AttendRows {
                    queries,
                    keys: &keys[b],
                    out: here,
                    hidden,
                    heads,
                    scale,
                });
                row += rows_here;
                out_rows = rest;
            }
        });
    out
}

/// The attended keys of one batch row: per head, Kᵀ `[d, n_pad]` (zero past `n`) and V `[n, d]`.
struct Keys {
    /// Number of attended keys.
    n: usize,
    /// `n` rounded up to a multiple of [`KEY_BLOCK`].
    n_pad: usize,
    /// True when every key is masked: uniform attention over all keys.
    uniform: bool,
    /// Per head, `d · n_pad` values.
    kt: Vec<f32>,
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
        let n_pad = n.div_ceil(KEY_BLOCK) * KEY_BLOCK;
        let mut kt = vec![0f32; heads * d * n_pad];
        let mut vs = vec![0f32; heads * n * d];
        for (jj, &j) in picked.iter().enumerate() {
            let row = (b * seq + j) * hidden;
            for h in 0..heads {
                for c in 0..d {
                    kt[(h * d + c) * n_pad + jj] = k[row + h * d + c];
                }
                vs[(h * n + jj) * d..(h * n + jj + 1) * d]
                    .copy_from_slice(&v[row + h * d..row + (h + 1) * d]);
            }
        }
        Keys {
            n,
            n_pad,
            uniform,
            kt,
            v: vs,
        }
    }
}

/// Attention for a run of query rows of one batch row, all heads.
struct AttendRows<'a> {
    queries: &'a [f32],
    keys: &'a Keys,
    out: &'a mut [f32],
    hidden: usize,
    heads: usize,
    scale: f32,
}

impl WithSimd for AttendRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        // Enough independent accumulators to hide the FMA latency: 8 registers' worth.
        let wide = S::F32_LANES >= 16;
        let AttendRows {
            queries,
            keys,
            out,
            hidden,
            heads,
            scale,
        } = self;
        let d = hidden / heads;
        let (n, n_pad) = (keys.n, keys.n_pad);
        let mut scores = vec![0f32; n_pad];
        let mut query = vec![0f32; d];
        for (q_row, out_row) in queries
            .chunks_exact(hidden)
            .zip(out.chunks_exact_mut(hidden))
        {
            for h in 0..heads {
                let kt = &keys.kt[h * d * n_pad..(h + 1) * d * n_pad];
                let v = &keys.v[h * n * d..(h + 1) * n * d];
                for (x, &y) in query.iter_mut().zip(&q_row[h * d..(h + 1) * d]) {
                    *x = y * scale;
                }
                if keys.uniform {
                    scores.fill(0.0);
                } else {
                    key_scores(&query, kt, n_pad, &mut scores, wide);
                }
                let total = softmax_unnormalised(&mut scores[..n]);
                let out = &mut out_row[h * d..(h + 1) * d];
                if wide {
                    weighted_sum::<4>(&scores[..n], v, d, 1.0 / total, out);
                } else {
                    weighted_sum::<2>(&scores[..n], v, d, 1.0 / total, out);
                }
            }
        }
    }
}

/// `scores[j] = Σ_c query[c] · kt[c, j]` for `j < n_pad` (a multiple of [`KEY_BLOCK`]).
#[inline(always)]
fn key_scores(query: &[f32], kt: &[f32], n_pad: usize, scores: &mut [f32], wide: bool) {
    let mut j = 0;
    if wide {
        while j + 2 * KEY_BLOCK <= n_pad {
            key_block::<{ 2 * KEY_BLOCK }>(query, kt, n_pad, j, &mut scores[j..]);
            j += 2 * KEY_BLOCK;
        }
    }
    while j + KEY_BLOCK <= n_pad {
        key_block::<KEY_BLOCK>(query, kt, n_pad, j, &mut scores[j..]);
        j += KEY_BLOCK;
    }
}

/// The scores of keys `j0..j0 + W`, accumulated in registers.
#[inline(always)]
fn key_block<const W: usize>(query: &[f32], kt: &[f32], n_pad: usize, j0: usize, out: &mut [f32]) {
    let mut acc = [0f32; W];
    for (c, &qc) in query.iter().enumerate() {
        let Some(row) = kt[c * n_pad + j0..].first_chunk::<W>() else {
            continue;
        };
        for (a, &x) in acc.iter_mut().zip(row) {
            *a = qc.mul_add(x, *a);
        }
    }
    out[..W].copy_from_slice(&acc);
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

/// `out[c] = norm · Σ_j p[j] · v[j, c]`; `SETS` interleaved partial sums over `j` keep enough
/// independent accumulators in flight.
#[inline(always)]
fn weighted_sum<const SETS: usize>(p: &[f32], v: &[f32], d: usize, norm: f32, out: &mut [f32]) {
    const COLUMNS: usize = 32;
    let mut c0 = 0;
    while c0 + COLUMNS <= d {
        let mut acc = [[0f32; COLUMNS]; SETS];
        let full = p.len() / SETS * SETS;
        for j0 in (0..full).step_by(SETS) {
            for (s, set) in acc.iter_mut().enumerate() {
                let j = j0 + s;
                let Some(row) = v[j * d + c0..].first_chunk::<COLUMNS>() else {
                    continue;
                };
                let pj = p[j];
                for t in 0..COLUMNS {
                    set[t] = pj.mul_add(row[t], set[t]);
                }
            }
        }
        for j in full..p.len() {
            let Some(row) = v[j * d + c0..].first_chunk::<COLUMNS>() else {
                continue;
            };
            let pj = p[j];
            for t in 0..COLUMNS {
                acc[0][t] = pj.mul_add(row[t], acc[0][t]);
            }
        }
        for (t, o) in out[c0..c0 + COLUMNS].iter_mut().enumerate() {
            *o = acc.iter().map(|set| set[t]).sum::<f32>() * norm;
        }
        c0 += COLUMNS;
    }
    if c0 < d {
        let out = &mut out[c0..d];
        out.fill(0.0);
        for (j, &pj) in p.iter().enumerate() {
            for (o, &x) in out.iter_mut().zip(&v[j * d + c0..(j + 1) * d]) {
                *o = pj.mul_add(x, *o);
            }
        }
        for o in out {
            *o *= norm;
        }
    }
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
