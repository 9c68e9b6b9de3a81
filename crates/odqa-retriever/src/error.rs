use std::path::PathBuf;

use odqa_core::CoreError;

/// Errors of index building and retrieval.
#[derive(Debug, thiserror::Error)]
pub enum RetrieverError {
    /// A corpus or dataset file could not be read or is malformed.
    #[error(transparent)]
    Input(#[from] CoreError),
    /// A file system operation on the index directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The directory is not an odqa index (or an unreadable one).
    #[error("{path}: {message}")]
    BadIndex {
        /// The index directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file of the index is damaged: a checksum mismatch, a missing file, data tantivy cannot
    /// read.
    #[error("{path}: damaged index: {message}")]
    Corrupt {
        /// The damaged file (the index directory when the file is not known).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An empty (or blank) question.
    #[error("the question is empty")]
    EmptyQuestion,
    /// A question that analyses to no term (only punctuation or symbols).
    #[error("the question {question:?} has no searchable words (only punctuation or symbols)")]
    NoSearchableWords {
        /// The question.
        question: String,
    },
    /// An invalid request: bad parameters, nothing to index.
    #[error("{0}")]
    InvalidArgument(String),
    /// Indexing or a recall evaluation was stopped (a cancelled `CancelToken`, Ctrl-C); nothing
    /// was changed.
    #[error("interrupted: the index was not changed")]
    Interrupted,
    /// The question encoder of dense retrieval failed.
    #[error("cannot encode the question: {0}")]
    Encoding(String),
    /// tantivy failed.
    #[error("index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}

impl RetrieverError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RetrieverError::Io {
            path: path.into(),
            source,
        }
    }

    /// True for errors caused by what the user gave (files, arguments): exit status 2.
    pub fn is_bad_input(&self) -> bool {
        match self {
            RetrieverError::Input(e) => e.is_bad_input(),
            RetrieverError::BadIndex { .. }
            | RetrieverError::Corrupt { .. }
            | RetrieverError::InvalidArgument(_)
            | RetrieverError::EmptyQuestion
            | RetrieverError::NoSearchableWords { .. } => true,
            _ => false,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = RetrieverError> = std::result::Result<T, E>;
