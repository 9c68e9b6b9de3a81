//! `GET /health`: what the server serves, and whether the index it opened is still the one at
//! its path (a re-index replaces the directory; the server keeps answering from the old one).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The identity of the index directory the server opened, to notice when it is replaced.
#[derive(Debug)]
pub(crate) struct IndexWatch {
    dir: Option<PathBuf>,
    opened: Option<(u64, u64)>,
    warned: AtomicBool,
}

/// The device and inode of `path` (Unix), or its modification time elsewhere.
fn identity(path: &Path) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let modified = meta.modified().ok()?;
        let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some((since.as_secs(), u64::from(since.subsec_nanos())))
    }
}

impl IndexWatch {
    /// Records the identity of `dir` now (nothing is watched without a directory).
    pub fn new(dir: Option<PathBuf>) -> IndexWatch {
        let opened = dir.as_deref().and_then(identity);
        IndexWatch {
            dir,
            opened,
            warned: AtomicBool::new(false),
        }
    }

    /// Why the index served is no longer the one at its path, if it is not; logged once.
    pub fn stale(&self) -> Option<String> {
        let dir = self.dir.as_deref()?;
        let now = identity(dir);
        if now == self.opened {
            return None;
        }
        let what = if now.is_none() { "removed" } else { "replaced" };
        let message = format!(
            "the index directory was {what} after the server started; it still answers from the \
             index it opened: restart it to serve the new one"
        );
        if !self.warned.swap(true, Ordering::SeqCst) {
            tracing::warn!("{message}");
        }
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_or_removed_directory_is_stale() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("index");
        std::fs::create_dir(&dir).unwrap();
        let watch = IndexWatch::new(Some(dir.clone()));
        assert_eq!(watch.stale(), None);
        std::fs::write(dir.join("new-file"), b"x").unwrap();
        assert_eq!(
            watch.stale(),
            None,
            "a file written inside is not a new index"
        );
        std::fs::rename(&dir, root.path().join("old")).unwrap();
        assert!(watch.stale().unwrap().contains("removed"));
        std::fs::create_dir(&dir).unwrap();
        assert!(watch.stale().unwrap().contains("replaced"));
        assert_eq!(IndexWatch::new(None).stale(), None);
    }
}
