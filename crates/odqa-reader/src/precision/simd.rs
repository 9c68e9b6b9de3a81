//! f32 → bf16 rounding of many values at once: `vcvtne2ps2bf16` (AVX512-BF16, 32 values per
//! instruction) where the CPU has it, the scalar [`to_bf16`] elsewhere. Both round to nearest,
//! ties to even, so the results are the same bits.

use std::arch::x86_64::{
    __m512bh, __m512i, _mm512_cvtne2ps_pbh, _mm512_loadu_ps, _mm512_storeu_si512,
};
use std::sync::OnceLock;

use super::bf16::{to_bf16, LINE};

/// Whether this CPU has AVX512-BF16 (and AVX-512 F), detected once.
fn has_avx512_bf16() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    })
}

/// `dst[i] = bf16(src[i])` for `min(src.len(), dst.len())` values.
pub(super) fn round_into(src: &[f32], dst: &mut [u16]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    let whole = n - n % LINE;
    if has_avx512_bf16() {
        // SAFETY: the CPU has AVX-512 F and AVX512-BF16 (checked just above).
        #[allow(unsafe_code)]
        unsafe {
            round_lines(&src[..whole], &mut dst[..whole]);
        }
    } else {
        scalar(&src[..whole], &mut dst[..whole]);
    }
    scalar(&src[whole..], &mut dst[whole..]);
}

fn scalar(src: &[f32], dst: &mut [u16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = to_bf16(s);
    }
}

/// Rounds whole lines of 32 values (`src.len()` and `dst.len()` equal multiples of 32).
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn round_lines(src: &[f32], dst: &mut [u16]) {
    for (s, d) in src.chunks_exact(LINE).zip(dst.chunks_exact_mut(LINE)) {
        // SAFETY: `s` holds 32 f32 (two unaligned 64-byte loads) and `d` 32 u16 (one unaligned
        // 64-byte store); `__m512bh` and `__m512i` are both 64 bytes of plain bits.
        unsafe {
            let lo = _mm512_loadu_ps(s.as_ptr());
            let hi = _mm512_loadu_ps(s.as_ptr().add(16));
            let packed = _mm512_cvtne2ps_pbh(hi, lo);
            let bits = std::mem::transmute::<__m512bh, __m512i>(packed);
            _mm512_storeu_si512(d.as_mut_ptr().cast(), bits);
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
        let mut fast = vec![0u16; src.len()];
        round_into(&src, &mut fast);
        let mut slow = vec![0u16; src.len()];
        scalar(&src, &mut slow);
        assert_eq!(fast, slow, "avx512-bf16 {}", has_avx512_bf16());
    }
}
