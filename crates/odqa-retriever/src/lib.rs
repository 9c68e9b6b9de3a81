//! Korean- and English-aware BM25 passage retrieval for odqa, built on tantivy.
//!
//! - [`build_index`] streams corpus files into a new index, atomically.
//! - [`Retriever`] opens an index (re-registering its analyzer) and answers questions, one at a
//!   time or in parallel batches.
//! - [`dense`]: passage vectors beside the index (written resumably, searched exactly).
//! - [`verify_index`] checks an index for damage (every opening checks most of it too).
//! - [`eval`] measures answer- and title-recall@k on SQuAD-format question sets.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod analysis;
pub mod bm25;
mod build;
pub mod dense;
mod error;
pub mod eval;
pub mod fusion;
mod guard;
mod ingest;
mod integrity;
pub mod layout;
mod options;
mod readonly;
mod search;
mod swap;
mod verify;

pub use analysis::{AnalyzerConfig, Language};
pub use bm25::{Bm25Overrides, Bm25Params, Idf};
pub use build::{
    build_index, build_index_with_progress, BuildOptions, BuildProgress, BuildSummary,
    LanguageChoice,
};
pub use dense::{DenseEncoder, DenseIndex, DenseMeta};
pub use error::{Result, RetrieverError};
pub use fusion::{Fusion, RetrieverMode};
pub use integrity::{FileSum, FileSums};
pub use layout::IndexMeta;
/// The cancellation flag [`build_index`] polls (re-exported from `odqa_core::control`).
pub use odqa_core::control::CancelToken;
pub use search::{score_label, DenseSettings, Hit, QueryEncoder, Retriever};
pub use verify::{verify_index, VerifyReport};

#[cfg(test)]
mod sharing_tests;
