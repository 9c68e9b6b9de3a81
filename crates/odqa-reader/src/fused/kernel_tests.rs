//! Tests of the fused kernels against plain f64 formulas.

use super::*;
use crate::precision::amx;

#[test]
fn exp_is_within_two_ulp() {
    let mut worst = 0f32;
    for i in -87_000..88_000 {
        let x = i as f32 / 1000.0;
        let want = x.exp();
        worst = worst.max((exp(x) - want).abs() / want);
    }
    assert!(worst < 2.5e-7, "relative error {worst}");
}

#[test]
fn erf_is_within_1e6() {
    let mut worst = 0f64;
    for i in -8_000..8_000 {
        let x = i as f64 / 1000.0;
        worst = worst.max((erf(x as f32) as f64 - libm::erf(x)).abs());
    }
    assert!(worst < 1e-6, "absolute error {worst}");
}

/// The largest `|got − want|`.
fn max_abs_diff(got: &[f32], want: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(&a, b)| (a as f64 - b).abs())
        .fold(0.0, f64::max)
}

/// Attention computed plainly in f64, for comparison.
fn reference(q: &[f32], k: &[f32], v: &[f32], mask: &[f32], s: AttentionShape) -> Vec<f64> {
    let d = s.hidden / s.heads;
    let mut out = vec![0f64; q.len()];
    for b in 0..s.batch {
        for h in 0..s.heads {
            for i in 0..s.seq {
                let at = |t: &[f32], j: usize, c: usize| {
                    t[(b * s.seq + j) * s.hidden + h * d + c] as f64
                };
                let scores: Vec<f64> = (0..s.seq)
                    .map(|j| {
                        let dot: f64 = (0..d).map(|c| at(q, i, c) * at(k, j, c)).sum();
                        let masked = mask[b * s.seq + j] < 0.5;
                        dot / (d as f64).sqrt() + if masked { f32::MIN as f64 } else { 0.0 }
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                let total: f64 = e.iter().sum();
                for c in 0..d {
                    let o: f64 = (0..s.seq).map(|j| e[j] * at(v, j, c)).sum::<f64>() / total;
                    out[(b * s.seq + i) * s.hidden + h * d + c] = o;
                }
            }
        }
    }
    out
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8;
            (x as f32 / (1u32 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

#[test]
fn attention_matches_the_plain_formula_with_masks() {
    // Odd lengths, d = 8, d = 32 and d = 40 (a 32-column block plus a tail), more keys than a
    // wide block, a fully masked row.
    for (batch, seq, hidden, heads) in [
        (3, 37, 32, 4),
        (2, 19, 80, 2),
        (1, 1, 8, 1),
        (3, 150, 64, 2),
    ] {
        let shape = AttentionShape {
            batch,
            seq,
            hidden,
            heads,
        };
        let n = batch * seq * hidden;
        let (q, k, v) = (values(n, 1), values(n, 2), values(n, 3));
        let mut mask = vec![1f32; batch * seq];
        for (b, row) in mask.chunks_mut(seq).enumerate() {
            match b {
                0 => row[seq / 2..].fill(0.0),
                1 => row.fill(0.0),
                _ => row[1] = 0.0,
            }
        }
        let want = reference(&q, &k, &v, &mask, shape);
        // The CPU's best instruction set (wide blocks with AVX-512) and the scalar path.
        for arch in [Arch::new(), Arch::Scalar] {
            let got = attention_on((arch, false), &q, &k, &v, &mask, shape);
            let worst = max_abs_diff(&got, &want);
            assert!(worst < 1e-5, "{shape:?} {arch:?}: max |Δ| {worst}");
        }
        // bf16 products on AMX tiles (the f32 kernel on a CPU without them): inputs of the two
        // products rounded to 8 significant bits, so within a few hundredths here.
        let got = attention_on((Arch::new(), true), &q, &k, &v, &mask, shape);
        let worst = max_abs_diff(&got, &want);
        eprintln!(
            "{shape:?} bf16 (amx {}): max |Δ| {worst:e}",
            amx::available()
        );
        assert!(worst < 5e-2, "{shape:?} bf16: max |Δ| {worst}");
        if amx::available() {
            assert!(worst > 1e-5, "{shape:?}: the bf16 path did not round");
        }
    }
}

#[test]
fn gelu_backward_matches_the_exact_derivative() {
    let x: Vec<f32> = values(40_000, 9).iter().map(|v| v * 3.0).collect();
    let mut grad = values(40_000, 4);
    let want: Vec<f64> = x
        .iter()
        .zip(&grad)
        .map(|(&x, &g)| {
            let x = x as f64;
            let cdf = 0.5 * (1.0 + libm::erf(x / 2f64.sqrt()));
            let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            g as f64 * (cdf + x * pdf)
        })
        .collect();
    gelu_backward_in_place(&x, &mut grad);
    let worst = max_abs_diff(&grad, &want);
    assert!(worst < 1e-5, "max |Δ| {worst}");
}

#[test]
fn gelu_matches_the_exact_formula() {
    let mut x = values(50_000, 7);
    for v in &mut x {
        *v *= 3.0;
    }
    let want: Vec<f64> = x
        .iter()
        .map(|&v| v as f64 * 0.5 * (1.0 + libm::erf(v as f64 / 2f64.sqrt())))
        .collect();
    gelu_in_place(&mut x);
    let worst = max_abs_diff(&x, &want);
    assert!(worst < 1e-5, "max |Δ| {worst}");
}
