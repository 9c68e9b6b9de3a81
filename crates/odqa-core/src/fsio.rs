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

/// Copies the (small: it is read whole) file `from` to `to` as [`write_atomic`] writes: never a
/// half-written `to`, and the mode of a new file (a read-only source does not make a read-only
/// copy, as `std::fs::copy` would).
pub fn copy_atomic(from: &Path, to: &Path) -> Result<(), CoreError> {
    let bytes = std::fs::read(from).map_err(|e| CoreError::io(from, e))?;
    write_atomic(to, &bytes)
}

/// Writes several files as [`write_atomic`] does each, as nearly together as a file system
/// allows: every file is first written and synced under a temporary name, and only then are they
/// renamed into place, in the order given, one right after the other. A failure before the renames
/// (a full disk, say) leaves every destination as it was. What remains is the moment between two
/// renames: a process killed there leaves the files renamed so far new and the others old, so give
/// last the file whose presence says the others are complete.
pub fn write_atomic_all(files: &[(&Path, &[u8])]) -> Result<(), CoreError> {
    let temporaries = files
        .iter()
        .map(|(path, bytes)| temporary(path, bytes))
        .collect::<Result<Vec<_>, _>>()?;
    for (tmp, (path, _)) in temporaries.into_iter().zip(files) {
        tmp.persist(path)
            .map_err(|e| CoreError::io(*path, e.error))?;
    }
    Ok(())
}

/// Checks, before any work, that writing `outputs` will succeed and destroys nothing: no output is
/// the same file as an input or as another output (compared as [`resolve`]d paths, and by inode
/// where both exist, so `./a` and `a`, a link and its target, two hard links are one file); the
/// folder of every output exists and takes a new file (one is created there and removed); no
/// output is a directory.
pub fn check_outputs(inputs: &[&Path], outputs: &[&Path]) -> Result<(), CoreError> {
    for (i, &output) in outputs.iter().enumerate() {
        if let Some(&input) = inputs.iter().find(|input| same_file(input, output)) {
            return Err(CoreError::OutputIsInput {
                output: output.to_path_buf(),
                input: input.to_path_buf(),
            });
        }
        if let Some(&other) = outputs[..i].iter().find(|other| same_file(other, output)) {
            return Err(CoreError::SameOutput {
                output: output.to_path_buf(),
                other: other.to_path_buf(),
            });
        }
        check_writable(output)?;
    }
    Ok(())
}

/// True when `a` and `b` name one file (see [`check_outputs`]).
fn same_file(a: &Path, b: &Path) -> bool {
    if resolve(a) == resolve(b) {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    false
}

/// Refuses an output whose folder is missing or takes no new file, or that is a directory.
fn check_writable(path: &Path) -> Result<(), CoreError> {
    let unwritable = |reason: String| CoreError::Unwritable {
        path: path.to_path_buf(),
        reason,
    };
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(unwritable(format!("no such directory {}", dir.display())));
    }
    if path.is_dir() {
        return Err(unwritable("it is a directory".into()));
    }
    tempfile::Builder::new()
        .prefix(".odqa-write-check.")
        .tempfile_in(dir)
        .map_err(|e| unwritable(format!("no file can be created in {}: {e}", dir.display())))?;
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
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Exchanges `a` and `b` (files or directories, both existing) in one step, so that neither name
/// is ever missing: Linux's `renameat2(RENAME_EXCHANGE)`, then the parent folder synced. `Ok(false)`
/// where the system or the file system cannot exchange (the caller falls back to two renames);
/// any other failure is an error and changes nothing.
pub fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    match exchange_now(a, b) {
        Ok(()) => {
            sync_dir(parent_dir(b));
            Ok(true)
        }
        Err(e) if exchange_unsupported(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(target_os = "linux")]
fn exchange_now(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    Ok(renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE)?)
}

#[cfg(not(target_os = "linux"))]
fn exchange_now(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Renames `from` to `to` only if nothing is at `to`: Linux's `renameat2(RENAME_NOREPLACE)` (a
/// file or folder that appeared at `to` since it was checked is never replaced, an error of kind
/// `AlreadyExists` instead), else a check then a plain rename; then the parent folder synced.
pub fn rename_new(from: &Path, to: &Path) -> std::io::Result<()> {
    match rename_noreplace(from, to) {
        Err(e) if exchange_unsupported(&e) => {
            if to.symlink_metadata().is_ok() {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            std::fs::rename(from, to)?;
        }
        other => other?,
    }
    sync_dir(parent_dir(to));
    Ok(())
}

#[cfg(target_os = "linux")]
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    Ok(renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE)?)
}

#[cfg(not(target_os = "linux"))]
fn rename_noreplace(_from: &Path, _to: &Path) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// True for the errors of a kernel or file system without `RENAME_EXCHANGE` (or
/// `RENAME_NOREPLACE`).
fn exchange_unsupported(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    e.kind() == std::io::ErrorKind::Unsupported
        || matches!(
            e.raw_os_error(),
            Some(code) if [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP]
                .iter()
                .any(|errno| errno.raw_os_error() == code)
        )
}

/// Makes the renames in `dir` durable (best effort: a folder that cannot be opened is skipped).
pub fn sync_dir(dir: &Path) {
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_swaps_two_directories_in_one_step_or_says_it_cannot() {
        let root = tempfile::tempdir().unwrap();
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        for (dir, mark) in [(&a, "old"), (&b, "new")] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("mark"), mark).unwrap();
        }
        let swapped = exchange(&b, &a).unwrap();
        let read = |d: &Path| std::fs::read_to_string(d.join("mark")).unwrap();
        if swapped {
            assert_eq!((read(&a), read(&b)), ("new".to_string(), "old".to_string()));
        } else {
            assert_eq!((read(&a), read(&b)), ("old".to_string(), "new".to_string()));
        }
        assert_eq!(
            swapped,
            cfg!(target_os = "linux"),
            "tmpfs and ext4 can exchange"
        );
        assert!(exchange(&a, &root.path().join("missing")).is_err());
    }

    #[test]
    fn a_new_name_is_never_taken_over() {
        let root = tempfile::tempdir().unwrap();
        let (from, to) = (root.path().join("staged"), root.path().join("out"));
        std::fs::create_dir(&from).unwrap();
        // An empty folder that appeared at the target: a plain rename would replace it.
        std::fs::create_dir(&to).unwrap();
        let err = rename_new(&from, &to).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(from.is_dir());
        std::fs::remove_dir(&to).unwrap();
        rename_new(&from, &to).unwrap();
        assert!(to.is_dir() && !from.exists());
    }

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

    #[test]
    fn several_files_are_replaced_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
        write_atomic_all(&[(&a, b"a1"), (&b, b"b1")]).unwrap();
        assert_eq!(
            (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap()),
            (b"a1".to_vec(), b"b1".to_vec())
        );
        // The second cannot be written: the first is not replaced either.
        let missing = dir.path().join("missing/c.json");
        assert!(write_atomic_all(&[(&a, b"a2"), (&missing, b"c")]).is_err());
        assert_eq!(std::fs::read(&a).unwrap(), b"a1");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "a temporary file was left"
        );
    }

    #[test]
    fn an_output_that_is_an_input_or_another_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("q.json");
        std::fs::write(&input, b"{}").unwrap();
        let other = dir.path().join("p.json");
        let same = dir.path().join("./sub/../q.json");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let err = check_outputs(&[&input], &[&other, &same]).unwrap_err();
        assert!(
            matches!(err, CoreError::OutputIsInput { ref input, .. } if input.ends_with("q.json")),
            "{err}"
        );
        assert!(err.is_bad_input());
        // Two outputs, one of which does not exist yet, spelled two ways.
        let again = dir.path().join("sub/../p.json");
        let err = check_outputs(&[&input], &[&other, &again]).unwrap_err();
        assert!(matches!(err, CoreError::SameOutput { .. }), "{err}");
        #[cfg(unix)]
        {
            let link = dir.path().join("hard.json");
            std::fs::hard_link(&input, &link).unwrap();
            assert!(
                check_outputs(&[&input], &[&link]).is_err(),
                "a hard link is the same file"
            );
        }
        check_outputs(&[&input], &[&other]).unwrap();
        assert!(!other.exists(), "the check writes nothing");
    }

    #[test]
    fn an_output_that_cannot_be_written_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [dir.path().join("no/p.json"), dir.path().to_path_buf()];
        for path in &cases {
            let err = check_outputs(&[], &[path]).unwrap_err();
            assert!(
                matches!(err, CoreError::Unwritable { path: ref p, .. } if p == path),
                "{err}"
            );
        }
        assert!(check_outputs(&[], &[&cases[0]])
            .unwrap_err()
            .to_string()
            .contains("no such directory"));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the probe file was left"
        );
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
        assert_eq!(
            format!("{:o}", mode(&atomic)),
            "640",
            "mode of a replaced file"
        );
    }
}
