use std::fmt;
use std::path::PathBuf;

/// Where in an input file something happened: the path and, when known, the 1-based line
/// (and column for JSON documents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
}

impl Location {
    /// A location at `line` (1-based) of `path`.
    pub fn line(path: impl Into<PathBuf>, line: usize) -> Self {
        Location {
            path: path.into(),
            line,
            column: 0,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        Ok(())
    }
}

/// Errors of the corpus and dataset readers. Every variant names the offending file.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Malformed JSON.
    #[error("{at}: invalid JSON: {message}")]
    Json {
        /// Where.
        at: Location,
        /// serde_json's message, without its own position suffix.
        message: String,
    },
    /// A line is not valid UTF-8.
    #[error("{at}: not valid UTF-8 (byte {byte} of the line)")]
    InvalidUtf8 {
        /// Where.
        at: Location,
        /// Byte offset of the first invalid byte within the line.
        byte: usize,
    },
    /// A record lacks a required field or has one of the wrong type.
    #[error("{at}: {message}")]
    BadRecord {
        /// Where.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// Two different records share an id.
    #[error("{at}: duplicate id {id:?} (first seen at {first})")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where the second record is.
        at: Location,
        /// Where the first one was.
        first: Location,
    },
    /// The file's format could not be recognised.
    #[error("{path}: {message}")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// What was found.
        message: String,
    },
    /// A set of files that should cover every question does not (a shard missing).
    #[error("{0}")]
    Incomplete(String),
    /// An output that cannot be written: its folder is missing or takes no new file, or it is a
    /// directory.
    #[error("cannot write {path}: {reason}")]
    Unwritable {
        /// The output.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An output that is the same file as an input: writing it would replace the input.
    #[error("cannot write {output}: it is the same file as the input {input}")]
    OutputIsInput {
        /// The output.
        output: PathBuf,
        /// The input it would replace.
        input: PathBuf,
    },
    /// Two outputs that are the same file: one would replace the other.
    #[error("cannot write {output}: it is the same file as the output {other}")]
    SameOutput {
        /// The second output.
        output: PathBuf,
        /// The first one.
        other: PathBuf,
    },
    /// The shard of a task cannot be found from its scheduler's environment (none set, malformed,
    /// or two sources disagree).
    #[error("cannot tell this task's shard: {0}")]
    Shard(String),
    /// Reading stopped because the consumer of the passages failed or asked to stop.
    #[error("{0}")]
    Aborted(String),
}

impl CoreError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.into(),
            source,
        }
    }

    /// Converts a serde_json error into [`CoreError::Json`] at its line and column.
    pub fn json(path: impl Into<PathBuf>, err: &serde_json::Error) -> Self {
        CoreError::Json {
            at: Location {
                path: path.into(),
                line: err.line(),
                column: err.column(),
            },
            message: json_message(err),
        }
    }

    /// True for errors caused by what the user gave: malformed content, or a path that does not
    /// exist, cannot be read or is not a file (as opposed to a failing disk or an abort).
    pub fn is_bad_input(&self) -> bool {
        use std::io::ErrorKind::*;
        match self {
            CoreError::Io { source, .. } => {
                matches!(
                    source.kind(),
                    NotFound | PermissionDenied | InvalidData | IsADirectory | Other
                )
            }
            CoreError::Aborted(_) => false,
            _ => true,
        }
    }
}

/// serde_json's message without the " at line L column C" it appends (we print `path:L:C`).
pub(crate) fn json_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    match full.rfind(" at line ") {
        Some(i) if err.line() > 0 => full[..i].to_string(),
        _ => full,
    }
}
