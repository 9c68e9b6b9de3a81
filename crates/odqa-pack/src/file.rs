//! Packed files: the manifest, the compressed body, and the hash checks.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use odqa_core::fsio::write_atomic;
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::packer::{base_tensor, tensors_of, Packer};
use crate::segments::{base_as, decode_q4, element_bytes, from_planes, xor, Encoding, Segment};
use crate::PackError;

/// First bytes of a packed file.
const MAGIC: &[u8; 8] = b"ODQAPACK";
/// Version of the layout written.
const FORMAT: u32 = 1;
/// Bytes of the safetensors length prefix.
const LEN_PREFIX: usize = 8;

/// What a packed file records about the checkpoint it holds.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// Bytes of the original file.
    bytes: usize,
    /// Its sha256 (hex).
    sha256: String,
    /// Bytes of its header (length prefix + JSON), stored first in the body.
    header_bytes: usize,
    /// The sha256 of the base checkpoint that `Base` segments refer to.
    base_sha256: Option<String>,
    /// The data region, in order.
    segments: Vec<Segment>,
}

/// What [`pack`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PackSummary {
    /// Bytes of the original checkpoint.
    pub original_bytes: usize,
    /// Bytes of the packed file.
    pub packed_bytes: usize,
    /// sha256 of the original (and of what `unpack` restores).
    pub sha256: String,
    /// Tensors stored as references to the base checkpoint.
    pub base_tensors: usize,
    /// Tensors stored as their XOR with the base checkpoint's.
    pub xor_tensors: usize,
    /// Tensors stored in 4-bit blocks.
    pub q4_tensors: usize,
    /// Blocks of 32 float16 values stored as codes.
    pub coded_blocks: usize,
    /// Blocks of float16 tensors that had to be stored as they are.
    pub raw_blocks: usize,
    /// Tensors stored as they are.
    pub raw_tensors: usize,
}

/// What [`unpack`] restored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnpackSummary {
    /// Bytes written.
    pub bytes: usize,
    /// Their sha256, equal to the one recorded at packing time.
    pub sha256: String,
}

/// The sha256 of `bytes` in lower-case hex, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads a whole file.
fn read(path: &Path) -> Result<Vec<u8>, PackError> {
    std::fs::read(path).map_err(|e| PackError::io(path, e))
}

/// The header length and tensor table of a safetensors file's bytes.
fn metadata(path: &Path, bytes: &[u8]) -> Result<(usize, Metadata), PackError> {
    let (n, meta) = SafeTensors::read_metadata(bytes).map_err(|e| PackError::NotSafetensors {
        path: path.to_path_buf(),
        message: format!("{e:?}"),
    })?;
    Ok((LEN_PREFIX + n, meta))
}

/// Tensors in the order of their bytes.
fn by_offset(meta: &Metadata) -> Vec<(String, TensorInfo)> {
    let mut tensors: Vec<(String, TensorInfo)> = meta
        .tensors()
        .into_iter()
        .map(|(name, info)| (name, info.clone()))
        .collect();
    tensors.sort_by_key(|(_, info)| info.data_offsets);
    tensors
}

/// Packs the safetensors checkpoint `src` into `dest` (written atomically), with zstd `level`.
/// Tensors that `base` (another safetensors file) also holds, under the same name or the name
/// without its first component, are stored as references to it when equal and as their XOR with
/// it otherwise, so that unpacking needs the same base.
pub fn pack(
    src: &Path,
    base: Option<&Path>,
    dest: &Path,
    level: i32,
) -> Result<PackSummary, PackError> {
    let bytes = read(src)?;
    let (header_bytes, meta) = metadata(src, &bytes)?;
    let base_bytes = base.map(read).transpose()?;
    let base_meta = match (base, &base_bytes) {
        (Some(path), Some(b)) => Some(metadata(path, b)?),
        _ => None,
    };
    let base_tensors = match (&base_meta, &base_bytes) {
        (Some((start, meta)), Some(b)) => tensors_of(meta, &b[*start..]),
        _ => HashMap::new(),
    };
    let data = &bytes[header_bytes..];
    let mut packer = Packer::new(&bytes, header_bytes);
    let mut cursor = 0;
    for (name, info) in by_offset(&meta) {
        let (start, end) = info.data_offsets;
        if start > cursor {
            packer.gap(cursor, start, &data[cursor..start]);
        }
        packer.tensor(name, &info, &data[start..end], &base_tensors);
        cursor = end;
    }
    if data.len() > cursor {
        packer.gap(cursor, data.len(), &data[cursor..]);
    }
    let Packer {
        body,
        segments,
        mut summary,
    } = packer;
    let manifest = Manifest {
        bytes: bytes.len(),
        sha256: summary.sha256.clone(),
        header_bytes,
        base_sha256: (summary.base_tensors + summary.xor_tensors > 0)
            .then(|| sha256_hex(base_bytes.as_deref().unwrap_or_default())),
        segments,
    };
    let packed = write_packed(&manifest, &body, level).map_err(|e| PackError::io(dest, e))?;
    summary.packed_bytes = packed.len();
    write_atomic(dest, &packed)?;
    Ok(summary)
}

/// The bytes of a packed file: magic, format, manifest, compressed body.
fn write_packed(manifest: &Manifest, body: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    let json = serde_json::to_vec(manifest)?;
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    let mut encoder = zstd::Encoder::new(out, level)?;
    encoder.write_all(body)?;
    encoder.finish()
}

/// The manifest and decompressed body of a packed file.
fn read_packed(path: &Path, packed: &[u8]) -> Result<(Manifest, Vec<u8>), PackError> {
    let fixed = MAGIC.len() + 4 + 8;
    if packed.len() < fixed || &packed[..MAGIC.len()] != MAGIC {
        return Err(PackError::not_packed(
            path,
            "it does not start with ODQAPACK",
        ));
    }
    let format = u32::from_le_bytes(packed[8..12].try_into().unwrap_or_default());
    if format != FORMAT {
        return Err(PackError::not_packed(
            path,
            format!("format {format}; this odqa reads format {FORMAT}"),
        ));
    }
    let json_len = u64::from_le_bytes(packed[12..20].try_into().unwrap_or_default());
    let json_end = usize::try_from(json_len)
        .ok()
        .and_then(|n| fixed.checked_add(n))
        .filter(|&end| end <= packed.len())
        .ok_or_else(|| PackError::not_packed(path, "the manifest is cut off"))?;
    let manifest: Manifest = serde_json::from_slice(&packed[fixed..json_end])
        .map_err(|e| PackError::not_packed(path, format!("manifest: {e}")))?;
    let mut body = Vec::new();
    zstd::Decoder::new(&packed[json_end..])
        .and_then(|mut d| d.read_to_end(&mut body))
        .map_err(|e| PackError::not_packed(path, format!("body: {e}")))?;
    Ok((manifest, body))
}

/// Restores the checkpoint packed in `src` into `dest` (written atomically, only once its sha256
/// matches the recorded one). `base` is required when the file was packed against one.
pub fn unpack(src: &Path, base: Option<&Path>, dest: &Path) -> Result<UnpackSummary, PackError> {
    let (manifest, body) = read_packed(src, &read(src)?)?;
    let base = match (&manifest.base_sha256, base) {
        (None, _) => None,
        (Some(sha256), None) => {
            return Err(PackError::BaseRequired {
                path: src.to_path_buf(),
                sha256: sha256.clone(),
            })
        }
        (Some(expected), Some(path)) => {
            let bytes = read(path)?;
            let found = sha256_hex(&bytes);
            if &found != expected {
                return Err(PackError::BaseMismatch {
                    path: path.to_path_buf(),
                    expected: expected.clone(),
                    found,
                });
            }
            Some((path, bytes))
        }
    };
    let restored = restore(
        src,
        &manifest,
        &body,
        base.as_ref().map(|(p, b)| (*p, b.as_slice())),
    )?;
    let found = sha256_hex(&restored);
    if found != manifest.sha256 {
        return Err(PackError::HashMismatch {
            path: src.to_path_buf(),
            expected: manifest.sha256,
            found,
        });
    }
    write_atomic(dest, &restored)?;
    Ok(UnpackSummary {
        bytes: restored.len(),
        sha256: found,
    })
}

/// The original bytes from the manifest, the body and the base checkpoint's bytes.
fn restore(
    src: &Path,
    manifest: &Manifest,
    body: &[u8],
    base: Option<(&Path, &[u8])>,
) -> Result<Vec<u8>, PackError> {
    let damaged = |what: &str| PackError::not_packed(src, what.to_string());
    let header = body
        .get(..manifest.header_bytes)
        .ok_or_else(|| damaged("the header is cut off"))?;
    let base = base
        .map(|(path, bytes)| metadata(path, bytes).map(|(start, meta)| (&bytes[start..], meta)))
        .transpose()?;
    let mut out = Vec::with_capacity(manifest.bytes);
    out.extend_from_slice(header);
    let mut payloads = &body[manifest.header_bytes..];
    for segment in &manifest.segments {
        let len = segment
            .end
            .checked_sub(segment.start)
            .ok_or_else(|| damaged("a segment ends before it starts"))?;
        if payloads.len() < segment.payload || out.len() != manifest.header_bytes + segment.start {
            return Err(damaged("a segment is cut off or out of place"));
        }
        let (payload, rest) = payloads.split_at(segment.payload);
        payloads = rest;
        match segment.encoding {
            Encoding::Raw if payload.len() == len => out.extend_from_slice(payload),
            Encoding::Raw => return Err(damaged("a raw segment has the wrong size")),
            Encoding::Q4F16 => out.extend(
                decode_q4(payload, len).ok_or_else(|| damaged("a 4-bit tensor is cut off"))?,
            ),
            Encoding::Base | Encoding::BaseXor => {
                let (data, meta) = base.as_ref().ok_or_else(|| damaged("no base checkpoint"))?;
                let widened = meta
                    .info(segment.base_name.as_deref().unwrap_or(&segment.name))
                    .zip(segment.dtype.zip(segment.shape.as_deref()))
                    .and_then(|(info, (dtype, shape))| {
                        base_as(&base_tensor(info, data), dtype, shape)
                    })
                    .filter(|bytes| bytes.len() == len)
                    .ok_or_else(|| {
                        damaged("a tensor of the base checkpoint is missing or differs")
                    })?;
                if segment.encoding == Encoding::Base {
                    out.extend(widened);
                } else if payload.len() == len {
                    let bytes = from_planes(payload, element_bytes(segment.dtype));
                    out.extend(xor(&bytes, &widened));
                } else {
                    return Err(damaged("an XOR segment has the wrong size"));
                }
            }
        }
    }
    if out.len() != manifest.bytes || !payloads.is_empty() {
        return Err(damaged("the body does not add up to the recorded size"));
    }
    Ok(out)
}
