//! The precision of the reader's matrix products at inference, chosen from the CPU's features.
//!
//! - [`Precision::Fp32`]: burn's f32 products (the reference, and what training uses).
//! - [`Precision::Bf16`]: the encoder's linear layers with bf16 weights (rounded once, at load)
//!   and bf16-rounded activations, f32 sums: on AMX tiles ([`amx`]) where the CPU has them.
//! - [`Precision::Int8`]: the encoder's linear layers but the feed-forward down-projection with
//!   per-column int8 weights and per-row int8 activations, exact i32 sums ([`int8`]).
//! - [`Precision::Auto`]: bf16 where the CPU has AMX-BF16, f32 elsewhere (int8 misses the
//!   quality guard: see [`Precision::resolve`]).
//!
//! LayerNorm, softmax, GELU and the head stay f32; attention too, except in bf16 on AMX. A model
//! is prepared for a precision once ([`crate::QaModel::with_precision`]); its packed weights live
//! beside burn's.

pub mod amx;
pub mod attention;
pub mod bf16;
pub mod int8;
mod simd;
#[cfg(test)]
mod test_support;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use bf16::Bf16Weights;
pub use int8::{Int8Kernel, Int8Weights};

/// The precision asked for (`auto` resolves per CPU, see [`Precision::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 everywhere.
    Fp32,
    /// bf16 linear layers (AMX where available, else the same rounded values in f32).
    Bf16,
    /// int8 linear layers: per-column int8 weights, per-row int8 activations, i32 sums (AVX-512
    /// VNNI, AVX2 or plain loops).
    Int8,
    /// The fastest precision this CPU runs within the quality guard: bf16 with AMX, else f32.
    #[default]
    Auto,
}

impl Precision {
    /// Every value, in the order `--help` lists them.
    pub const ALL: [Precision; 4] = [
        Precision::Fp32,
        Precision::Bf16,
        Precision::Int8,
        Precision::Auto,
    ];

    /// The precision that runs: `auto` becomes [`Precision::Bf16`] on a CPU with AMX-BF16 (and
    /// the kernel's permission to use it), [`Precision::Fp32`] elsewhere — not int8, whose
    /// KorQuAD dev EM fell by 1.06 (more than the 0.3 `auto` allows); the others stay.
    pub fn resolve(self) -> Precision {
        match self {
            Precision::Auto if amx::available() => Precision::Bf16,
            Precision::Auto => Precision::Fp32,
            other => other,
        }
    }

    /// The name used in settings and reports.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
            Precision::Auto => "auto",
        }
    }

    /// How a resolved precision runs on this CPU, for reports (`bf16 (AMX)`, `bf16 (emulated
    /// in f32: no AMX)`, `fp32`).
    pub fn describe(self) -> String {
        match self.resolve() {
            Precision::Bf16 if amx::available() => "bf16 (AMX tiles)".into(),
            Precision::Bf16 => "bf16 (rounded values in f32: this CPU has no AMX-BF16)".into(),
            Precision::Int8 => match Int8Kernel::detect() {
                Int8Kernel::Vnni => "int8 (AVX-512 VNNI)".into(),
                Int8Kernel::Avx2 => "int8 (AVX2)".into(),
                Int8Kernel::Scalar => "int8 (no SIMD)".into(),
            },
            other => other.name().into(),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown precision {s:?} (expected fp32, bf16, int8 or auto)"))
    }
}

/// Panics unless `weight` is `[k, n]` and `bias` has `n` values (`what`: the packing's name).
fn check_layer(what: &str, weight: &[f32], bias: &[f32], [k, n]: [usize; 2]) {
    assert_eq!(weight.len(), k * n, "{what} weights: not [k, n]");
    assert_eq!(bias.len(), n, "{what} weights: bias not of n values");
}

/// `m` rows of `n` outputs, computed in parallel blocks of `block` rows of `x` (`k` values per
/// row): `fill(rows, out)` gets a block's rows of `x` and its rows of the output.
///
/// # Safety
/// `fill` must write every value of the `out` it is given (the output is not zero-filled first).
#[allow(unsafe_code)]
pub(super) unsafe fn rows_in_parallel(
    x: &[f32],
    [m, k, n]: [usize; 3],
    block: usize,
    fill: impl Fn(&[f32], &mut [std::mem::MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    use rayon::prelude::*;
    assert_eq!(x.len(), m * k, "rows_in_parallel: x is not [m, k]");
    if m == 0 || n == 0 || k == 0 {
        return vec![0f32; m * n];
    }
    let mut out = Vec::with_capacity(m * n);
    out.spare_capacity_mut()[..m * n]
        .par_chunks_mut(block * n)
        .zip(x.par_chunks(block * k))
        .for_each(|(out, x)| fill(x, out));
    // SAFETY: the chunks cover the `m · n` values and `fill` writes all of its chunk (the
    // caller's promise).
    #[allow(unsafe_code)]
    unsafe {
        out.set_len(m * n);
    }
    out
}

/// A linear layer's weights prepared for a reduced-precision product.
#[derive(Debug, Clone)]
pub enum PackedLinear {
    /// bf16 weights.
    Bf16(Arc<Bf16Weights>),
    /// int8 weights.
    Int8(Arc<Int8Weights>),
}

impl PackedLinear {
    /// `x · W + b` for `m` rows of `x`.
    pub fn product(&self, x: &[f32], m: usize) -> Vec<f32> {
        match self {
            PackedLinear::Bf16(w) => w.product(x, m),
            PackedLinear::Int8(w) => w.product(x, m),
        }
    }

    /// Output size `n`.
    pub fn out_features(&self) -> usize {
        match self {
            PackedLinear::Bf16(w) => w.dims()[1],
            PackedLinear::Int8(w) => w.dims()[1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_precisions_stay_and_auto_follows_the_cpu() {
        assert_eq!(Precision::Fp32.resolve(), Precision::Fp32);
        assert_eq!(Precision::Bf16.resolve(), Precision::Bf16);
        let auto = if amx::available() {
            Precision::Bf16
        } else {
            Precision::Fp32
        };
        assert_eq!(Precision::Auto.resolve(), auto);
        assert_eq!(Precision::default(), Precision::Auto);
    }

    #[test]
    fn names_parse_back_and_unknown_ones_are_refused() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>(), Ok(p));
        }
        let err = "int4".parse::<Precision>().unwrap_err();
        assert!(err.contains("fp32, bf16, int8 or auto"), "{err}");
    }

    #[test]
    fn packed_bf16_weights_take_the_kernel_of_this_cpu() {
        // Forced bf16 on a CPU without AMX keeps the rounded values in f32 (and vice versa).
        let weights = Bf16Weights::new(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![0.0; 3], 2, 3);
        assert_eq!(weights.on_tiles(), amx::available());
        let product = PackedLinear::Bf16(Arc::new(weights)).product(&[1.0, 1.0], 1);
        assert_eq!(product, vec![5.0, 7.0, 9.0]);
    }
}
