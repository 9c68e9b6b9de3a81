//! Checking an index for damage: [`verify_index`], and the checks every opening makes.
//!
//! Opening an index ([`crate::Retriever::open`]) checks the seal of `odqa-index.json`, the
//! recorded checksums of the files read whole (`meta.json`, `.managed.json`, `aliases.jsonl`),
//! tantivy's CRC32 footer of every segment file (a damaged document store or term index otherwise
//! makes tantivy panic, or abort the process on a huge allocation) and that the alias table has
//! as many lines as `odqa-index.json` counts aliases. [`verify_index`] also checks the recorded
//! checksum of every file and the number of documents.

use std::path::{Path, PathBuf};

use serde::Serialize;
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyError};

use crate::error::{Result, RetrieverError};
use crate::integrity::{self, READ_AT_OPEN};
use crate::layout::{AliasTable, IndexMeta, ALIASES_FILE, META_FILE};
use crate::{guard, readonly};

/// What [`verify_index`] checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// The files whose recorded checksum matched, by name.
    pub files: Vec<String>,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Passages in the index, duplicates included.
    pub passages: u64,
    /// What could not be checked (an index built before odqa recorded checksums).
    pub notes: Vec<String>,
}

/// Checks the index in `dir` for damage: the seal of `odqa-index.json`, the recorded length and
/// xxh3-64 of every file, tantivy's checksums of its segment files, the number of aliases and of
/// documents. A damaged file is a [`RetrieverError::Corrupt`] naming it.
pub fn verify_index(dir: &Path) -> Result<VerifyReport> {
    let meta = IndexMeta::read(dir)?;
    let mut report = VerifyReport {
        passages: meta.passages,
        ..VerifyReport::default()
    };
    if meta.files.is_empty() {
        report.notes.push(format!(
            "{META_FILE} records no checksums (the index was built by an earlier odqa): \
             only tantivy's checksums and the counts were checked; rebuild it to have them all"
        ));
    }
    for (name, sum) in &meta.files {
        report.bytes += integrity::check_file(dir, name, sum)?;
        report.files.push(name.clone());
    }
    let (index, _) = readonly::open_index(dir)?;
    check_segments(dir, &index)?;
    read_aliases(dir, &meta)?;
    let documents = open_reader(dir, &index)?.searcher().num_docs();
    if documents != meta.unique_texts {
        return Err(RetrieverError::Corrupt {
            path: dir.join("meta.json"),
            message: format!(
                "the index holds {documents} passages, {META_FILE} counts {}",
                meta.unique_texts
            ),
        });
    }
    Ok(report)
}

/// Checks the recorded checksums of the files an opening reads whole (before tantivy parses them).
pub(crate) fn check_read_whole(dir: &Path, meta: &IndexMeta) -> Result<()> {
    for name in READ_AT_OPEN {
        if let Some(sum) = meta.files.get(name) {
            integrity::check_file(dir, name, sum)?;
        }
    }
    Ok(())
}

/// Checks tantivy's checksum of every segment file of `index` (in `dir`).
pub(crate) fn check_segments(dir: &Path, index: &Index) -> Result<()> {
    let damaged = guard::catch(|| index.validate_checksum())
        .map_err(|panic| damaged_index(dir, &panic))?
        .map_err(|e| tantivy_damage(dir, e))?;
    let mut damaged: Vec<PathBuf> = damaged.into_iter().collect();
    damaged.sort();
    match damaged.split_first() {
        None => Ok(()),
        Some((first, others)) => Err(RetrieverError::Corrupt {
            path: dir.join(first),
            message: if others.is_empty() {
                "checksum mismatch".into()
            } else {
                let others: Vec<_> = others.iter().map(|p| p.display().to_string()).collect();
                format!("checksum mismatch (and in {})", others.join(", "))
            },
        }),
    }
}

/// The alias table of `dir`, checked against the count of `meta`.
pub(crate) fn read_aliases(dir: &Path, meta: &IndexMeta) -> Result<AliasTable> {
    let aliases = AliasTable::read(dir)?;
    let expected = meta.passages.saturating_sub(meta.unique_texts);
    if aliases.entries() != expected {
        return Err(RetrieverError::Corrupt {
            path: dir.join(ALIASES_FILE),
            message: format!(
                "{} aliases, but {META_FILE} counts {expected} (the file is incomplete)",
                aliases.entries()
            ),
        });
    }
    Ok(aliases)
}

/// A reader of `index` that never reloads, its segments opened with panics caught.
pub(crate) fn open_reader(dir: &Path, index: &Index) -> Result<IndexReader> {
    guard::catch(|| {
        index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
    })
    .map_err(|panic| damaged_index(dir, &panic))?
    .map_err(|e| tantivy_damage(dir, e))
}

/// The error for a panic of tantivy reading the index in `dir`.
pub(crate) fn damaged_index(dir: &Path, panic: &str) -> RetrieverError {
    RetrieverError::Corrupt {
        path: dir.to_path_buf(),
        message: format!("tantivy failed reading it ({panic})"),
    }
}

/// A tantivy error reading the index in `dir`, naming the file when tantivy does.
pub(crate) fn tantivy_damage(dir: &Path, error: TantivyError) -> RetrieverError {
    use tantivy::directory::error::OpenReadError;
    let file = match &error {
        TantivyError::OpenReadError(OpenReadError::IoError { io_error, filepath })
            if io_error.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            let source = std::io::Error::new(io_error.kind(), io_error.to_string());
            return RetrieverError::io(dir.join(filepath), source);
        }
        TantivyError::OpenReadError(OpenReadError::FileDoesNotExist(path))
        | TantivyError::OpenReadError(OpenReadError::IoError { filepath: path, .. }) => {
            Some(dir.join(path))
        }
        _ => None,
    };
    RetrieverError::Corrupt {
        path: file.unwrap_or_else(|| dir.to_path_buf()),
        message: error.to_string(),
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
