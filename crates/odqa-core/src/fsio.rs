//! File-system helpers.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use crate::CoreError;

/// Writes `bytes` to `path` atomically: into a temporary file in the same directory, synced, then
/// renamed over `path`. An interrupted write never leaves a half-written `path`. The file gets the
/// mode a plain `File::create` would give it: a new file 0666 less the umask (not the 0600 of a
/// temporary file), a replaced file its own mode.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CoreError> {
    temporary(path, bytes)?
        .persist(path)
        .map_err(|e| CoreError::io(path, e.error))?;
    Ok(())
}

/// `bytes` in a synced temporary file beside `path`, with the mode `path` will have (see
/// [`write_atomic`]); removed when dropped unless persisted.
fn temporary(path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, CoreError> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // What File::create asks for; the kernel takes the umask off, as it does for File::create.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| CoreError::io(dir, e))?;
    if let Some(existing) = std::fs::metadata(path).ok().filter(|m| m.is_file()) {
        tmp.as_file()
            .set_permissions(existing.permissions())
            .map_err(|e| CoreError::io(tmp.path(), e))?;
    }
    tmp.write_all(bytes)
        .map_err(|e| CoreError::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| CoreError::io(tmp.path(), e))?;
    Ok(tmp)
}

/// The absolute path `path` names, with `.` and `..` applied and symbolic links resolved as far as
/// the path exists (what does not exist yet is kept as written): two spellings of one file, or a
/// link and its target, resolve to the same path.
pub fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            part => {
                out.push(part);
                if let Ok(canonical) = std::fs::canonicalize(&out) {
                    out = canonical;
                }
            }
        }
    }
    out
}

/// The folder `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_leaving_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_atomic(&dir.path().join("missing/out.json"), b"x").is_err());
    }

    #[test]
    fn resolve_names_a_file_one_way_whether_it_exists_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::create_dir(&a).unwrap();
        let canonical = std::fs::canonicalize(&a).unwrap();
        assert_eq!(resolve(&dir.path().join("a/./../a")), canonical);
        let new = canonical.join("x.json");
        assert_eq!(resolve(&dir.path().join("a/not-yet/../x.json")), new);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&a, dir.path().join("link")).unwrap();
            assert_eq!(resolve(&dir.path().join("link/x.json")), new);
        }
    }

    /// A new file gets the mode a plain `File::create` gets under the same umask (0644 under 022,
    /// not tempfile's 0600); a replaced file keeps its own mode, as `File::create` leaves it.
    #[cfg(unix)]
    #[test]
    fn written_files_get_the_mode_of_a_plain_create() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.json");
        std::fs::File::create(&plain).unwrap();
        let atomic = dir.path().join("atomic.json");
        write_atomic(&atomic, b"new").unwrap();
        assert_eq!(
            format!("{:o}", mode(&atomic)),
            format!("{:o}", mode(&plain)),
            "mode of a new file"
        );
        std::fs::set_permissions(&atomic, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&atomic, b"replaced").unwrap();
        assert_eq!(format!("{:o}", mode(&atomic)), "640", "mode of a replaced file");
    }
}
