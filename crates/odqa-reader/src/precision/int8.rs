//! int8 products of the encoder's linear layers, for CPUs without bf16 units: weights quantized
//! once per output column (symmetric, ±127), activations quantized per row at each product
//! (symmetric, ±127), exact sums of the integer products in i32, then `y = s_row · s_col · Σ + b`
//! in f32.
//!
//! The integer sums are exact, so the three kernels give the same bits, whatever the batch size
//! and the thread count: AVX-512 VNNI (`vpdpbusd` multiplies unsigned by signed bytes: the
//! activations go in with 128 added, and 128 · Σ_k w is taken off again), AVX2 (`vpmaddubsw` on
//! |x| and sign(x)·w: the pair sums stay below 2¹⁵, no saturation) and plain loops.

use std::arch::x86_64::{
    __m256i, __m512i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16,
    _mm256_maddubs_epi16, _mm256_set1_epi16, _mm256_set1_epi32, _mm256_setzero_si256,
    _mm256_sign_epi8, _mm256_storeu_si256, _mm512_dpbusd_epi32, _mm512_loadu_si512,
    _mm512_set1_epi32, _mm512_setzero_si512, _mm512_storeu_si512, _mm512_sub_epi32,
};
use std::mem::MaybeUninit;
use std::sync::OnceLock;

/// Rows per parallel task.
const TASK_ROWS: usize = 32;
/// Rows of one register block.
const R: usize = 8;
/// Columns are padded to a multiple of this (the AVX-512 block: 4 registers of 16).
const COLS: usize = 64;
/// Largest quantized activation.
const X_MAX: f32 = 127.0;
/// What VNNI adds to each activation to make it an unsigned byte.
const OFFSET: i32 = 128;

/// The instruction set an int8 product runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Kernel {
    /// AVX-512 with VNNI (`vpdpbusd`).
    Vnni,
    /// AVX2 (`vpmaddubsw`, `vpmaddwd`).
    Avx2,
    /// Plain integer loops.
    Scalar,
}

impl Int8Kernel {
    /// The best kernel this CPU runs, detected once.
    pub fn detect() -> Int8Kernel {
        static KERNEL: OnceLock<Int8Kernel> = OnceLock::new();
        *KERNEL.get_or_init(|| {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                Int8Kernel::Vnni
            } else if std::arch::is_x86_feature_detected!("avx2") {
                Int8Kernel::Avx2
            } else {
                Int8Kernel::Scalar
            }
        })
    }
}

/// The weights `[k, n]` (burn's `[in, out]`) and bias of one linear layer in int8.
#[derive(Debug, Clone)]
pub struct Int8Weights {
    k: usize,
    n: usize,
    /// Groups of 4 along `k` (the last padded with zeros).
    groups: usize,
    /// `n` rounded up to a multiple of [`COLS`].
    n_padded: usize,
    /// `[groups][n_padded][4]`: the 4 values of a group of rows, per column.
    packed: Vec<i8>,
    /// Per column: `max |w| / 127`.
    scales: Vec<f32>,
    /// Per column (padded to `n_padded`): `128 · Σ_k w_q`, what VNNI's offset adds to the sums.
    offsets: Vec<i32>,
    bias: Vec<f32>,
    kernel: Int8Kernel,
}

impl Int8Weights {
    /// Quantizes `weight` (`[k, n]` row-major) per column for the best kernel of this CPU;
    /// `bias` has `n` values.
    ///
    /// # Panics
    /// When the lengths do not match `k` and `n`.
    pub fn new(weight: &[f32], bias: Vec<f32>, k: usize, n: usize) -> Int8Weights {
        Self::with_kernel(weight, bias, k, n, Int8Kernel::detect())
    }

    /// [`Self::new`] for a given kernel (tests force each one the CPU has).
    pub fn with_kernel(
        weight: &[f32],
        bias: Vec<f32>,
        k: usize,
        n: usize,
        kernel: Int8Kernel,
    ) -> Int8Weights {
        super::check_layer("int8", weight, &bias, [k, n]);
        let (groups, n_padded) = (k.div_ceil(4), n.div_ceil(COLS) * COLS);
        let mut scales = vec![0f32; n];
        for row in weight.chunks_exact(n.max(1)) {
            for (s, &w) in scales.iter_mut().zip(row) {
                *s = s.max(w.abs());
            }
        }
        for s in &mut scales {
            *s = if *s > 0.0 { *s / 127.0 } else { 1.0 };
        }
        let mut packed = vec![0i8; groups * n_padded * 4];
        let mut offsets = vec![0i32; n_padded];
        for (r, row) in weight.chunks_exact(n.max(1)).enumerate() {
            for (c, &w) in row.iter().enumerate() {
                let q = (w / scales[c]).round().clamp(-127.0, 127.0) as i8;
                packed[((r / 4) * n_padded + c) * 4 + r % 4] = q;
                offsets[c] += OFFSET * i32::from(q);
            }
        }
        Int8Weights {
            k,
            n,
            groups,
            n_padded,
            packed,
            scales,
            offsets,
            bias,
            kernel,
        }
    }

    /// The kernel the products run on.
    pub fn kernel(&self) -> Int8Kernel {
        self.kernel
    }

    /// Input and output sizes `[k, n]`.
    pub fn dims(&self) -> [usize; 2] {
        [self.k, self.n]
    }

    /// `x · W + b` for `x` of `m` rows of `k` values: `m` rows of `n` values.
    ///
    /// # Panics
    /// When `x` is not `m × k`.
    pub fn product(&self, x: &[f32], m: usize) -> Vec<f32> {
        assert_eq!(x.len(), m * self.k, "int8 product: x is not [m, k]");
        if self.k == 0 {
            return self.bias.repeat(m);
        }
        // SAFETY: `rows` writes every column of every row of its block.
        #[allow(unsafe_code)]
        unsafe {
            super::rows_in_parallel(x, [m, self.k, self.n], TASK_ROWS, |x, out| {
                self.rows(x, out)
            })
        }
    }

    /// One task: up to [`TASK_ROWS`] rows, every value of `out` written.
    fn rows(&self, x: &[f32], out: &mut [MaybeUninit<f32>]) {
        let (k, n, n_padded) = (self.k, self.n, self.n_padded);
        let groups = self.groups;
        let rows = x.len() / k;
        let padded = rows.div_ceil(R) * R;
        // Each group of 4 quantized activations as one little-endian word, what the kernels
        // broadcast.
        let mut a = vec![0i32; padded * groups];
        let mut row_scales = vec![1f32; padded];
        let mut bytes = vec![0u8; 4 * groups];
        for (r, src) in x.chunks_exact(k).enumerate() {
            row_scales[r] = quantize_row(src, &mut bytes[..k]);
            for (word, b) in a[r * groups..(r + 1) * groups]
                .iter_mut()
                .zip(bytes.chunks_exact(4))
            {
                *word = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        let mut sums = vec![0i32; R * n_padded];
        for block in 0..padded / R {
            let a = &a[block * R * groups..(block + 1) * R * groups];
            self.block(a, &mut sums);
            for i in 0..R.min(rows - block * R) {
                let r = block * R + i;
                let sums = &sums[i * n_padded..i * n_padded + n];
                let dst = &mut out[r * n..(r + 1) * n];
                for (c, (d, &s)) in dst.iter_mut().zip(sums).enumerate() {
                    d.write(row_scales[r] * self.scales[c] * s as f32 + self.bias[c]);
                }
            }
        }
    }

    /// The i32 sums of [`R`] quantized rows (`a`, `groups` words of 4 bytes each) by every
    /// column: `sums[i · n_padded + c]`.
    fn block(&self, a: &[i32], sums: &mut [i32]) {
        let shape = (self.groups, self.n_padded);
        assert!(
            a.len() == R * self.groups
                && sums.len() == R * self.n_padded
                && self.packed.len() == 4 * self.groups * self.n_padded,
            "int8 block: operands of the wrong size"
        );
        match self.kernel {
            // SAFETY: the CPU has the instruction sets (`Int8Kernel::detect`, or a test that
            // forces only kernels the CPU has); the sizes are asserted above.
            #[allow(unsafe_code)]
            Int8Kernel::Vnni => unsafe {
                block_vnni(a, (&self.packed, &self.offsets), shape, sums)
            },
            #[allow(unsafe_code)]
            Int8Kernel::Avx2 => unsafe { block_avx2(a, &self.packed, shape, sums) },
            Int8Kernel::Scalar => block_scalar(a, &self.packed, shape, sums),
        }
    }
}

/// Quantizes one row of activations to `q = round(x / s)` in ±127 (two's-complement bytes),
/// `s = max |x| / 127` (1 for a row of zeros); returns `s`.
fn quantize_row(x: &[f32], out: &mut [u8]) -> f32 {
    let max = x
        .iter()
        .fold(0f32, |m, &v| if v.abs() > m { v.abs() } else { m });
    let scale = if max > 0.0 && max.is_finite() {
        max / X_MAX
    } else {
        1.0
    };
    let inverse = 1.0 / scale;
    for (o, &v) in out.iter_mut().zip(x) {
        // v / s + 128 lies in [1, 255]; adding ½ and truncating rounds it (halves up).
        let q = (v * inverse + (OFFSET as f32 + 0.5)) as i32;
        *o = (q.clamp(1, 255) - OFFSET) as i8 as u8;
    }
    scale
}

fn block_scalar(a: &[i32], packed: &[i8], (groups, n_padded): (usize, usize), sums: &mut [i32]) {
    for i in 0..R {
        for c in 0..n_padded {
            let mut s = 0i32;
            for g in 0..groups {
                let x = a[i * groups + g].to_le_bytes();
                for (e, &x) in x.iter().enumerate() {
                    s += i32::from(x as i8) * i32::from(packed[(g * n_padded + c) * 4 + e]);
                }
            }
            sums[i * n_padded + c] = s;
        }
    }
}

/// 8 rows × 32 columns per register block: 16 accumulators, 2 weight loads and 8 broadcasts
/// per group of 4 along `k`.
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn block_vnni(
    a: &[i32],
    (packed, offsets): (&[i8], &[i32]),
    (groups, n_padded): (usize, usize),
    sums: &mut [i32],
) {
    // Each byte + 128: the signed activation as an unsigned one.
    let flip = i32::from_le_bytes([0x80; 4]);
    for c0 in (0..n_padded).step_by(32) {
        let mut acc = [[_mm512_setzero_si512(); 2]; R];
        for g in 0..groups {
            // SAFETY: 32 columns × 4 bytes from (g·n_padded + c0)·4 end at most at
            // (g·n_padded + n_padded)·4 ≤ packed.len() (asserted by the caller); unaligned loads.
            let w: [__m512i; 2] = unsafe {
                let at = packed.as_ptr().add((g * n_padded + c0) * 4);
                [0, 64].map(|o| _mm512_loadu_si512(at.add(o).cast()))
            };
            for (i, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_epi32(a[i * groups + g] ^ flip);
                acc[0] = _mm512_dpbusd_epi32(acc[0], x, w[0]);
                acc[1] = _mm512_dpbusd_epi32(acc[1], x, w[1]);
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            for (j, &v) in acc.iter().enumerate() {
                let at = i * n_padded + c0 + 16 * j;
                let offset = &offsets[c0 + 16 * j..c0 + 16 * j + 16];
                let dst = &mut sums[at..at + 16];
                // SAFETY: `offset` and `dst` hold 16 i32 (64 bytes) each; unaligned load, store.
                unsafe {
                    let exact = _mm512_sub_epi32(v, _mm512_loadu_si512(offset.as_ptr().cast()));
                    _mm512_storeu_si512(dst.as_mut_ptr().cast(), exact);
                }
            }
        }
    }
}

/// 8 rows × 8 columns per register block.
#[allow(unsafe_code)]
#[target_feature(enable = "avx2")]
unsafe fn block_avx2(
    a: &[i32],
    packed: &[i8],
    (groups, n_padded): (usize, usize),
    sums: &mut [i32],
) {
    let ones = _mm256_set1_epi16(1);
    for c0 in (0..n_padded).step_by(8) {
        let mut acc = [_mm256_setzero_si256(); R];
        for g in 0..groups {
            // SAFETY: 8 columns × 4 bytes from (g·n_padded + c0)·4 lie inside `packed` (c0 + 8 ≤
            // n_padded); an unaligned load.
            let w: __m256i =
                unsafe { _mm256_loadu_si256(packed.as_ptr().add((g * n_padded + c0) * 4).cast()) };
            for (i, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_set1_epi32(a[i * groups + g]);
                // |x| × sign(x)·w: pairs of at most 2 · 127 · 127 < 2¹⁵, no saturation.
                let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(w, x));
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(pairs, ones));
            }
        }
        for (i, &v) in acc.iter().enumerate() {
            let at = i * n_padded + c0;
            let dst = &mut sums[at..at + 8];
            // SAFETY: `dst` holds 8 i32 (32 bytes), an unaligned store.
            unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), v) };
        }
    }
}

#[cfg(test)]
#[path = "int8_tests.rs"]
mod tests;
