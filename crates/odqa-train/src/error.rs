use std::path::PathBuf;

/// Errors of training: bad settings or data, an unusable resume directory, I/O.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A settings file that cannot be parsed or holds an unknown key.
    #[error("{path}: {message}")]
    BadConfig {
        /// The TOML file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Settings or data that cannot be trained on (empty training set, dev set without answers, …).
    #[error("{0}")]
    BadInput(String),
    /// A `--resume` directory that does not belong to this run.
    #[error("{path}: {message}")]
    BadResume {
        /// The checkpoint directory.
        path: PathBuf,
        /// Why it cannot be resumed.
        message: String,
    },
    /// The model could not be loaded or saved.
    #[error(transparent)]
    Reader(#[from] odqa_reader::ReaderError),
    /// A dataset could not be read.
    #[error(transparent)]
    Data(#[from] odqa_core::CoreError),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }

    /// True for errors caused by what the user gave: exit status 2.
    pub fn is_bad_input(&self) -> bool {
        match self {
            TrainError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            TrainError::BadConfig { .. }
            | TrainError::BadInput(_)
            | TrainError::BadResume { .. } => true,
            TrainError::Reader(e) => e.is_bad_input(),
            TrainError::Data(e) => e.is_bad_input(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
