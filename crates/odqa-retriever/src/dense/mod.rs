//! Dense passage vectors beside the BM25 index, and exact search over them.
//!
//! An index directory may hold `dense/`:
//!
//! - `vectors.f16`: one row per indexed (distinct) passage in corpus order — row `i` is the
//!   passage whose `corpus_order` is `i` — each of `dim` IEEE half-precision values, little-endian,
//!   row-major, nothing else (`count · dim · 2` bytes).
//! - `dense.json` ([`DenseMeta`]): the format, `dim`, `count`, the encoder that computed the
//!   vectors and how ([`DenseEncoder`]: its weights' sha256, prefixes, pooling, token limit), the
//!   checksum of the `odqa-index.json` they were computed for (a rebuilt BM25 index invalidates
//!   them) and the length and xxh3-64 of `vectors.f16`.
//!
//! It is written by [`build::DenseBuild`] (resumable, installed atomically) and read whole into
//! memory as `f32` by [`DenseIndex::open`] (200,000 passages of 384 values: 154 MB on disk,
//! 307 MB in memory); search is exact ([`kernel`]).

pub mod build;
pub mod kernel;
pub mod shards;
#[cfg(test)]
mod shards_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, RetrieverError};
use crate::integrity::{self, FileSum};
use crate::layout::META_FILE;
pub use kernel::Scored;

/// The directory of an index that holds its dense vectors.
pub const DENSE_DIR: &str = "dense";
/// The vectors file inside [`DENSE_DIR`].
pub const VECTORS_FILE: &str = "vectors.f16";
/// The metadata file inside [`DENSE_DIR`].
pub const DENSE_META_FILE: &str = "dense.json";
/// Version of the dense layout written by this build.
pub const DENSE_FORMAT: u32 = 1;

/// The encoder that computed a set of vectors, and how it was used. Questions must be encoded the
/// same way (same weights, the query prefix, the same pooling).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenseEncoder {
    /// The model directory, as it was given (absolute): where questions are encoded from unless
    /// another copy of the same weights is named.
    pub model: PathBuf,
    /// sha256 of the model's weights file (with its adapter's, for an adapter).
    pub sha256: String,
    /// Prefix of a question's text (`"query: "` for e5).
    pub query_prefix: String,
    /// Prefix of a passage's text (`"passage: "` for e5).
    pub passage_prefix: String,
    /// How token vectors become one vector (`"mean"`: over the real tokens).
    pub pooling: String,
    /// Vectors scaled to unit length (inner product = cosine).
    pub normalized: bool,
    /// Tokens read per text at most (longer texts are truncated).
    pub max_len: usize,
}

impl DenseEncoder {
    /// What the encoder reads for a passage: the passage prefix, then `title text` (the title and
    /// a space left out when there is no title).
    pub fn passage_text(&self, title: &str, text: &str) -> String {
        if title.trim().is_empty() {
            format!("{}{text}", self.passage_prefix)
        } else {
            format!("{}{title} {text}", self.passage_prefix)
        }
    }

    /// What the encoder reads for a question.
    pub fn query_text(&self, question: &str) -> String {
        format!("{}{question}", self.query_prefix)
    }
}

/// `dense.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseMeta {
    /// Layout version ([`DENSE_FORMAT`]).
    pub format: u32,
    /// Version of odqa that wrote the vectors.
    pub odqa_version: String,
    /// Values per vector.
    pub dim: usize,
    /// Vectors (= distinct passages of the index).
    pub count: u64,
    /// Storage type of the values (`"f16"`).
    pub dtype: String,
    /// The encoder.
    pub encoder: DenseEncoder,
    /// Checksum of the index's `odqa-index.json` the rows follow.
    pub index_meta: FileSum,
    /// Checksum of `vectors.f16`.
    pub vectors: FileSum,
    /// Seconds spent embedding (summed over resumed runs).
    pub seconds: f64,
}

/// The dense vectors of an index, in memory, ready for exact search.
pub struct DenseIndex {
    meta: DenseMeta,
    rows: Vec<f32>,
}

impl DenseIndex {
    /// Whether the index `dir` has dense vectors.
    pub fn exists(dir: &Path) -> bool {
        dir.join(DENSE_DIR).join(DENSE_META_FILE).is_file()
    }

    /// Reads `dense/` of the index `dir`: its metadata, the vectors' checksum, and that they were
    /// computed for this build of the index. A missing directory says how to make one.
    pub fn open(dir: &Path) -> Result<DenseIndex> {
        let meta = Self::read_meta(dir)?;
        let dense = dir.join(DENSE_DIR);
        let now = integrity::sum_file(&dir.join(META_FILE))?;
        if now != meta.index_meta {
            return Err(RetrieverError::BadIndex {
                path: dense.clone(),
                message: "the dense vectors were computed for another build of this index \
                          (its odqa-index.json changed); compute them again (`odqa index-dense`)"
                    .into(),
            });
        }
        // Read once: checked against dense.json's record, then converted.
        let path = dense.join(VECTORS_FILE);
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RetrieverError::Corrupt {
                path: path.clone(),
                message: "missing".into(),
            },
            _ => RetrieverError::io(&path, e),
        })?;
        integrity::check_sum(
            &path,
            &integrity::sum_bytes(&bytes),
            &meta.vectors,
            DENSE_META_FILE,
        )?;
        let expected = usize::try_from(meta.count)
            .ok()
            .and_then(|n| n.checked_mul(meta.dim)?.checked_mul(2));
        if expected != Some(bytes.len()) || meta.dim == 0 {
            return Err(RetrieverError::Corrupt {
                path,
                message: format!(
                    "{} bytes, but {} vectors of {} values take {}",
                    bytes.len(),
                    meta.count,
                    meta.dim,
                    expected.map_or("more than this machine can address".into(), |e| e
                        .to_string())
                ),
            });
        }
        let rows = f16_bytes_to_f32(&bytes);
        Ok(DenseIndex { meta, rows })
    }

    /// Reads and checks `dense/dense.json` of the index `dir`.
    pub fn read_meta(dir: &Path) -> Result<DenseMeta> {
        let path = dir.join(DENSE_DIR).join(DENSE_META_FILE);
        let bytes = std::fs::read(&path).map_err(|e| RetrieverError::BadIndex {
            path: dir.to_path_buf(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                "the index has no dense vectors; compute them with `odqa index-dense`".into()
            } else {
                format!("cannot read {}: {e}", path.display())
            },
        })?;
        let meta: DenseMeta =
            serde_json::from_slice(&bytes).map_err(|e| RetrieverError::Corrupt {
                path: path.clone(),
                message: format!("unreadable dense metadata: {e}"),
            })?;
        if meta.format != DENSE_FORMAT || meta.dtype != "f16" {
            return Err(RetrieverError::BadIndex {
                path,
                message: format!(
                    "dense format {} ({}) but this odqa reads format {DENSE_FORMAT} (f16); \
                     compute the vectors again",
                    meta.format, meta.dtype
                ),
            });
        }
        Ok(meta)
    }

    /// The metadata.
    pub fn meta(&self) -> &DenseMeta {
        &self.meta
    }

    /// Values per vector.
    pub fn dim(&self) -> usize {
        self.meta.dim
    }

    /// The vector of the passage with corpus order `row`.
    pub fn vector(&self, row: u64) -> Option<&[f32]> {
        let d = self.meta.dim;
        let start = usize::try_from(row).ok()?.checked_mul(d)?;
        self.rows.get(start..start.checked_add(d)?)
    }

    /// The best `k` passages (corpus orders) for the unit vector `query`, best first.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Scored>> {
        self.check_query(query)?;
        Ok(kernel::top_k(
            &self.rows,
            self.meta.dim,
            query,
            self.at_most(k),
        ))
    }

    /// [`Self::search`] for many queries (the same results, faster per query).
    pub fn search_batch(&self, queries: &[&[f32]], k: usize) -> Result<Vec<Vec<Scored>>> {
        queries.iter().try_for_each(|q| self.check_query(q))?;
        Ok(kernel::top_k_batch(
            &self.rows,
            self.meta.dim,
            queries,
            self.at_most(k),
        ))
    }

    /// `k`, at most the number of vectors (a huge `k` allocates nothing more).
    fn at_most(&self, k: usize) -> usize {
        k.min(usize::try_from(self.meta.count).unwrap_or(usize::MAX))
    }

    fn check_query(&self, query: &[f32]) -> Result<()> {
        if query.len() != self.meta.dim {
            return Err(RetrieverError::InvalidArgument(format!(
                "a query vector of {} values for passage vectors of {}",
                query.len(),
                self.meta.dim
            )));
        }
        Ok(())
    }
}

/// Little-endian half-precision values as `f32`.
pub(crate) fn f16_bytes_to_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect()
}

/// `f32` values as little-endian half-precision bytes (rounded to nearest).
pub(crate) fn f32_to_f16_bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect()
}
