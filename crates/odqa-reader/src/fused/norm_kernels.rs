//! LayerNorm's backward pass on `f32` slices, over rows of `d` values: the input's gradient row by
//! row, the gain's and bias's gradients summed over fixed blocks of rows and then block by block in
//! order, so the result does not depend on the thread count.

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

/// Rows per parallel task.
const ROW_BLOCK: usize = 64;

/// The gradients `[dx, dγ, dβ]` of `y = (x − mean)/√(var + eps) · γ + β` (statistics per row of
/// `d` values, as burn's and PyTorch's LayerNorm) from `grad` = dL/dy.
pub fn layer_norm_backward(x: &[f32], gamma: &[f32], grad: &[f32], eps: f32) -> [Vec<f32>; 3] {
    let d = gamma.len();
    assert!(d > 0 && x.len().is_multiple_of(d) && grad.len() == x.len());
    let mut dx = vec![0f32; x.len()];
    let arch = Arch::new();
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(ROW_BLOCK * d)
        .enumerate()
        .map(|(block, dx)| {
            let rows = block * ROW_BLOCK * d..block * ROW_BLOCK * d + dx.len();
            arch.dispatch(NormBackwardRows {
                x: &x[rows.clone()],
                grad: &grad[rows],
                gamma,
                dx,
                eps,
            })
        })
        .collect();
    let mut d_gamma = vec![0f32; d];
    let mut d_beta = vec![0f32; d];
    for (g, b) in &partials {
        for j in 0..d {
            d_gamma[j] += g[j];
            d_beta[j] += b[j];
        }
    }
    [dx, d_gamma, d_beta]
}

/// One block of rows: writes `dx`, returns the block's sums of `dy·x̂` and `dy` per column.
struct NormBackwardRows<'a> {
    x: &'a [f32],
    grad: &'a [f32],
    gamma: &'a [f32],
    dx: &'a mut [f32],
    eps: f32,
}

impl WithSimd for NormBackwardRows<'_> {
    type Output = (Vec<f32>, Vec<f32>);

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> (Vec<f32>, Vec<f32>) {
        let NormBackwardRows {
            x,
            grad,
            gamma,
            dx,
            eps,
        } = self;
        let d = gamma.len();
        let n = d as f32;
        let mut d_gamma = vec![0f32; d];
        let mut d_beta = vec![0f32; d];
        let mut xhat = vec![0f32; d];
        // Loops, not closures: closures do not inherit the function's target features.
        for ((x, dy), dx) in x
            .chunks_exact(d)
            .zip(grad.chunks_exact(d))
            .zip(dx.chunks_exact_mut(d))
        {
            let mut sum = 0f32;
            for &v in x {
                sum += v;
            }
            let mean = sum / n;
            let mut var = 0f32;
            for &v in x {
                var += (v - mean) * (v - mean);
            }
            let rstd = 1.0 / (var / n + eps).sqrt();
            let (mut g_mean, mut gx_mean) = (0f32, 0f32);
            for j in 0..d {
                xhat[j] = (x[j] - mean) * rstd;
                let g = dy[j] * gamma[j];
                g_mean += g;
                gx_mean += g * xhat[j];
                d_gamma[j] += dy[j] * xhat[j];
                d_beta[j] += dy[j];
            }
            let (g_mean, gx_mean) = (g_mean / n, gx_mean / n);
            for j in 0..d {
                dx[j] = rstd * (dy[j] * gamma[j] - g_mean - xhat[j] * gx_mean);
            }
        }
        (d_gamma, d_beta)
    }
}
