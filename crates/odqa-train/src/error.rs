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
    /// A setting the run cannot do without, named by its settings-file key (`model`, `out`,
    /// `train`).
    #[error("no {what}: set `{key}`")]
    MissingSetting {
        /// The settings-file key.
        key: &'static str,
        /// What it is, in words.
        what: &'static str,
    },
    /// As many sampling rates as training sets are needed.
    #[error("{sets} training sets but {rates} sampling rates: give one `train_rates` entry per `train` entry")]
    RatesMismatch {
        /// Training sets given.
        sets: usize,
        /// Sampling rates given.
        rates: usize,
    },
    /// A `--resume` directory that does not belong to this run.
    #[error("{path}: {message}")]
    BadResume {
        /// The checkpoint directory.
        path: PathBuf,
        /// Why it cannot be resumed.
        message: String,
    },
    /// The output directory holds something (an earlier run, a model) that the run would replace,
    /// while the run neither resumes from a checkpoint in it nor may overwrite it
    /// ([`crate::TrainOptions::overwrite`]).
    #[error("{dir} already holds a model or a training run")]
    OutputExists {
        /// The output directory.
        dir: PathBuf,
    },
    /// The output directory is, or holds, an input of the run (the starting model; with
    /// overwrite, a data set), which the run would overwrite or delete.
    #[error(
        "{dir} is or holds {input}, an input of this run, which training would overwrite or delete"
    )]
    OutputHoldsInput {
        /// The output directory.
        dir: PathBuf,
        /// The input inside it.
        input: PathBuf,
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
            | TrainError::MissingSetting { .. }
            | TrainError::RatesMismatch { .. }
            | TrainError::BadResume { .. }
            | TrainError::OutputExists { .. }
            | TrainError::OutputHoldsInput { .. } => true,
            TrainError::Reader(e) => e.is_bad_input(),
            TrainError::Data(e) => e.is_bad_input(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
