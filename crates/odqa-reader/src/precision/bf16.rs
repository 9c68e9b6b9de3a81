//! bf16 products of the encoder's linear layers: the weights rounded to bf16 once (at load) and
//! laid out for the AMX kernel, the activations rounded per product, sums in f32.
//!
//! On a CPU with AMX the product runs on the tiles ([`super::amx`]): one task per 32 rows of
//! the activations, which it rounds into a task-local buffer and multiplies by every 32-column
//! slice of the weights. Elsewhere (bf16 forced on a CPU without AMX) it multiplies the same
//! rounded values in f32 with `gemm`, so the numbers are those of bf16 inputs either way (the
//! sums differ only in their order). Neither depends on the thread count: each output block is
//! one task's work with a fixed order of sums.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::amx::{self, Tiles, BLOCK_COLS, BLOCK_ROWS};
use super::simd;

/// bf16 values per [`Line`].
pub const LINE: usize = 32;

/// 64 bytes of bf16 values (32), aligned as a cache line: the unit of the AMX tiles' rows.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
pub struct Line(pub [u16; LINE]);

/// A line of zeros.
pub(super) const ZERO_LINE: Line = Line([0; LINE]);

/// `x` rounded to bf16 (round to nearest, ties to even; NaN stays NaN), as its 16 bits.
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) >> 16;
    if x.is_nan() {
        ((bits >> 16) | 0x40) as u16
    } else {
        rounded as u16
    }
}

/// The f32 value of bf16 bits.
#[inline(always)]
pub fn from_bf16(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// The weights `[k, n]` (burn's `[in, out]` layout) and bias of one linear layer in bf16.
#[derive(Debug, Clone)]
pub struct Bf16Weights {
    k: usize,
    n: usize,
    /// Blocks of 32 along `k` (the last padded with zeros).
    k_blocks: usize,
    /// On AMX: tiles of 16 columns × 32 rows in `tdpbf16ps`'s pair layout, `k_blocks` tiles per
    /// 16-column slice, slices padded with zero columns to a multiple of 32 columns.
    tiles: Vec<Line>,
    /// Elsewhere: the rounded weights as f32, `[k, n]` row-major.
    rounded: Vec<f32>,
    bias: Vec<f32>,
}

impl Bf16Weights {
    /// Rounds `weight` (`[k, n]` row-major) to bf16 and lays it out for the kernel this CPU
    /// runs; `bias` has `n` values (zeros when the layer has none).
    ///
    /// # Panics
    /// When the lengths do not match `k` and `n`.
    pub fn new(weight: &[f32], bias: Vec<f32>, k: usize, n: usize) -> Bf16Weights {
        Self::with_kernel(weight, bias, k, n, amx::available())
    }

    /// [`Self::new`] for the AMX kernel (`amx`) or the f32 one, whatever this CPU has.
    pub(super) fn with_kernel(
        weight: &[f32],
        bias: Vec<f32>,
        k: usize,
        n: usize,
        amx: bool,
    ) -> Bf16Weights {
        super::check_layer("bf16", weight, &bias, [k, n]);
        let k_blocks = k.div_ceil(32);
        let (tiles, rounded) = if amx {
            (
                pack_tiles(|r, c| weight[r * n + c], [k, n], k_blocks),
                Vec::new(),
            )
        } else {
            let rounded = weight.iter().map(|&w| from_bf16(to_bf16(w))).collect();
            (Vec::new(), rounded)
        };
        Bf16Weights {
            k,
            n,
            k_blocks,
            tiles,
            rounded,
            bias,
        }
    }

    /// True when the product runs on AMX tiles, false when it multiplies the rounded values in
    /// f32 (a CPU without AMX-BF16).
    pub fn on_tiles(&self) -> bool {
        !self.tiles.is_empty()
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
        assert_eq!(x.len(), m * self.k, "bf16 product: x is not [m, k]");
        if self.tiles.is_empty() {
            return self.product_f32(x, m);
        }
        // SAFETY: `amx_rows` writes every column (all slices of 32 up to `n`) of every row of
        // its block.
        #[allow(unsafe_code)]
        unsafe {
            super::rows_in_parallel(x, [m, self.k, self.n], BLOCK_ROWS, |x, out| {
                self.amx_rows(x, out)
            })
        }
    }

    /// One task of the AMX product: up to 32 rows, every value of `out` written.
    fn amx_rows(&self, x: &[f32], out: &mut [MaybeUninit<f32>]) {
        let Some(tiles) = Tiles::configure() else {
            // The weights were laid out for AMX, so AMX was available: it stays so.
            unreachable!("AMX weights without AMX");
        };
        let n = self.n;
        let rows = x.len() / self.k.max(1);
        let a = round_rows(x.chunks_exact(self.k.max(1)), self.k_blocks);
        tile_rows(
            &tiles,
            (&a, rows),
            self.k_blocks,
            &self.tiles,
            n,
            |r, j0, sums| {
                let dst = &mut out[r * n + j0..r * n + j0 + sums.len()];
                for ((d, s), b) in dst.iter_mut().zip(sums).zip(&self.bias[j0..]) {
                    d.write(s + b);
                }
            },
        );
    }

    /// The product of the rounded values in f32 (`gemm`, rows in parallel).
    fn product_f32(&self, x: &[f32], m: usize) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        let rounded: Vec<f32> = x.iter().map(|&v| from_bf16(to_bf16(v))).collect();
        let mut out = vec![0f32; m * n];
        if n == 0 || k == 0 {
            out.par_chunks_mut(n.max(1))
                .for_each(|row| row.copy_from_slice(&self.bias));
            return out;
        }
        out.par_chunks_mut(BLOCK_ROWS * n)
            .zip(rounded.par_chunks(BLOCK_ROWS * k))
            .for_each(|(out, x)| {
                let rows = x.len() / k;
                for row in out.chunks_exact_mut(n) {
                    row.copy_from_slice(&self.bias);
                }
                crate::fused::products::accumulate(
                    [rows, n, k],
                    (out, n, 1),
                    (x, k, 1),
                    (&self.rounded, n, 1),
                );
            });
        out
    }
}

/// `a · b` on the tiles, one thread: `a` is rows of `k_blocks` lines, padded to a multiple of
/// 32 rows ([`round_rows`]), `b` the pair-layout tiles of `n` columns ([`pack_tiles`]). Calls
/// `emit(row, column, sums)` with the sums of each of the first `rows` rows of `a` at columns
/// `column..column + sums.len()`, for every slice of up to 32 columns.
pub(super) fn tile_rows(
    tiles: &Tiles,
    (a, rows): (&[Line], usize),
    k_blocks: usize,
    b: &[Line],
    n: usize,
    mut emit: impl FnMut(usize, usize, &[f32]),
) {
    let slice = 16 * k_blocks;
    let mut block = [0f32; BLOCK_ROWS * BLOCK_COLS];
    for (row_block, a) in a.chunks_exact(BLOCK_ROWS * k_blocks).enumerate() {
        for (pair, j0) in (0..n).step_by(BLOCK_COLS).enumerate() {
            let b0 = &b[2 * pair * slice..(2 * pair + 1) * slice];
            let b1 = &b[(2 * pair + 1) * slice..(2 * pair + 2) * slice];
            tiles.block(a, b0, b1, &mut block);
            let cols = BLOCK_COLS.min(n - j0);
            let first = row_block * BLOCK_ROWS;
            let valid = BLOCK_ROWS.min(rows.saturating_sub(first));
            for (r, sums) in block.chunks_exact(BLOCK_COLS).take(valid).enumerate() {
                emit(first + r, j0, &sums[..cols]);
            }
        }
    }
}

/// The matrix `[k, n]` whose value at row `r`, column `c` is `value(r, c)` as pair-layout
/// tiles: slice `j` (columns `16j..16j+16`) holds tiles `i = 0..k_blocks`, each 16 lines; line
/// `r` of tile `(j, i)` holds, for column `c`, the values of rows `32i + 2r` and `32i + 2r + 1`
/// at positions `2c` and `2c + 1`. Columns are padded with zeros to a multiple of 32, rows to
/// `32 · k_blocks`.
pub(super) fn pack_tiles(
    value: impl Fn(usize, usize) -> f32 + Sync,
    [k, n]: [usize; 2],
    k_blocks: usize,
) -> Vec<Line> {
    let slices = 2 * n.div_ceil(32);
    let mut tiles = vec![ZERO_LINE; slices * k_blocks * 16];
    let fill = |(j, slice): (usize, &mut [Line])| {
        for (line_index, line) in slice.iter_mut().enumerate() {
            let (i, r) = (line_index / 16, line_index % 16);
            for c in 0..16 {
                let col = 16 * j + c;
                for e in 0..2 {
                    let row = 32 * i + 2 * r + e;
                    if row < k && col < n {
                        line.0[2 * c + e] = to_bf16(value(row, col));
                    }
                }
            }
        }
    };
    let per_slice = (k_blocks * 16).max(1);
    if tiles.len() > 1 << 16 {
        tiles.par_chunks_mut(per_slice).enumerate().for_each(fill);
    } else {
        tiles.chunks_mut(per_slice).enumerate().for_each(fill);
    }
    tiles
}

/// `rows` (each at most `32 · k_blocks` f32 values) rounded to bf16 as rows of `k_blocks`
/// lines, padded with zero rows to a multiple of 32 (and zero values past each row's end).
pub(super) fn round_rows<'a>(
    rows: impl ExactSizeIterator<Item = &'a [f32]>,
    k_blocks: usize,
) -> Vec<Line> {
    let padded = rows.len().div_ceil(BLOCK_ROWS).max(1) * BLOCK_ROWS;
    let mut a = vec![ZERO_LINE; padded * k_blocks];
    for (r, src) in rows.enumerate() {
        simd::round_row(src, &mut a[r * k_blocks..(r + 1) * k_blocks]);
    }
    a
}

#[cfg(test)]
#[path = "bf16_tests.rs"]
mod tests;
