//! Single-threaded matrix products through `gemm` on strided slices, for the attention kernels
//! (one product per (batch row, head) task), and the layout helpers around them. [`product`]
//! holds the crate's one `unsafe` call, behind bounds checks.

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use super::kernels::AttentionShape;

/// A matrix operand of [`product`]: its values, row stride and column stride.
pub(super) type Operand<'a> = (&'a [f32], usize, usize);

/// The element offset of `[b, 0, h·d]` in a `[batch, seq, hidden]` buffer.
pub(super) fn head_offset(shape: AttentionShape, b: usize, h: usize) -> usize {
    b * shape.seq * shape.hidden + h * (shape.hidden / shape.heads)
}

/// Whether an `rows × cols` matrix with strides `(rs, cs)` lies inside `len` values.
fn fits(len: usize, [rows, cols]: [usize; 2], rs: usize, cs: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len
}

/// `dst = alpha · lhs · rhs` for an `m × k` `lhs` and a `k × n` `rhs`, each matrix given by its
/// values, row stride and column stride; single-threaded (`gemm` without parallelism).
///
/// # Panics
/// When a matrix does not fit in its slice.
pub(super) fn product(
    shape: [usize; 3],
    dst: (&mut [f32], usize, usize),
    lhs: Operand<'_>,
    rhs: Operand<'_>,
    alpha: f32,
) {
    gemm_call(shape, dst, lhs, rhs, alpha, false);
}

/// `dst += lhs · rhs`, otherwise as [`product`].
///
/// # Panics
/// When a matrix does not fit in its slice.
pub(crate) fn accumulate(
    shape: [usize; 3],
    dst: (&mut [f32], usize, usize),
    lhs: Operand<'_>,
    rhs: Operand<'_>,
) {
    gemm_call(shape, dst, lhs, rhs, 1.0, true);
}

/// `dst = alpha · lhs · rhs`, plus `dst` when `read_dst`.
fn gemm_call(
    [m, n, k]: [usize; 3],
    (dst, dst_rs, dst_cs): (&mut [f32], usize, usize),
    (lhs, lhs_rs, lhs_cs): Operand<'_>,
    (rhs, rhs_rs, rhs_cs): Operand<'_>,
    alpha: f32,
    read_dst: bool,
) {
    assert!(
        fits(dst.len(), [m, n], dst_rs, dst_cs),
        "product: dst too short"
    );
    assert!(
        fits(lhs.len(), [m, k], lhs_rs, lhs_cs),
        "product: lhs too short"
    );
    assert!(
        fits(rhs.len(), [k, n], rhs_rs, rhs_cs),
        "product: rhs too short"
    );
    let i = |s: usize| s as isize;
    // SAFETY: the asserts above keep every element that `gemm` reads or writes inside its slice,
    // and `dst` is borrowed mutably, so nothing else reads or writes it meanwhile. `gemm` takes
    // (m, n, k, dst, dst_cs, dst_rs, read_dst, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs, alpha,
    // beta, …) and computes dst = alpha·dst + beta·lhs·rhs (alpha unused with read_dst false).
    #[allow(unsafe_code)]
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            i(dst_cs),
            i(dst_rs),
            read_dst,
            lhs.as_ptr(),
            i(lhs_cs),
            i(lhs_rs),
            rhs.as_ptr(),
            i(rhs_cs),
            i(rhs_rs),
            1.0,
            alpha,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// A `[batch, heads, seq, d]` buffer (one block per attention task) as `[batch, seq, hidden]`.
pub(super) fn heads_to_rows(by_head: &[f32], shape: AttentionShape) -> Vec<f32> {
    let AttentionShape {
        seq, hidden, heads, ..
    } = shape;
    let d = hidden / heads;
    let mut rows = vec![0f32; by_head.len()];
    rows.par_chunks_mut(hidden)
        .enumerate()
        .for_each(|(row, out)| {
            let (b, i) = (row / seq, row % seq);
            for (h, out) in out.chunks_exact_mut(d).enumerate() {
                let start = ((b * heads + h) * seq + i) * d;
                out.copy_from_slice(&by_head[start..start + d]);
            }
        });
    rows
}
