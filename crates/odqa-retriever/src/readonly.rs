//! Opening an index for search without writing to it.
//!
//! tantivy's reader takes the `.tantivy-meta.lock` file lock while it opens the segments (so that
//! a writer in another process cannot garbage-collect them meanwhile): it opens that file for
//! writing, creating it when missing. Another user, a read-only mount or a read-only volume then
//! cannot open the index. odqa never changes an index once it is built (a rebuild makes a new
//! directory and swaps it in), so its readers need no lock: [`ReadOnlyDirectory`] serves
//! tantivy's reads from a [`MmapDirectory`], refuses every write, and takes no locks.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle, WritePtr,
};

use crate::error::{Result, RetrieverError};

/// A tantivy [`Directory`] that reads an index and never writes to it.
#[derive(Debug, Clone)]
pub(crate) struct ReadOnlyDirectory {
    inner: MmapDirectory,
    refused: Arc<AtomicUsize>,
}

impl ReadOnlyDirectory {
    /// The index directory `dir`, read-only.
    pub(crate) fn open(dir: &Path) -> Result<ReadOnlyDirectory> {
        let inner = MmapDirectory::open(dir).map_err(|e| RetrieverError::BadIndex {
            path: dir.to_path_buf(),
            message: format!("unreadable index: {e}"),
        })?;
        Ok(ReadOnlyDirectory {
            inner,
            refused: Arc::default(),
        })
    }

    /// How many writes were refused (by this directory and its clones).
    #[cfg(test)]
    pub(crate) fn refused_writes(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }

    fn refuse(&self, path: &Path) -> io::Error {
        self.refused.fetch_add(1, Ordering::Relaxed);
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{}: the index is open read-only", path.display()),
        )
    }
}

impl Directory for ReadOnlyDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        Err(DeleteError::IoError {
            io_error: Arc::new(self.refuse(path)),
            filepath: path.to_path_buf(),
        })
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::wrap_io_error(
            self.refuse(path),
            path.to_path_buf(),
        ))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, _data: &[u8]) -> io::Result<()> {
        Err(self.refuse(path))
    }

    /// Nothing was written, so there is nothing to sync.
    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    /// No lock: the files of a built index never change (nor does any writer collect them).
    fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }

    /// Nothing changes, so there is nothing to watch (and no watcher thread).
    fn watch(&self, _callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(WatchHandle::empty())
    }
}

/// Opens the tantivy index in `dir` read-only: no lock file, no write, no watcher.
pub(crate) fn open_index(dir: &Path) -> Result<(tantivy::Index, ReadOnlyDirectory)> {
    let directory = ReadOnlyDirectory::open(dir)?;
    let index = tantivy::Index::open(directory.clone()).map_err(|e| RetrieverError::BadIndex {
        path: dir.to_path_buf(),
        message: format!("unreadable index: {e}"),
    })?;
    Ok((index, directory))
}

#[cfg(test)]
mod tests {
    use tantivy::collector::Count;
    use tantivy::query::AllQuery;
    use tantivy::{ReloadPolicy, TantivyDocument};

    use super::*;
    use crate::sharing_tests::tiny_index;

    /// Searching, reading every stored passage and checking every checksum asks for no write;
    /// a write asked for is refused (and counted).
    #[test]
    fn reading_an_index_asks_for_no_write() {
        let (_tmp, dir) = tiny_index();
        let (index, directory) = open_index(&dir).unwrap();
        let reader: tantivy::IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .unwrap();
        let searcher = reader.searcher();
        assert_eq!(searcher.search(&AllQuery, &Count).unwrap(), 2);
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            for doc in 0..segment.max_doc() {
                let address = tantivy::DocAddress::new(ord as u32, doc);
                let _: TantivyDocument = searcher.doc(address).unwrap();
            }
        }
        assert!(index.validate_checksum().unwrap().is_empty());
        reader.reload().unwrap();
        assert_eq!(directory.refused_writes(), 0);
        assert!(directory
            .atomic_write(Path::new("meta.json"), b"{}")
            .is_err());
        assert!(directory.delete(Path::new("meta.json")).is_err());
        assert_eq!(directory.refused_writes(), 2);
        assert!(dir.join("meta.json").exists());
    }
}
