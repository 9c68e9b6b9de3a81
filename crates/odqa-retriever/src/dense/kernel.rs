//! Exact maximum-inner-product search over rows of `dim` `f32` values: dot products dispatched at
//! run time to the CPU's widest vectors (AVX-512, AVX2, scalar) through `pulp`, with sixteen
//! partial sums added in a fixed order, so a score is the same whatever the threads, the batch or
//! the vector unit; ties rank by row (lower first).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use pulp::{Arch, Simd, WithSimd};
use rayon::prelude::*;

/// Rows scored per parallel task of a single query.
const ROWS_PER_TASK: usize = 8192;
/// Rows scored against every query of a batch before moving on (they stay in the cache).
const ROW_BLOCK: usize = 128;
/// Queries per parallel task of a batch.
const QUERIES_PER_TASK: usize = 16;

/// A scored row: its index and its dot product with the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The row.
    pub row: u64,
    /// The inner product.
    pub score: f32,
}

impl Scored {
    /// Better first: higher score, then lower row.
    fn rank_cmp(&self, other: &Scored) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.row.cmp(&other.row))
    }
}

/// Heap entry whose greatest element is the worst kept row.
#[derive(Debug, Clone, Copy)]
struct Worst(Scored);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.rank_cmp(&other.0)
    }
}

/// The best `k` rows seen so far.
struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    fn offer(&mut self, s: Scored) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Worst(s));
        } else if let Some(worst) = self.heap.peek() {
            if s.rank_cmp(&worst.0) == Ordering::Less {
                self.heap.pop();
                self.heap.push(Worst(s));
            }
        }
    }

    fn into_sorted(self) -> Vec<Scored> {
        let mut v: Vec<Scored> = self.heap.into_iter().map(|w| w.0).collect();
        v.sort_by(Scored::rank_cmp);
        v
    }
}

/// The dot product of two equally long slices (sixteen partial sums, added pairwise in order).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    Arch::new().dispatch(Dot { a, b })
}

struct Dot<'a> {
    a: &'a [f32],
    b: &'a [f32],
}

impl WithSimd for Dot<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> f32 {
        dot_inline(self.a, self.b)
    }
}

/// [`dot`]'s arithmetic, inlined into a function compiled for the dispatched vector unit (loops,
/// not closures: closures do not inherit the target features).
#[inline(always)]
fn dot_inline(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ac, bc) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    for (i, (x, y)) in ar.iter().zip(br).enumerate() {
        acc[i] += x * y;
    }
    let mut width = 8;
    while width > 0 {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
        width /= 2;
    }
    acc[0]
}

/// The best `k` rows of `rows` (row-major, `dim` values each) for `query`, best first.
pub fn top_k(rows: &[f32], dim: usize, query: &[f32], k: usize) -> Vec<Scored> {
    assert!(dim > 0 && query.len() == dim && rows.len().is_multiple_of(dim));
    let arch = Arch::new();
    let parts: Vec<Vec<Scored>> = rows
        .par_chunks(ROWS_PER_TASK * dim)
        .enumerate()
        .map(|(task, chunk)| {
            let first = (task * ROWS_PER_TASK) as u64;
            arch.dispatch(ScoreRows {
                rows: chunk,
                dim,
                queries: &[query],
                first,
                k,
            })
            .pop()
            .unwrap_or_default()
        })
        .collect();
    let mut top = TopK::new(k);
    parts.into_iter().flatten().for_each(|s| top.offer(s));
    top.into_sorted()
}

/// [`top_k`] for many queries: the same results, computed with the rows streamed once per group
/// of queries (in blocks that stay in the cache), groups side by side.
pub fn top_k_batch(rows: &[f32], dim: usize, queries: &[&[f32]], k: usize) -> Vec<Vec<Scored>> {
    assert!(dim > 0 && rows.len().is_multiple_of(dim));
    assert!(queries.iter().all(|q| q.len() == dim));
    let arch = Arch::new();
    queries
        .par_chunks(QUERIES_PER_TASK)
        .flat_map_iter(|group| {
            arch.dispatch(ScoreRows {
                rows,
                dim,
                queries: group,
                first: 0,
                k,
            })
        })
        .collect()
}

/// Scores every row of `rows` (the first being row `first`) against each query, keeping each
/// query's best `k`.
struct ScoreRows<'a> {
    rows: &'a [f32],
    dim: usize,
    queries: &'a [&'a [f32]],
    first: u64,
    k: usize,
}

impl WithSimd for ScoreRows<'_> {
    type Output = Vec<Vec<Scored>>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> Vec<Vec<Scored>> {
        let ScoreRows {
            rows,
            dim,
            queries,
            first,
            k,
        } = self;
        let mut tops: Vec<TopK> = queries.iter().map(|_| TopK::new(k)).collect();
        for (b, block) in rows.chunks(ROW_BLOCK * dim).enumerate() {
            let base = first + (b * ROW_BLOCK) as u64;
            for (query, top) in queries.iter().zip(tops.iter_mut()) {
                for (r, row) in block.chunks_exact(dim).enumerate() {
                    let score = dot_inline(row, query);
                    top.offer(Scored {
                        row: base + r as u64,
                        score,
                    });
                }
            }
        }
        tops.into_iter().map(TopK::into_sorted).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize, dim: usize) -> Vec<f32> {
        (0..n * dim)
            .map(|i| (((i * 7919) % 1013) as f32 / 1013.0) - 0.5)
            .collect()
    }

    fn brute(rows: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<Scored> {
        let mut all: Vec<Scored> = rows
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, r)| Scored {
                row: i as u64,
                score: dot(r, q),
            })
            .collect();
        all.sort_by(Scored::rank_cmp);
        all.truncate(k);
        all
    }

    #[test]
    fn dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.25).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.125).collect();
        let plain: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (*x as f64) * (*y as f64))
            .sum();
        assert!((dot(&a, &b) as f64 - plain).abs() < 1e-3, "{}", dot(&a, &b));
    }

    #[test]
    fn single_and_batched_search_agree_with_brute_force() {
        let (n, dim, k) = (20_000, 24, 7);
        let data = rows(n, dim);
        let queries: Vec<Vec<f32>> = (0..5)
            .map(|j| data[j * 31 * dim..][..dim].to_vec())
            .collect();
        let refs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
        let batched = top_k_batch(&data, dim, &refs, k);
        for (q, got) in refs.iter().zip(&batched) {
            let want = brute(&data, dim, q, k);
            assert_eq!(&top_k(&data, dim, q, k), &want);
            assert_eq!(got, &want);
        }
    }

    #[test]
    fn ties_rank_by_row_and_k_beyond_the_rows_returns_all() {
        let data = vec![1.0, 0.0, 1.0, 0.0, 0.5, 0.5];
        let got = top_k(&data, 2, &[1.0, 0.0], 10);
        let rows: Vec<u64> = got.iter().map(|s| s.row).collect();
        assert_eq!(rows, vec![0, 1, 2]);
        assert!(top_k(&data, 2, &[1.0, 0.0], 0).is_empty());
    }
}
