//! Exact 4-bit block codes for float16 tensors whose values came from Q4_0 quantisation.
//!
//! A Q4_0 block (ggml) holds 32 values as one float16 scale `d` and 4-bit codes `q`, value
//! `d · (q − 8)`; the scale is chosen so that the largest-magnitude value gets the code 0 (−8·d).
//! A checkpoint dequantised from Q4_0 and stored as float16 therefore holds, in each block of 32,
//! `f16(f32(d) · k)` for integers `k` in −8..=7. [`encode_block`] recovers `d` and the codes and
//! keeps them only when decoding reproduces every value bit for bit; any other block (a LayerNorm,
//! a bias, a trained weight) is stored as it is, so the encoding is always exact.

use half::f16;

/// Values per block.
pub const BLOCK: usize = 32;
/// Bytes of a block stored as it is (32 float16 values).
pub const RAW_BLOCK_BYTES: usize = BLOCK * 2;
/// Bytes of a block's packed codes (two 4-bit codes per byte).
pub const CODE_BYTES: usize = BLOCK / 2;

/// A block as its scale (float16 bits) and 32 codes (`k + 8`), two per byte, low nibble first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodedBlock {
    /// The scale's float16 bits.
    pub scale: u16,
    /// Codes `k + 8` in 0..16; element `2i` in the low nibble of byte `i`, `2i + 1` in the high.
    pub codes: [u8; CODE_BYTES],
}

/// The value that a scale and a code decode to, rounded to float16 as the dequantiser did.
fn decode_value(scale: f32, code: u8) -> u16 {
    let k = i32::from(code) - 8;
    // f16 × (4-bit integer) is exact in f32; the one rounding is to f16 (nearest, ties to even).
    f16::from_f32(scale * k as f32).to_bits()
}

/// The scale and codes of `values` (float16 bits) when they decode back bit for bit.
pub fn encode_block(values: &[u16; BLOCK]) -> Option<CodedBlock> {
    let floats = values.map(|v| f16::from_bits(v).to_f32());
    // The first value of largest magnitude carries code 0 (k = −8).
    let mut peak = floats[0];
    for &x in &floats[1..] {
        if x.abs() > peak.abs() {
            peak = x;
        }
    }
    // A block of zeros: scale +0 (−0 would decode every value as −0).
    let scale_bits = match f16::from_f32(peak / -8.0) {
        d if d.to_f32() == 0.0 => 0,
        d => d.to_bits(),
    };
    let scale = f16::from_bits(scale_bits).to_f32();
    if !scale.is_finite() {
        return None;
    }
    let mut codes = [0u8; CODE_BYTES];
    for (i, (&x, &bits)) in floats.iter().zip(values).enumerate() {
        let k = if scale == 0.0 {
            0.0
        } else {
            (x / scale).round()
        };
        if !(-8.0..=7.0).contains(&k) {
            return None;
        }
        let code = (k as i32 + 8) as u8;
        if decode_value(scale, code) != bits {
            return None;
        }
        codes[i / 2] |= code << (4 * (i % 2));
    }
    Some(CodedBlock {
        scale: scale_bits,
        codes,
    })
}

/// The 32 float16 values (bits) of a coded block.
pub fn decode_block(block: &CodedBlock) -> [u16; BLOCK] {
    let scale = f16::from_bits(block.scale).to_f32();
    std::array::from_fn(|i| decode_value(scale, (block.codes[i / 2] >> (4 * (i % 2))) & 0xF))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `d · k` rounded to float16 for a scale and integer codes, as a Q4_0 dequantiser stores them.
    fn dequantised(scale: f32, ks: impl Fn(usize) -> i32) -> [u16; BLOCK] {
        let d = f16::from_f32(scale).to_f32();
        std::array::from_fn(|i| f16::from_f32(d * ks(i) as f32).to_bits())
    }

    #[test]
    fn dequantised_blocks_round_trip_bit_for_bit() {
        let cases = [
            dequantised(0.0123, |i| (i as i32 % 16) - 8),
            dequantised(-0.7, |i| 7 - (i as i32 * 5 % 16)),
            // Products that need rounding to f16 (13-bit mantissa scale × 7).
            dequantised(0.000_123_4, |i| [-8, 7, 5, -3, 0, 1][i % 6]),
            dequantised(3.0e-6, |i| [-8, 3, 7][i % 3]),
        ];
        for values in cases {
            let block = encode_block(&values).expect("a dequantised block is coded");
            assert_eq!(decode_block(&block), values);
        }
    }

    #[test]
    fn a_block_of_zeros_is_coded_and_keeps_positive_zero() {
        let zeros = [0u16; BLOCK];
        let block = encode_block(&zeros).expect("coded");
        assert_eq!(decode_block(&block), zeros);
    }

    #[test]
    fn blocks_that_are_not_dequantised_are_refused() {
        // Seventeen distinct levels cannot come from 16 codes.
        let smooth: [u16; BLOCK] =
            std::array::from_fn(|i| f16::from_f32(i as f32 * 0.01).to_bits());
        assert_eq!(encode_block(&smooth), None);
        // A negative zero would decode as +0 (or differ in sign): stored as it is.
        let mut signed = dequantised(0.5, |i| (i as i32 % 4) - 2);
        signed[5] = f16::NEG_ZERO.to_bits();
        assert_eq!(encode_block(&signed), None);
        // Non-finite values.
        let mut inf = [0u16; BLOCK];
        inf[0] = f16::INFINITY.to_bits();
        assert_eq!(encode_block(&inf), None);
        let mut nan = dequantised(0.5, |i| (i as i32 % 4) - 2);
        nan[3] = f16::NAN.to_bits();
        assert_eq!(encode_block(&nan), None);
    }
}
