//! Latency of exact dense search at a corpus size, on random unit vectors (the cost depends only
//! on the number of vectors and their length): one query at a time (p50/p95 over 200 queries) and
//! a batch of 1,000 queries (`search_batch`, as `predict` and `tune` use it).
//!
//! ```sh
//! cargo run --release -p odqa-retriever --example dense-search-bench -- [N=200000] [DIM=384] [K=100]
//! ```

use std::time::Instant;

use odqa_retriever::dense::kernel::{top_k, top_k_batch};

/// A deterministic pseudo-random unit vector (xorshift).
fn unit(seed: u64, dim: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v: Vec<f32> = (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= norm);
    v
}

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (n, dim, k) = (arg(1, 200_000), arg(2, 384), arg(3, 100));
    let rows: Vec<f32> = (0..n as u64).flat_map(|i| unit(i + 1, dim)).collect();
    let queries: Vec<Vec<f32>> = (0..1000u64).map(|i| unit(1_000_000 + i, dim)).collect();
    let mut millis: Vec<f64> = queries[..200]
        .iter()
        .map(|q| {
            let t = Instant::now();
            std::hint::black_box(top_k(&rows, dim, q, k));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    millis.sort_by(f64::total_cmp);
    let refs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
    let t = Instant::now();
    std::hint::black_box(top_k_batch(&rows, dim, &refs, k));
    let batch = t.elapsed().as_secs_f64();
    println!(
        "{n} vectors of {dim}, top {k}, {} threads: one query p50 {:.1} ms, p95 {:.1} ms; \
         a batch of 1000: {:.2} s ({:.1} ms per query)",
        rayon::current_num_threads(),
        millis[100],
        millis[190],
        batch,
        batch
    );
}
