//! The window rules, written once: the overlap is shorter than the window, and the window fits
//! the model's position embeddings. The reader, the pipeline's and the trainer's settings and the
//! `read` command all check windows here.

use crate::config::ReaderConfig;

/// Window settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSettings {
    /// Window length in tokens (padded to it).
    pub max_seq_len: usize,
    /// Overlap between consecutive windows, in tokens.
    pub doc_stride: usize,
}

impl Default for WindowSettings {
    fn default() -> Self {
        WindowSettings {
            max_seq_len: 384,
            doc_stride: 128,
        }
    }
}

/// Why windows cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// The overlap is not shorter than the window.
    #[error("doc_stride {doc_stride} must be smaller than max_seq_len {max_seq_len}")]
    OverlapTooLong {
        /// The window length.
        max_seq_len: usize,
        /// The overlap.
        doc_stride: usize,
    },
    /// The window is longer than the model's positions allow.
    #[error(
        "max_seq_len {max_seq_len} exceeds what the model's {positions} position embeddings \
         allow ({allowed})"
    )]
    TooLongForModel {
        /// The window length.
        max_seq_len: usize,
        /// The model's `max_position_embeddings`.
        positions: usize,
        /// The longest window those allow.
        allowed: usize,
    },
}

impl WindowSettings {
    /// Checks that the overlap is shorter than the window.
    pub fn validate(&self) -> Result<(), WindowError> {
        if self.doc_stride >= self.max_seq_len {
            return Err(WindowError::OverlapTooLong {
                max_seq_len: self.max_seq_len,
                doc_stride: self.doc_stride,
            });
        }
        Ok(())
    }

    /// Checks that the window fits the position embeddings of the model `config` describes.
    pub fn fits(&self, config: &ReaderConfig) -> Result<(), WindowError> {
        if self.max_seq_len > config.max_sequence_len() {
            return Err(WindowError::TooLongForModel {
                max_seq_len: self.max_seq_len,
                positions: config.max_position_embeddings,
                allowed: config.max_sequence_len(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlap_must_be_shorter_than_the_window() {
        let window = |max_seq_len, doc_stride| WindowSettings {
            max_seq_len,
            doc_stride,
        };
        assert!(window(384, 128).validate().is_ok());
        assert!(window(128, 127).validate().is_ok());
        let err = window(128, 128).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "doc_stride 128 must be smaller than max_seq_len 128"
        );
    }
}
