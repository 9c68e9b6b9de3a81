use std::path::PathBuf;

/// Errors of the open-domain pipeline. File errors name the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// Reading a question set, a corpus or a predictions file failed.
    #[error(transparent)]
    Core(#[from] odqa_core::CoreError),
    /// The index could not be opened or searched.
    #[error(transparent)]
    Retriever(#[from] odqa_retriever::RetrieverError),
    /// The reader could not be loaded or run.
    #[error(transparent)]
    Reader(#[from] odqa_reader::ReaderError),
    /// A settings file is unreadable or has a bad value.
    #[error("{path}: {message}")]
    Settings {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tuning cache could not be used.
    #[error("{path}: {message}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The question cannot be answered as asked (empty, no searchable word, too long).
    #[error("{0}")]
    Question(crate::ask::QuestionError),
    /// A setting (or a per-question option) out of its range.
    #[error(transparent)]
    Setting(#[from] crate::settings::SettingError),
    /// A bad argument.
    #[error("{0}")]
    BadInput(String),
    /// Stopped on request (Ctrl-C) before finishing; nothing has been written.
    #[error("interrupted: nothing written")]
    Interrupted,
}

impl PipelineError {
    /// True for errors caused by what the user gave (exit status 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            PipelineError::Core(e) => e.is_bad_input(),
            PipelineError::Retriever(e) => e.is_bad_input(),
            PipelineError::Reader(e) => e.is_bad_input(),
            PipelineError::Settings { .. } | PipelineError::Cache { .. } => true,
            PipelineError::BadInput(_) | PipelineError::Question(_) => true,
            PipelineError::Setting(_) => true,
            PipelineError::Interrupted => false,
        }
    }
}

/// Result with [`PipelineError`].
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
