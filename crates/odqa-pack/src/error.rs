//! Errors of packing and unpacking, each naming the file at fault.

use std::path::{Path, PathBuf};

/// What can go wrong when packing or unpacking a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The input of `pack` (or a base checkpoint) is not a safetensors file.
    #[error("{}: not a safetensors checkpoint: {message}", path.display())]
    NotSafetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The input of `unpack` is not a packed checkpoint, or is cut off or damaged.
    #[error("{}: not a packed checkpoint (or damaged): {message}", path.display())]
    NotPacked {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The packed checkpoint refers to tensors of a base checkpoint that was not given.
    #[error("{}: packed against a base checkpoint (sha256 {sha256}); give it to unpack", path.display())]
    BaseRequired {
        /// The packed file.
        path: PathBuf,
        /// The base checkpoint's sha256.
        sha256: String,
    },
    /// The base checkpoint given is not the one the file was packed against.
    #[error("{}: not the base checkpoint this file was packed against (sha256 {found}, expected {expected})", path.display())]
    BaseMismatch {
        /// The base checkpoint given.
        path: PathBuf,
        /// The sha256 recorded at packing time.
        expected: String,
        /// The sha256 of the file given.
        found: String,
    },
    /// The restored bytes do not hash to the sha256 recorded at packing time.
    #[error("{}: the restored checkpoint's sha256 is {found}, expected {expected}; nothing was written", path.display())]
    HashMismatch {
        /// The packed file.
        path: PathBuf,
        /// The sha256 recorded at packing time.
        expected: String,
        /// The sha256 of the restored bytes.
        found: String,
    },
    /// The output could not be written.
    #[error(transparent)]
    Write(#[from] odqa_core::CoreError),
}

impl PackError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        PackError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A damaged or foreign packed file.
    pub(crate) fn not_packed(path: &Path, message: impl Into<String>) -> Self {
        PackError::NotPacked {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// True when the input is at fault (exit status 2), false for a failure to read or write.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, PackError::Io { .. } | PackError::Write(_))
    }
}
