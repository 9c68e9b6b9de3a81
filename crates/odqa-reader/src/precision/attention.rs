//! Attention's two products per head in bf16 on AMX tiles (`Q·Kᵀ` and `P·V`), f32 sums; the
//! softmax between them stays f32 (see [`crate::fused::kernels`]).

use super::amx::Tiles;
use super::bf16::{pack_tiles, round_rows, tile_rows};

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
        // Kᵀ: row c (a dimension), column j (a key).
        let b = pack_tiles(|c, j| k[j * d + c], [d, n], k_blocks);
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
        let b = pack_tiles(|j, c| v[j * d + c], [n, d], k_blocks);
        tile_rows(&self.tiles, (&a, seq), k_blocks, &b, d, |i, c0, sums| {
            let dst = &mut out[i * d + c0..i * d + c0 + sums.len()];
            for (o, &sum) in dst.iter_mut().zip(sums) {
                *o = sum * norms[i];
            }
        });
    }
}
