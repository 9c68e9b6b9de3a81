//! What the kernel tests of [`super::bf16`] and [`super::int8`] share.

/// The encoder's product shapes `[m, k, n]` (a batch of 8 windows of 384 tokens) the ignored
/// throughput tests time.
pub const ENCODER_SHAPES: [[usize; 3]; 3] =
    [[3072, 384, 384], [3072, 384, 1536], [3072, 1536, 384]];

/// Deterministic values in about [-2, 2].
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let h = crate::fused::mix64(seed.wrapping_mul(0x9E37) ^ i);
            (h >> 40) as f32 / (1u64 << 22) as f32 - 2.0
        })
        .collect()
}

/// `f` run on a rayon pool of `threads` threads.
pub fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

/// Prints the time and the rate of `product` (an `m × k × n` product), the mean of `reps` runs.
pub fn time_product(
    label: &str,
    [m, k, n]: [usize; 3],
    reps: usize,
    product: impl Fn() -> Vec<f32>,
) {
    let start = std::time::Instant::now();
    for _ in 0..reps {
        std::hint::black_box(product());
    }
    let secs = start.elapsed().as_secs_f64() / reps as f64;
    let rate = 2.0 * (m * k * n) as f64 / secs / 1e9;
    eprintln!(
        "{label} {m}x{k}x{n}: {:.2} ms, {rate:.0} G op/s",
        secs * 1e3
    );
}
