//! Shared types and data readers for odqa.
//!
//! - [`corpus`]: streaming readers for passage corpora (JSONL, the competition's
//!   `wikipedia_documents.json`, SQuAD contexts) and passage splitting.
//! - [`hf_dataset`]: Hugging Face `save_to_disk` folders (competition Arrow datasets).
//! - [`squad`]: SQuAD v1.1-format question sets (KorQuAD, XQuAD) for evaluation and training.
//! - [`questions`]: question files for `predict` (test_dataset Arrow, SQuAD JSON, JSONL), checked.
//! - [`shard`]: `predict --shard I/N` and the byte-exact merge of the partial files.
//! - [`metrics`]: KorQuAD v1.0 and SQuAD v1.1 EM/F1, as the official scripts.
//! - [`josa`]: the Korean particles and endings stripped from answers and retrieval terms.
//! - [`text`]: small text helpers shared by the crates (character offsets, normalisation).
//! - [`control`]: progress and cancellation of long calls ([`control::Observer`],
//!   [`control::CancelToken`]), one style for every crate.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod control;
pub mod corpus;
mod error;
pub mod fsio;
pub mod hf_dataset;
pub mod josa;
pub mod metrics;
pub mod predictions;
pub mod questions;
pub mod scheduler;
pub mod shard;
pub mod split;
pub mod squad;
pub mod text;

pub use error::{CoreError, Location};

/// One retrievable unit of text: a whole document or a window of a long one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Passage {
    /// Unique passage id (the corpus id; `DOCID#N` for the N-th window of a split document).
    pub id: String,
    /// Title of the document the passage comes from (may be empty).
    pub title: String,
    /// The passage text.
    pub text: String,
    /// Id of the source document (equal to `id` for unsplit documents).
    pub doc_id: String,
    /// Offset of `text` in the source document, in Unicode characters (as Python indexes strings).
    pub char_offset: usize,
    /// Extra fields of the source record, kept as stored metadata.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
}
