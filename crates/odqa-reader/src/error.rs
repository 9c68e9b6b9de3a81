use std::path::PathBuf;

/// Errors of model loading, tokenization and reading.
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The model directory is unusable: bad config, missing/extra/mis-shaped tensor, bad tokenizer.
    #[error("{path}: {message}")]
    BadModel {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A `config.json` size beyond what odqa accepts: it would allocate without bound or loop for
    /// ever before the checkpoint could disagree.
    #[error("{path}: {field} = {value} is beyond the limit of {limit}")]
    ConfigLimit {
        /// The `config.json`.
        path: PathBuf,
        /// The field at fault (Hugging Face's name).
        field: &'static str,
        /// Its value.
        value: usize,
        /// The largest value accepted.
        limit: usize,
    },
    /// A weight that is NaN or infinite: every answer read with it would be NaN.
    #[error(
        "{path}: tensor {tensor} holds {value} at element {index} (a corrupt checkpoint or a \
         diverged training run)"
    )]
    NonFiniteWeight {
        /// The checkpoint.
        path: PathBuf,
        /// The tensor's name in the checkpoint.
        tensor: String,
        /// Index of its first non-finite element (row-major).
        index: usize,
        /// That element (`NaN`, `inf` or `-inf`).
        value: f32,
    },
    /// `tokenizer.json` cannot be used: not UTF-8, not JSON, not a `tokenizers` file, or without
    /// the model's padding token.
    #[error("{path}: {message}")]
    BadTokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The model path is not a directory (e.g. a file inside one).
    #[error(
        "{path}: not a directory (a model is a directory holding config.json, the weights and \
         the tokenizer files)"
    )]
    NotADirectory {
        /// The path given as the model.
        path: PathBuf,
    },
    /// An input that cannot be read (e.g. a question longer than the window).
    #[error("{0}")]
    BadInput(String),
    /// Dataset reading failed.
    #[error(transparent)]
    Data(#[from] odqa_core::CoreError),
    /// The CUDA build found no usable GPU libraries.
    #[error("{0}")]
    NoGpu(String),
    /// Stopped on request (an [`odqa_core::control::Observer`] said so) before finishing.
    #[error("interrupted before every window was read")]
    Interrupted,
}

impl ReaderError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReaderError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad_model(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        ReaderError::BadModel {
            path: path.into(),
            message: message.into(),
        }
    }

    /// True for errors caused by what the user gave: exit status 2.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ReaderError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ),
            ReaderError::Data(e) => e.is_bad_input(),
            ReaderError::BadModel { .. }
            | ReaderError::ConfigLimit { .. }
            | ReaderError::NonFiniteWeight { .. }
            | ReaderError::BadTokenizer { .. }
            | ReaderError::NotADirectory { .. }
            | ReaderError::BadInput(_) => true,
            ReaderError::NoGpu(_) | ReaderError::Interrupted => false,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = ReaderError> = std::result::Result<T, E>;
