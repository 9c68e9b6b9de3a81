use super::*;
use crate::precision::test_support::{on_threads, time_product, values, ENCODER_SHAPES};

/// Shapes with tails of 1–31 (and 1–3 along k's groups of 4) around the blocks.
const SHAPES: [[usize; 3]; 9] = [
    [1, 1, 1],
    [1, 384, 384],
    [17, 33, 15],
    [31, 31, 31],
    [33, 64, 17],
    [5, 7, 65],
    [45, 100, 70],
    [64, 65, 1],
    [7, 2, 130],
];

/// The kernels this CPU can run.
fn kernels() -> Vec<Int8Kernel> {
    let mut k = vec![Int8Kernel::Scalar];
    if std::arch::is_x86_feature_detected!("avx2") {
        k.push(Int8Kernel::Avx2);
    }
    if Int8Kernel::detect() == Int8Kernel::Vnni {
        k.push(Int8Kernel::Vnni);
    }
    k
}

#[test]
fn every_kernel_matches_the_f64_product_within_the_quantization_error() {
    for (s, &[m, k, n]) in SHAPES.iter().enumerate() {
        let x = values(m * k, s as u64);
        let w = values(k * n, 100 + s as u64);
        let bias = values(n, 200 + s as u64);
        for kernel in kernels() {
            let weights = Int8Weights::with_kernel(&w, bias.clone(), k, n, kernel);
            let got = weights.product(&x, m);
            for r in 0..m {
                let row = &x[r * k..(r + 1) * k];
                let sx = row.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0;
                for c in 0..n {
                    let sw = (0..k).fold(0f32, |a, i| a.max(w[i * n + c].abs())) / 127.0;
                    let (mut want, mut bound) = (f64::from(bias[c]), 1e-4);
                    for i in 0..k {
                        let (xi, wi) = (f64::from(row[i]), f64::from(w[i * n + c]));
                        want += xi * wi;
                        // Each value off by at most half its step.
                        bound += xi.abs() * f64::from(sw) / 2.0
                            + wi.abs() * f64::from(sx) / 2.0
                            + f64::from(sx * sw) / 4.0;
                    }
                    let g = f64::from(got[r * n + c]);
                    assert!(
                        (g - want).abs() <= bound,
                        "{kernel:?} {m}x{k}x{n} [{r}, {c}]: {g} vs {want} (bound {bound})"
                    );
                }
            }
        }
    }
}

#[test]
fn kernels_give_the_same_bits() {
    for (s, &[m, k, n]) in SHAPES.iter().enumerate() {
        let x = values(m * k, 10 + s as u64);
        let w = values(k * n, 20 + s as u64);
        let products: Vec<Vec<f32>> = kernels()
            .into_iter()
            .map(|kernel| Int8Weights::with_kernel(&w, vec![0.25; n], k, n, kernel).product(&x, m))
            .collect();
        for p in &products[1..] {
            assert_eq!(p, &products[0], "{m}x{k}x{n}");
        }
    }
}

#[test]
fn products_do_not_depend_on_the_thread_count_or_the_rows_around() {
    let [m, k, n] = [97, 130, 75];
    let x = values(m * k, 7);
    let weights = Int8Weights::new(&values(k * n, 8), vec![0.5; n], k, n);
    let run = |threads: usize| on_threads(threads, || weights.product(&x, m));
    let all = run(1);
    assert_eq!(all, run(3));
    // A row alone gives what it gives among others (activations are quantized per row).
    assert_eq!(weights.product(&x[40 * k..41 * k], 1), all[40 * n..41 * n]);
}

/// Throughput per kernel on the encoder's shapes (`cargo test --release -p odqa-reader
/// int8_throughput -- --ignored --nocapture`).
#[test]
#[ignore]
fn int8_throughput() {
    for kernel in kernels() {
        for [m, k, n] in ENCODER_SHAPES {
            let x = values(m * k, 1);
            let weights = Int8Weights::with_kernel(&values(k * n, 2), vec![0.0; n], k, n, kernel);
            time_product(&format!("int8 {kernel:?}"), [m, k, n], 5, || {
                weights.product(&x, m)
            });
        }
    }
}
