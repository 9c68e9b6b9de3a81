//! The output directory: refused when it exists with something in it, written under a temporary
//! name beside it and renamed into place only when complete, so a failure leaves nothing at it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ImportError;

/// Refuses an output that exists and is not an empty directory (a missing parent is created when
/// the output is written, as `mkdir -p` would).
pub fn check(out: &Path) -> Result<(), ImportError> {
    let exists = |reason: &str| ImportError::OutputExists {
        path: out.to_path_buf(),
        reason: reason.to_string(),
    };
    match std::fs::read_dir(out).map(|mut entries| entries.next().is_some()) {
        Ok(true) => return Err(exists("not empty")),
        Ok(false) => return Ok(()),
        Err(_) if out.symlink_metadata().is_ok() => return Err(exists("not a directory")),
        Err(_) => {}
    }
    Ok(())
}

/// A temporary directory beside the output, removed unless [`Staging::commit`] renames it.
pub struct Staging {
    dir: tempfile::TempDir,
    out: PathBuf,
}

impl Staging {
    /// Creates the temporary directory beside `out` (with the mode `mkdir` would give it), and
    /// `out`'s missing parents.
    pub fn new(out: &Path) -> Result<Self, ImportError> {
        let parent = odqa_core::fsio::parent_dir(out);
        std::fs::create_dir_all(parent).map_err(|e| ImportError::write(parent, e))?;
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned());
        let prefix = format!(".{}.import.", name.unwrap_or_default());
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o777));
        }
        let dir = builder
            .tempdir_in(parent)
            .map_err(|e| ImportError::write(parent, e))?;
        Ok(Staging {
            dir,
            out: out.to_path_buf(),
        })
    }

    /// The path of `name` inside the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes and syncs the file `name`.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), ImportError> {
        let path = self.path(name);
        let fail = |e| ImportError::write(&path, e);
        let mut file = std::fs::File::create(&path).map_err(fail)?;
        file.write_all(bytes).map_err(fail)?;
        file.sync_all().map_err(fail)
    }

    /// Renames the directory to the output (replacing an empty directory there).
    pub fn commit(self) -> Result<(), ImportError> {
        std::fs::rename(self.dir.path(), &self.out)
            .map_err(|e| ImportError::write(&self.out, e))?;
        let _ = self.dir.keep();
        odqa_core::fsio::sync_dir(odqa_core::fsio::parent_dir(&self.out));
        Ok(())
    }
}
