//! Attention's two products per head in bf16 on AMX tiles (`Q·Kᵀ` and `P·V`), f32 sums; the
//! softmax between them stays f32 (see [`crate::fused::kernels`]).

use super::amx::Tiles;
use super::bf16::{round_rows, tile_rows, Line, ZERO_LINE};

/// The products of one attention task (one batch row and head) on this thread's tiles.
pub struct HeadProducts {
    tiles: Tiles,
}

impl HeadProducts {
    /// Configures this thread's tiles; `None` when the CPU has no AMX-BF16.
    pub fn new() -> Option<HeadProducts> {
        Tiles::configure().map(|tiles| HeadProducts { tiles })
    }

    /// `scores[i·n + j] = scale · q_i · k_j` for the `seq` query rows of `q` (row `i` is
    /// `q[i·stride..i·stride + d]`) and the `n` keys of `k` (`[n, d]` row-major).
    ///
    /// # Panics
    /// When a slice is shorter than those shapes.
    pub fn scores(
        &self,
        (q, stride, seq): (&[f32], usize, usize),
        (k, d): (&[f32], usize),
        scale: f32,
        scores: &mut [f32],
    ) {
        let n = k.len() / d.max(1);
        let k_blocks = d.div_ceil(32);
        let a = round_rows((0..seq).map(|i| &q[i * stride..i * stride + d]), k_blocks);
        let b = key_tiles(k, [n, d], k_blocks);
        tile_rows(&self.tiles, (&a, seq), k_blocks, &b, n, |i, j0, sums| {
            let dst = &mut scores[i * n + j0..i * n + j0 + sums.len()];
            for (s, &sum) in dst.iter_mut().zip(sums) {
                *s = sum * scale;
            }
        });
    }

    /// `out[i·d..(i+1)·d] = norms[i] · Σ_j p[i·n + j] · v_j` for `p` `[seq, n]`, `v` `[n, d]`.
    ///
    /// # Panics
    /// When a slice is shorter than those shapes.
    pub fn context(
        &self,
        (p, n): (&[f32], usize),
        (v, d): (&[f32], usize),
        norms: &[f32],
        out: &mut [f32],
    ) {
        let seq = p.len() / n.max(1);
        let k_blocks = n.div_ceil(32);
        let a = round_rows(p.chunks_exact(n.max(1)), k_blocks);
        let b = value_tiles(v, [n, d], k_blocks);
        tile_rows(&self.tiles, (&a, seq), k_blocks, &b, d, |i, c0, sums| {
            let dst = &mut out[i * d + c0..i * d + c0 + sums.len()];
            for (o, &sum) in dst.iter_mut().zip(sums) {
                *o = sum * norms[i];
            }
        });
    }
}

/// Kᵀ (`[d, n]`: a dimension per row, a key per column) as pair-layout tiles (see
/// [`super::bf16::pack_tiles`]), from the keys `k` (`[n, d]`) rounded row by row: line `r` of
/// tile `(j, i)` holds, for key `16j + c`, its dimensions `32i + 2r` and `32i + 2r + 1`, which
/// lie side by side in the key's rounded row.
fn key_tiles(k: &[f32], [n, d]: [usize; 2], k_blocks: usize) -> Vec<Line> {
    let rows = round_rows(k.chunks_exact(d.max(1)), k_blocks);
    let mut tiles = vec![ZERO_LINE; 2 * n.div_ceil(32) * k_blocks * 16];
    for (j, slice) in tiles.chunks_mut((k_blocks * 16).max(1)).enumerate() {
        for (at, line) in slice.iter_mut().enumerate() {
            let (i, r) = (at / 16, at % 16);
            for c in 0..16.min(n.saturating_sub(16 * j)) {
                let key = &rows[(16 * j + c) * k_blocks + i].0;
                line.0[2 * c..2 * c + 2].copy_from_slice(&key[2 * r..2 * r + 2]);
            }
        }
    }
    tiles
}

/// The values `v` (`[n, d]`) as pair-layout tiles, from its rows rounded one by one: line `r` of
/// tile `(j, i)` interleaves rows `32i + 2r` and `32i + 2r + 1` over the dimensions
/// `16j..16j + 16`.
fn value_tiles(v: &[f32], [n, d]: [usize; 2], k_blocks: usize) -> Vec<Line> {
    let d_lines = d.div_ceil(32);
    let rows = round_rows(v.chunks_exact(d.max(1)), d_lines);
    let value = |t: usize, col: usize| rows[t * d_lines + col / 32].0[col % 32];
    let mut tiles = vec![ZERO_LINE; 2 * d.div_ceil(32) * k_blocks * 16];
    for (j, slice) in tiles.chunks_mut((k_blocks * 16).max(1)).enumerate() {
        for (at, line) in slice.iter_mut().enumerate() {
            let (i, r) = (at / 16, at % 16);
            for c in 0..16.min(d.saturating_sub(16 * j)) {
                for e in 0..2 {
                    let t = 32 * i + 2 * r + e;
                    if t < n {
                        line.0[2 * c + e] = value(t, 16 * j + c);
                    }
                }
            }
        }
    }
    tiles
}
