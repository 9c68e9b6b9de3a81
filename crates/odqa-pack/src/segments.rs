//! The pieces of a checkpoint's data region and how each is stored.
//!
//! A segment covers one tensor's bytes (or a gap between tensors). Its payload in the packed body:
//! - [`Encoding::Raw`]: the bytes as they are;
//! - [`Encoding::Q4F16`]: a float16 tensor as blocks of 32 — a bitmap of the coded blocks, the
//!   coded blocks' scales (u16, little-endian), their codes, then the other blocks as they are and
//!   the tail (fewer than 32 values) as it is;
//! - [`Encoding::Base`]: nothing: the bytes are the base checkpoint's tensor [`Segment::base_name`],
//!   widened to this tensor's dtype where they differ (float16/bfloat16 → float32 is exact);
//! - [`Encoding::BaseXor`]: the bytes XOR that base tensor, as byte planes (every element's first
//!   byte, then every second byte, …): a fine-tuned weight shares its sign, exponent and leading
//!   mantissa bits with the weight it started from, so the high planes are almost all zero bytes,
//!   which zstd stores in almost nothing.

use half::{bf16, f16};
use safetensors::tensor::TensorInfo;
use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use crate::q4::{decode_block, encode_block, CodedBlock, BLOCK, CODE_BYTES, RAW_BLOCK_BYTES};

/// How a segment's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// As they are.
    Raw,
    /// Float16 in exact 4-bit blocks where possible ([`crate::q4`]).
    Q4F16,
    /// Equal to the base checkpoint's tensor of the same name.
    Base,
    /// XOR the base checkpoint's tensor of the same name.
    BaseXor,
}

/// One segment of the data region, as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Tensor name (empty for a gap between tensors).
    pub name: String,
    /// First byte, relative to the start of the data region.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// How the bytes are stored.
    pub encoding: Encoding,
    /// Bytes of the payload in the packed body.
    pub payload: usize,
    /// Element type of the tensor (none for a gap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<Dtype>,
    /// Shape of the tensor (none for a gap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<usize>>,
    /// The base checkpoint's tensor that an [`Encoding::Base`] segment holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_name: Option<String>,
}

/// The names under which a base checkpoint may hold the tensor `name`: the name itself, then the
/// name without its first component, since a QA checkpoint saved from an encoder prefixes the
/// encoder's tensors (`bert.encoder.layer.0…` from `encoder.layer.0…`).
pub fn base_names(name: &str) -> impl Iterator<Item = &str> {
    std::iter::once(name).chain(name.split_once('.').map(|(_, rest)| rest))
}

/// The bytes of a tensor of the base checkpoint, with its dtype and shape.
pub struct BaseTensor<'a> {
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: &'a [usize],
    /// Little-endian bytes.
    pub bytes: &'a [u8],
}

/// `base` as the bytes of a tensor of `dtype` and `shape`, when that conversion is exact.
pub fn base_as(base: &BaseTensor<'_>, dtype: Dtype, shape: &[usize]) -> Option<Vec<u8>> {
    if base.shape != shape {
        return None;
    }
    let halves = || {
        base.bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
    };
    match (base.dtype, dtype) {
        (a, b) if a == b => Some(base.bytes.to_vec()),
        (Dtype::F16, Dtype::F32) => Some(
            halves()
                .flat_map(|h| f16::from_bits(h).to_f32().to_le_bytes())
                .collect(),
        ),
        (Dtype::BF16, Dtype::F32) => Some(
            halves()
                .flat_map(|h| bf16::from_bits(h).to_f32().to_le_bytes())
                .collect(),
        ),
        _ => None,
    }
}

/// Chooses the encoding of a tensor: the base when its bytes match, XOR the base when it has one
/// of the same shape, 4-bit blocks for float16, otherwise as it is.
pub fn choose(info: &TensorInfo, bytes: &[u8], base: Option<&BaseTensor<'_>>) -> Encoding {
    let base = base.and_then(|b| base_as(b, info.dtype, &info.shape));
    match base {
        Some(b) if b == bytes => Encoding::Base,
        Some(b) if b.len() == bytes.len() => Encoding::BaseXor,
        _ if info.dtype == Dtype::F16 && bytes.len() >= RAW_BLOCK_BYTES => Encoding::Q4F16,
        _ => Encoding::Raw,
    }
}

/// `a` XOR `b`, byte by byte (its own inverse).
pub fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Bytes of one element of `dtype` (1 for types the byte planes do not distinguish).
pub fn element_bytes(dtype: Option<Dtype>) -> usize {
    match dtype {
        Some(Dtype::F64 | Dtype::I64 | Dtype::U64) => 8,
        Some(Dtype::F32 | Dtype::I32 | Dtype::U32) => 4,
        Some(Dtype::F16 | Dtype::BF16 | Dtype::I16 | Dtype::U16) => 2,
        _ => 1,
    }
}

/// The byte planes of `bytes` (elements of `width` bytes): byte 0 of every element, then byte 1, …
pub fn to_planes(bytes: &[u8], width: usize) -> Vec<u8> {
    if width <= 1 || !bytes.len().is_multiple_of(width) {
        return bytes.to_vec();
    }
    (0..width)
        .flat_map(|plane| bytes.iter().skip(plane).step_by(width).copied())
        .collect()
}

/// The inverse of [`to_planes`].
pub fn from_planes(planes: &[u8], width: usize) -> Vec<u8> {
    if width <= 1 || !planes.len().is_multiple_of(width) {
        return planes.to_vec();
    }
    let n = planes.len() / width;
    let mut out = vec![0u8; planes.len()];
    for (plane, chunk) in planes.chunks_exact(n).enumerate() {
        for (i, &b) in chunk.iter().enumerate() {
            out[i * width + plane] = b;
        }
    }
    out
}

/// The float16 bits of a block of 64 bytes.
fn block_values(bytes: &[u8]) -> [u16; BLOCK] {
    std::array::from_fn(|i| u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]))
}

/// Blocks of a float16 tensor coded, and the payload that stores them.
pub struct Q4Payload {
    /// The payload bytes.
    pub bytes: Vec<u8>,
    /// Blocks stored as codes.
    pub coded: usize,
    /// Blocks stored as they are.
    pub raw: usize,
}

/// The Q4F16 payload of a float16 tensor's bytes.
pub fn encode_q4(bytes: &[u8]) -> Q4Payload {
    let blocks: Vec<&[u8]> = bytes.chunks_exact(RAW_BLOCK_BYTES).collect();
    let tail = &bytes[blocks.len() * RAW_BLOCK_BYTES..];
    let coded: Vec<Option<CodedBlock>> = blocks
        .iter()
        .map(|b| encode_block(&block_values(b)))
        .collect();
    let mut bitmap = vec![0u8; blocks.len().div_ceil(8)];
    let (mut scales, mut codes, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (block, code)) in blocks.iter().zip(&coded).enumerate() {
        match code {
            Some(c) => {
                bitmap[i / 8] |= 1 << (i % 8);
                scales.extend_from_slice(&c.scale.to_le_bytes());
                codes.extend_from_slice(&c.codes);
            }
            None => raw.extend_from_slice(block),
        }
    }
    let n_coded = coded.iter().filter(|c| c.is_some()).count();
    let mut payload = bitmap;
    payload.extend(scales);
    payload.extend(codes);
    payload.extend(raw);
    payload.extend_from_slice(tail);
    Q4Payload {
        bytes: payload,
        coded: n_coded,
        raw: blocks.len() - n_coded,
    }
}

/// The float16 bytes (`len` of them) that a Q4F16 payload stores, or `None` when the payload does
/// not have the size that its bitmap implies.
pub fn decode_q4(payload: &[u8], len: usize) -> Option<Vec<u8>> {
    let n_blocks = len / RAW_BLOCK_BYTES;
    let bitmap = payload.get(..n_blocks.div_ceil(8))?;
    let is_coded = |i: usize| bitmap[i / 8] >> (i % 8) & 1 == 1;
    let n_coded = (0..n_blocks).filter(|&i| is_coded(i)).count();
    let tail_len = len - n_blocks * RAW_BLOCK_BYTES;
    let expected = bitmap.len()
        + n_coded * (2 + CODE_BYTES)
        + (n_blocks - n_coded) * RAW_BLOCK_BYTES
        + tail_len;
    if payload.len() != expected {
        return None;
    }
    let mut scales = &payload[bitmap.len()..];
    let mut codes = &scales[n_coded * 2..];
    let mut raw = &codes[n_coded * CODE_BYTES..];
    scales = &scales[..n_coded * 2];
    let mut out = Vec::with_capacity(len);
    for i in 0..n_blocks {
        if is_coded(i) {
            let block = CodedBlock {
                scale: u16::from_le_bytes([scales[0], scales[1]]),
                codes: codes[..CODE_BYTES].try_into().ok()?,
            };
            (scales, codes) = (&scales[2..], &codes[CODE_BYTES..]);
            out.extend(decode_block(&block).iter().flat_map(|v| v.to_le_bytes()));
        } else {
            out.extend_from_slice(&raw[..RAW_BLOCK_BYTES]);
            raw = &raw[RAW_BLOCK_BYTES..];
        }
    }
    out.extend_from_slice(raw);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(values: &[f32]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_bits().to_le_bytes())
            .collect()
    }

    #[test]
    fn q4_payload_restores_mixed_blocks_and_the_tail() {
        // Block 0 dequantised (scale 0.25), block 1 smooth (kept raw), block 2 dequantised, 5 tail
        // values.
        let mut values: Vec<f32> = (0..32).map(|i| 0.25 * ((i % 16) as f32 - 8.0)).collect();
        values.extend((0..32).map(|i| i as f32 * 0.013));
        values.extend((0..32).map(|i| -0.5 * ((i * 7 % 16) as f32 - 8.0)));
        values.extend([0.1, 0.2, 0.3, 0.4, 0.5]);
        let bytes = f16_bytes(&values);
        let payload = encode_q4(&bytes);
        assert_eq!((payload.coded, payload.raw), (2, 1));
        assert!(payload.bytes.len() < bytes.len());
        assert_eq!(decode_q4(&payload.bytes, bytes.len()), Some(bytes.clone()));
        // A truncated payload is refused rather than misread.
        let cut = &payload.bytes[..payload.bytes.len() - 1];
        assert_eq!(decode_q4(cut, bytes.len()), None);
    }

    #[test]
    fn byte_planes_invert() {
        let bytes: Vec<u8> = (0..24).collect();
        let planes = to_planes(&bytes, 4);
        assert_eq!(planes[..6], [0, 4, 8, 12, 16, 20]);
        assert_eq!(from_planes(&planes, 4), bytes);
        // A length that is not a whole number of elements is left as it is.
        assert_eq!(to_planes(&bytes[..23], 4), bytes[..23]);
        assert_eq!(from_planes(&bytes[..23], 4), bytes[..23]);
    }

    #[test]
    fn base_tensors_widen_exactly_and_only_with_the_same_shape() {
        let half_bytes = f16_bytes(&[1.5, -2.0, 0.333]);
        let base = BaseTensor {
            dtype: Dtype::F16,
            shape: &[3],
            bytes: &half_bytes,
        };
        let widened = base_as(&base, Dtype::F32, &[3]).expect("f16 widens to f32");
        let floats: Vec<f32> = widened
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(floats[..2], [1.5, -2.0]);
        assert_eq!(floats[2], f16::from_f32(0.333).to_f32());
        assert_eq!(base_as(&base, Dtype::F16, &[3]), Some(half_bytes.clone()));
        assert_eq!(base_as(&base, Dtype::F32, &[1, 3]), None);
        assert_eq!(base_as(&base, Dtype::BF16, &[3]), None);
    }
}
