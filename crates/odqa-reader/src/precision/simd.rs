//! f32 → bf16 rounding of many values at once: `vcvtne2ps2bf16` (AVX512-BF16, 32 values per
//! instruction) where the CPU has it, the scalar [`to_bf16`] elsewhere. Both round to nearest,
//! ties to even, so the results are the same bits.

use std::arch::x86_64::{
    __m512bh, __m512i, _mm512_cvtne2ps_pbh, _mm512_loadu_ps, _mm512_storeu_si512,
};
use std::sync::OnceLock;

use super::bf16::{to_bf16, Line, LINE};

/// Whether this CPU has AVX512-BF16 (and AVX-512 F), detected once.
fn has_avx512_bf16() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    })
}

/// `src` rounded to bf16 into consecutive lines of `dst` (32 values per line; a last partial
/// line keeps its other values), as far as `dst` reaches.
pub(super) fn round_row(src: &[f32], dst: &mut [Line]) {
    if has_avx512_bf16() {
        // SAFETY: the CPU has AVX-512 F and AVX512-BF16 (checked just above).
        #[allow(unsafe_code)]
        unsafe {
            round_row_avx512(src, dst)
        }
    } else {
        for (line, src) in dst.iter_mut().zip(src.chunks(LINE)) {
            scalar(src, &mut line.0);
        }
    }
}

fn scalar(src: &[f32], dst: &mut [u16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = to_bf16(s);
    }
}

/// [`round_row`] with whole lines converted 32 values per instruction.
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn round_row_avx512(src: &[f32], dst: &mut [Line]) {
    for (line, s) in dst.iter_mut().zip(src.chunks(LINE)) {
        if s.len() < LINE {
            scalar(s, &mut line.0);
            continue;
        }
        // SAFETY: `s` holds 32 f32 (two unaligned 64-byte loads) and `line` 32 u16 (one 64-byte
        // store); `__m512bh` and `__m512i` are both 64 bytes of plain bits.
        unsafe {
            let lo = _mm512_loadu_ps(s.as_ptr());
            let hi = _mm512_loadu_ps(s.as_ptr().add(16));
            let packed = _mm512_cvtne2ps_pbh(hi, lo);
            let bits = std::mem::transmute::<__m512bh, __m512i>(packed);
            _mm512_storeu_si512(line.0.as_mut_ptr().cast(), bits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_and_scalar_rounding_give_the_same_bits() {
        let src: Vec<f32> = (0..32 * 40 + 7)
            .map(|i| {
                let x = (i as f32 * 0.37).sin() * 10f32.powi(i % 9 - 4);
                // Ties: values with exactly the halfway bit pattern.
                if i % 5 == 0 {
                    f32::from_bits((x.to_bits() & !0xFFFF) | 0x8000)
                } else {
                    x
                }
            })
            .collect();
        let mut fast = vec![Line([0; LINE]); src.len().div_ceil(LINE)];
        round_row(&src, &mut fast);
        let fast: Vec<u16> = fast.iter().flat_map(|l| l.0).take(src.len()).collect();
        let mut slow = vec![0u16; src.len()];
        scalar(&src, &mut slow);
        assert_eq!(fast, slow, "avx512-bf16 {}", has_avx512_bf16());
    }
}
