//! Moving a finished index into place, and cleaning up after killed builds.
//!
//! A build writes into `.NAME.building-PID-N` beside the destination `NAME` (PID: the building
//! process; N tells apart builds of one process), holding an exclusive `flock` on that directory
//! while it lives. The finished index replaces an existing one in one step, `renameat2` with
//! `RENAME_EXCHANGE` (Linux), so DIR holds the old or the new index at every instant; the old one,
//! now under the building name, is removed after. Where the file system cannot exchange (not
//! Linux, some network file systems), the previous index is renamed to `NAME.old-PID`, then the new
//! one into place: a process killed between these two renames leaves no index at DIR and the
//! previous one at `NAME.old-PID`, which the next build puts back and opening DIR points to.
//!
//! At the start of a build, [`clean_leftovers`] removes the hidden directories of builds whose
//! process is gone (no `/proc/PID`) and whose lock nobody holds: what a `kill -9` or a power loss
//! left behind.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use odqa_core::fsio;

use crate::error::{Result, RetrieverError};

/// A step of [`swap_observed`], reported after it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwapStep {
    /// The previous index was moved aside (two-rename fallback only).
    MovedOldAside,
    /// The new index is at the destination (exchanged with the old one, or renamed there).
    MovedNewIn,
    /// The previous index was removed.
    RemovedOld,
}

/// The directory a build writes into, removed on drop unless [`Building::keep`] was called.
#[derive(Debug)]
pub(crate) struct Building {
    path: PathBuf,
    /// Held for the life of the build: [`clean_leftovers`] leaves a locked directory alone.
    lock: Option<File>,
}

impl Building {
    /// Creates `.NAME.building-PID-N` in `parent` (with the umask's mode, like any directory).
    pub(crate) fn create(parent: &Path, name: &str) -> Result<Building> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let pid = std::process::id();
        loop {
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!(".{name}.building-{pid}-{n}"));
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    let lock = lock_exclusive(&path).map_err(|e| RetrieverError::io(&path, e))?;
                    return Ok(Building {
                        path,
                        lock: Some(lock),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(RetrieverError::io(&path, e)),
            }
        }
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the finished index into place at `dir` ([`swap_into_place`]); on failure the
    /// building directory is removed and `dir` is as it was.
    pub(crate) fn install(mut self, dir: &Path) -> Result<()> {
        swap_into_place(&self.path, dir)?;
        // The path now holds nothing (renamed) or nothing any more (the old index, removed).
        self.lock = None;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for Building {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Moves the finished index `built` to `dir`: one atomic exchange where the file system offers
/// it, two renames otherwise; `dir` is replaced only once `built` is complete.
pub(crate) fn swap_into_place(built: &Path, dir: &Path) -> Result<()> {
    swap_observed(built, dir, cfg!(target_os = "linux"), &mut |_| true)
}

/// [`swap_into_place`], trying the exchange only when `exchange` is set, calling `observe` after
/// each step; `observe` returning false stops there as a killed process would (tests).
pub(crate) fn swap_observed(
    built: &Path,
    dir: &Path,
    exchange: bool,
    observe: &mut dyn FnMut(SwapStep) -> bool,
) -> Result<()> {
    if !dir.exists() {
        std::fs::rename(built, dir).map_err(|e| RetrieverError::io(dir, e))?;
        observe(SwapStep::MovedNewIn);
        return Ok(());
    }
    if exchange && fsio::exchange(built, dir).map_err(|e| RetrieverError::io(dir, e))? {
        if observe(SwapStep::MovedNewIn) {
            remove_old(built, observe);
        }
        return Ok(());
    }
    // Locked, so that a build elsewhere does not take it for a leftover and put it back.
    let _lock = lock_exclusive(dir).map_err(|e| RetrieverError::io(dir, e))?;
    let (parent, name) = parent_and_name(dir);
    let old = parent.join(format!("{name}.old-{}", std::process::id()));
    std::fs::rename(dir, &old).map_err(|e| RetrieverError::io(dir, e))?;
    if !observe(SwapStep::MovedOldAside) {
        return Ok(());
    }
    if let Err(e) = std::fs::rename(built, dir) {
        let _ = std::fs::rename(&old, dir);
        return Err(RetrieverError::io(dir, e));
    }
    if observe(SwapStep::MovedNewIn) {
        remove_old(&old, observe);
    }
    fsio::sync_dir(fsio::parent_dir(dir));
    Ok(())
}

fn remove_old(old: &Path, observe: &mut dyn FnMut(SwapStep) -> bool) {
    let _ = std::fs::remove_dir_all(old);
    observe(SwapStep::RemovedOld);
}

/// An exclusive, non-blocking `flock` on the directory or file `path` (held while the returned
/// file is open).
pub(crate) fn lock_exclusive(path: &Path) -> std::io::Result<File> {
    let file = File::open(path)?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
    Ok(file)
}

/// What a killed build may leave beside the index `NAME`.
enum Leftover {
    /// `.NAME.building-PID-N`: an index being built, or the previous index after the exchange.
    Building,
    /// `NAME.old-PID`: the previous index, moved aside by the two-rename swap.
    MovedAside,
}

/// Removes what killed builds of the index `dir` left beside it (see the module documentation),
/// first putting back a previous index moved aside when `dir` is missing. Returns one line per
/// directory removed, restored or left alone.
pub(crate) fn clean_leftovers(dir: &Path) -> Result<Vec<String>> {
    let (parent, name) = parent_and_name(dir);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&parent)
        .map_err(|e| RetrieverError::io(&parent, e))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut notes = Vec::new();
    for path in entries {
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let (kind, rest) = if let Some(rest) = file_name.strip_prefix(&format!(".{name}.building-"))
        {
            (Leftover::Building, rest)
        } else if let Some(rest) = file_name.strip_prefix(&format!("{name}.old-")) {
            (Leftover::MovedAside, rest)
        } else {
            continue;
        };
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            notes.push(format!(
                "left {} alone: not named with a process id (an earlier odqa's build?); remove it when no build is running",
                path.display()
            ));
            continue;
        };
        // A live process (here), or a lock held (a process elsewhere): not a leftover.
        let Some(_lock) = process_gone(pid)
            .then(|| lock_exclusive(&path).ok())
            .flatten()
        else {
            continue;
        };
        match kind {
            Leftover::MovedAside if !dir.exists() => {
                std::fs::rename(&path, dir).map_err(|e| RetrieverError::io(dir, e))?;
                notes.push(format!(
                    "restored {} from {} (process {pid} was killed while replacing it)",
                    dir.display(),
                    path.display()
                ));
            }
            _ => {
                std::fs::remove_dir_all(&path).map_err(|e| RetrieverError::io(&path, e))?;
                notes.push(format!(
                    "removed {} (left by process {pid}, which is gone)",
                    path.display()
                ));
            }
        }
    }
    Ok(notes)
}

/// The previous index a killed two-rename swap left beside the missing `dir`, if any.
pub(crate) fn moved_aside(dir: &Path) -> Option<PathBuf> {
    let (parent, name) = parent_and_name(dir);
    let prefix = format!("{name}.old-");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&parent)
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found.pop()
}

/// The folder holding `dir` (`.` for a bare name) and the name of `dir`.
pub(crate) fn parent_and_name(dir: &Path) -> (PathBuf, String) {
    let parent = fsio::parent_dir(dir).to_path_buf();
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "index".into());
    (parent, name)
}

/// True when no process `pid` runs on this machine (Linux's `/proc`; elsewhere, or for this very
/// process, false: nothing is removed that might be in use).
fn process_gone(pid: u32) -> bool {
    pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
#[path = "swap_tests.rs"]
mod tests;
