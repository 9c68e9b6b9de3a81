use super::*;
use crate::precision::test_support::{on_threads, time_product, values, ENCODER_SHAPES};

/// The f64 product of the unrounded values, and per element Σ|x||w| (the scale of the error).
fn reference(x: &[f32], w: &[f32], bias: &[f32], [m, k, n]: [usize; 3]) -> (Vec<f64>, Vec<f64>) {
    let mut out = vec![0f64; m * n];
    let mut scale = vec![0f64; m * n];
    for r in 0..m {
        for c in 0..n {
            let mut s = f64::from(bias[c]);
            let mut a = 0f64;
            for i in 0..k {
                let p = f64::from(x[r * k + i]) * f64::from(w[i * n + c]);
                s += p;
                a += p.abs();
            }
            out[r * n + c] = s;
            scale[r * n + c] = a;
        }
    }
    (out, scale)
}

/// Shapes with tails of 1–31 rows, columns and depth around the blocks of 32.
const SHAPES: [[usize; 3]; 9] = [
    [1, 1, 1],
    [1, 384, 384],
    [17, 33, 15],
    [31, 31, 31],
    [33, 64, 17],
    [32, 32, 32],
    [45, 100, 70],
    [64, 65, 1],
    [7, 1, 40],
];

fn check_kernel(amx: bool) {
    for (s, &[m, k, n]) in SHAPES.iter().enumerate() {
        let x = values(m * k, s as u64);
        let w = values(k * n, 100 + s as u64);
        let bias = values(n, 200 + s as u64);
        let weights = Bf16Weights::with_kernel(&w, bias.clone(), k, n, amx);
        let got = weights.product(&x, m);
        let (want, scale) = reference(&x, &w, &bias, [m, k, n]);
        for (i, ((&g, &e), &a)) in got.iter().zip(&want).zip(&scale).enumerate() {
            // bf16 keeps 8 significant bits: each input rounds by at most 2⁻⁸ relative, a
            // product of two by about 2⁻⁷.
            let bound = a * 2f64.powi(-7) + 1e-5;
            assert!(
                (f64::from(g) - e).abs() <= bound,
                "amx {amx} shape {m}x{k}x{n} element {i}: {g} vs {e} (bound {bound})"
            );
        }
    }
}

#[test]
fn f32_kernel_matches_the_f64_product_within_bf16_rounding() {
    check_kernel(false);
}

#[test]
fn amx_kernel_matches_the_f64_product_within_bf16_rounding() {
    if !amx::available() {
        eprintln!("skipped: this CPU has no AMX-BF16");
        return;
    }
    check_kernel(true);
}

#[test]
fn amx_and_f32_kernels_agree_on_the_rounded_values() {
    if !amx::available() {
        eprintln!("skipped: this CPU has no AMX-BF16");
        return;
    }
    let [m, k, n] = [70, 384, 100];
    let x = values(m * k, 1);
    let w = values(k * n, 2);
    let bias = values(n, 3);
    let tiles = Bf16Weights::with_kernel(&w, bias.clone(), k, n, true).product(&x, m);
    let plain = Bf16Weights::with_kernel(&w, bias, k, n, false).product(&x, m);
    let diff = tiles
        .iter()
        .zip(&plain)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    // Same rounded inputs; only the order of the f32 sums differs.
    assert!(diff < 1e-3, "max |Δ| {diff}");
}

#[test]
fn products_do_not_depend_on_the_thread_count() {
    let [m, k, n] = [97, 130, 75];
    let x = values(m * k, 7);
    let w = values(k * n, 8);
    for amx in [false, amx::available()] {
        let weights = Bf16Weights::with_kernel(&w, vec![0.5; n], k, n, amx);
        let run = |threads: usize| on_threads(threads, || weights.product(&x, m));
        assert_eq!(run(1), run(3), "amx {amx}");
    }
}

#[test]
fn rounding_is_to_nearest_even() {
    // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: ties go to the even mantissa (1).
    assert_eq!(to_bf16(1.0 + 2f32.powi(-8)), 0x3F80);
    // 1 + 3·2⁻⁸ lies halfway between 1 + 2⁻⁷ (odd) and 1 + 2⁻⁶: up to the even one.
    assert_eq!(to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3F82);
    assert_eq!(to_bf16(-2.5), 0xC020);
    assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
}

/// Throughput of the kernel on the encoder's shapes (`cargo test --release -p odqa-reader
/// bf16_throughput -- --ignored --nocapture`).
#[test]
#[ignore]
fn bf16_throughput() {
    for [m, k, n] in ENCODER_SHAPES {
        let x = values(m * k, 1);
        let weights = Bf16Weights::new(&values(k * n, 2), vec![0.0; n], k, n);
        time_product("bf16", [m, k, n], 10, || weights.product(&x, m));
    }
}
