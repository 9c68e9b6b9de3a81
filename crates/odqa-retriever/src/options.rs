//! The options and the results of a build ([`crate::build_index`]).

use std::time::Duration;

use odqa_core::split::SplitMode;

use crate::analysis::Language;
use crate::bm25::Bm25Overrides;
use crate::layout::IndexMeta;

/// Most warnings kept in a [`BuildSummary`] (the counts are always complete).
pub(crate) const MAX_WARNINGS: usize = 20;

/// How to choose the analyzer language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LanguageChoice {
    /// A fixed language.
    Fixed(Language),
    /// Guess from the first records of the first corpus file.
    Auto,
}

/// Options of [`crate::build_index`].
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Analyzer language.
    pub language: LanguageChoice,
    /// Emit Hangul bigrams (Korean).
    pub hangul_bigrams: bool,
    /// Also index Korean words without their trailing particle.
    pub strip_josa: bool,
    /// Split long documents into passages.
    pub split: Option<SplitMode>,
    /// Skip invalid records and duplicate ids (with warnings) instead of failing.
    pub skip_invalid: bool,
    /// Indexing threads.
    pub threads: usize,
    /// tantivy's total indexing memory budget in bytes.
    pub memory_budget: usize,
    /// Changes to the language's default BM25 parameters ([`crate::Bm25Params::for_language`]) recorded
    /// in the index as its retrieval defaults.
    pub bm25: Bm25Overrides,
}

/// How far a build got ([`crate::build_index_with_progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildProgress {
    /// Reading the corpora: `bytes` of `total_bytes` read, `passages` indexed so far.
    Reading {
        /// Bytes of the corpus files read.
        bytes: u64,
        /// Their total size.
        total_bytes: u64,
        /// Passages indexed.
        passages: u64,
    },
    /// Every record read; tantivy commits the `passages`.
    Committing {
        /// Passages indexed.
        passages: u64,
    },
    /// Merging the index segments into one.
    Merging,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            language: LanguageChoice::Auto,
            hangul_bigrams: true,
            strip_josa: true,
            split: None,
            skip_invalid: false,
            threads: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(8),
            memory_budget: 512 << 20,
            bm25: Bm25Overrides::default(),
        }
    }
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct BuildSummary {
    /// The metadata written into the index.
    pub meta: IndexMeta,
    /// Records read from the corpus files.
    pub records: u64,
    /// Records skipped as invalid or as a duplicate id (with `skip_invalid`).
    pub skipped: u64,
    /// Records with an empty text (never indexed).
    pub empty: u64,
    /// Records repeated verbatim (same id and text), indexed once.
    pub repeated: u64,
    /// Passages whose text duplicated an earlier passage (kept as aliases).
    pub duplicate_texts: u64,
    /// The first warnings.
    pub warnings: Vec<String>,
    /// What the build cleaned up before it started, one line each: hidden directories that
    /// killed builds left beside the index, removed; a previous index they had moved aside, put
    /// back.
    pub cleaned: Vec<String>,
    /// Size of the index on disk, in bytes.
    pub index_bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}
