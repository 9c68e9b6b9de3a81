//! Writing `dense/` of an index: rows appended in corpus order to a partial state that survives a
//! failure, Ctrl-C or `kill -9`, resumed by the next build with the same encoder on the same index,
//! and installed in one step when every row is there.
//!
//! The partial state is `.dense.partial/` in the index directory: `vectors.f16` (the rows written
//! so far) and `progress.json` (the encoder, the index's checksum and the number of rows that are
//! complete and synced). A build holds an exclusive `flock` on `.dense.lock` beside it (a file
//! that stays, so the lock never moves with a renamed directory). After each chunk the rows are
//! synced, then `progress.json` is replaced atomically; a resumed build cuts `vectors.f16` back to
//! the rows `progress.json` counts (or to the whole rows the file holds, if it holds fewer).
//! Finished, `dense.json` is written, the index is checked to be the build the rows were computed
//! for, and the directory is moved to `dense/` (exchanged with an existing one, which is then
//! removed); `progress.json` goes last, so a kill before the move leaves the state resumable.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::VECTORS_FILE;
use super::{f32_to_f16_bytes, DenseEncoder, DenseMeta, DENSE_DIR, DENSE_FORMAT, DENSE_META_FILE};
use crate::error::{Result, RetrieverError};
use crate::integrity::{self, FileSum};
use crate::layout::META_FILE;
use crate::swap;

/// The partial state's directory inside the index directory.
pub const PARTIAL_DIR: &str = ".dense.partial";
/// The lock file of dense builds inside the index directory.
pub const LOCK_FILE: &str = ".dense.lock";
const PROGRESS_FILE: &str = "progress.json";

/// What a partial state records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Progress {
    pub(super) encoder: DenseEncoder,
    pub(super) dim: usize,
    /// Rows this build computes: the whole index's, or its shard's.
    pub(super) count: u64,
    pub(super) index_meta: FileSum,
    /// Rows complete.
    pub(super) rows: u64,
    pub(super) seconds: f64,
    /// The shard of the index's rows this build computes (`None`: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) shard: Option<ShardRows>,
}

/// The rows of one shard of a sharded build ([`super::shards`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ShardRows {
    /// Which shard, from 0.
    pub(super) index: usize,
    /// How many shards.
    pub(super) shards: usize,
    /// The shard's first row (corpus order).
    pub(super) first: u64,
    /// Rows of the whole index.
    pub(super) total: u64,
}

/// A dense build in progress (see the module documentation).
pub struct DenseBuild {
    index: PathBuf,
    pub(super) partial: PathBuf,
    pub(super) progress: Progress,
    vectors: File,
    /// Held while the build lives: a second build of the same index (or shard) is refused.
    _lock: File,
}

impl DenseBuild {
    /// Starts (or resumes) computing `count` vectors of `dim` values with `encoder` for the index
    /// `dir`, whose `odqa-index.json` had the checksum `index_meta` ([`index_checksum`]) when the
    /// caller opened it: a different one now is an error (the index was rebuilt meanwhile). A
    /// partial state of another encoder (weights or settings), size or index build is discarded;
    /// one that matches is resumed at [`DenseBuild::rows_done`].
    pub fn start(
        dir: &Path,
        encoder: DenseEncoder,
        dim: usize,
        count: u64,
        index_meta: FileSum,
    ) -> Result<DenseBuild> {
        let fresh = Progress {
            encoder,
            dim,
            count,
            index_meta,
            rows: 0,
            seconds: 0.0,
            shard: None,
        };
        let lock = lock(&dir.join(LOCK_FILE), dir)?;
        DenseBuild::open_partial(dir, &dir.join(PARTIAL_DIR), fresh, lock)
    }

    /// Opens (or resumes) the partial state `partial` of a build of the index `dir` described by
    /// `fresh`, `lock` held.
    pub(super) fn open_partial(
        dir: &Path,
        partial: &Path,
        fresh: Progress,
        lock: File,
    ) -> Result<DenseBuild> {
        if fresh.dim == 0 {
            return Err(RetrieverError::InvalidArgument(
                "vectors of 0 values".into(),
            ));
        }
        check_same_index(dir, &fresh.index_meta)?;
        match std::fs::create_dir(partial) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(RetrieverError::io(partial, e)),
        }
        let (dim, count) = (fresh.dim, fresh.count);
        let progress = match read_progress(partial) {
            // Resumed: the model is recorded where it is now.
            Some(p) if same_build(&p, &fresh) && p.rows <= count => Progress {
                encoder: fresh.encoder.clone(),
                ..p
            },
            _ => fresh,
        };
        let path = partial.join(VECTORS_FILE);
        let vectors = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| RetrieverError::io(&path, e))?;
        let row_bytes = dim as u64 * 2;
        let mut progress = progress;
        let held = vectors
            .metadata()
            .map_err(|e| RetrieverError::io(&path, e))?
            .len();
        progress.rows = progress.rows.min(held / row_bytes);
        let keep = progress.rows * row_bytes;
        let mut vectors = vectors;
        vectors
            .set_len(keep)
            .and_then(|()| vectors.seek(SeekFrom::Start(keep)).map(|_| ()))
            .map_err(|e| RetrieverError::io(&path, e))?;
        let mut build = DenseBuild {
            index: dir.to_path_buf(),
            partial: partial.to_path_buf(),
            progress,
            vectors,
            _lock: lock,
        };
        build.save_progress()?;
        Ok(build)
    }

    /// Rows already complete (from a resumed state, or appended since).
    pub fn rows_done(&self) -> u64 {
        self.progress.rows
    }

    /// Seconds spent so far (over resumed runs too).
    pub fn seconds(&self) -> f64 {
        self.progress.seconds
    }

    /// Appends the next rows (each of `dim` values), syncs them and records them, adding
    /// `seconds` of work.
    pub fn append(&mut self, rows: &[Vec<f32>], seconds: f64) -> Result<()> {
        let dim = self.progress.dim;
        if let Some(bad) = rows.iter().find(|r| r.len() != dim) {
            return Err(RetrieverError::InvalidArgument(format!(
                "a vector of {} values among vectors of {dim}",
                bad.len()
            )));
        }
        if self.progress.rows + rows.len() as u64 > self.progress.count {
            return Err(RetrieverError::InvalidArgument(format!(
                "more than the {} vectors the index has passages for",
                self.progress.count
            )));
        }
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let path = self.partial.join(VECTORS_FILE);
        self.vectors
            .write_all(&f32_to_f16_bytes(&flat))
            .and_then(|()| self.vectors.sync_data())
            .map_err(|e| RetrieverError::io(&path, e))?;
        self.progress.rows += rows.len() as u64;
        self.progress.seconds += seconds;
        self.save_progress()
    }

    /// Writes `dense.json` and moves the vectors into place as `dense/` of the index; every row
    /// must be there.
    pub fn finish(self, odqa_version: &str) -> Result<DenseMeta> {
        let p = &self.progress;
        self.check_complete()?;
        if p.shard.is_some() {
            return Err(RetrieverError::InvalidArgument(
                "a shard's vectors are installed by merging every shard".into(),
            ));
        }
        let meta = DenseMeta {
            format: DENSE_FORMAT,
            odqa_version: odqa_version.to_string(),
            dim: p.dim,
            count: p.count,
            dtype: "f16".into(),
            encoder: p.encoder.clone(),
            index_meta: p.index_meta.clone(),
            vectors: integrity::sum_file(&self.partial.join(VECTORS_FILE))?,
            seconds: p.seconds,
        };
        let path = self.partial.join(DENSE_META_FILE);
        let json =
            serde_json::to_vec_pretty(&meta).map_err(|e| RetrieverError::io(&path, e.into()))?;
        odqa_core::fsio::write_atomic(&path, &json)?;
        check_same_index(&self.index, &p.index_meta)?;
        let dense = self.index.join(DENSE_DIR);
        swap::swap_into_place(&self.partial, &dense)?;
        // Installed: the progress file inside is now only a leftover.
        let _ = std::fs::remove_file(dense.join(PROGRESS_FILE));
        Ok(meta)
    }

    /// An error unless every row of the build is there.
    pub(super) fn check_complete(&self) -> Result<()> {
        let p = &self.progress;
        if p.rows != p.count {
            return Err(RetrieverError::InvalidArgument(format!(
                "{} of {} vectors computed",
                p.rows, p.count
            )));
        }
        Ok(())
    }

    pub(super) fn save_progress(&mut self) -> Result<()> {
        let path = self.partial.join(PROGRESS_FILE);
        let json = serde_json::to_vec_pretty(&self.progress)
            .map_err(|e| RetrieverError::io(&path, e.into()))?;
        odqa_core::fsio::write_atomic(&path, &json)?;
        Ok(())
    }
}

/// The partial state's progress, when it has a readable one.
pub(super) fn read_progress(partial: &Path) -> Option<Progress> {
    let bytes = std::fs::read(partial.join(PROGRESS_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The checksum of the index's `odqa-index.json` (what the vectors are tied to), to take before
/// opening the index whose passages are embedded.
pub fn index_checksum(dir: &Path) -> Result<FileSum> {
    integrity::sum_file(&dir.join(META_FILE))
}

/// An error unless the index `dir` is still the build whose `odqa-index.json` had `recorded`.
pub(super) fn check_same_index(dir: &Path, recorded: &FileSum) -> Result<()> {
    if index_checksum(dir)? != *recorded {
        return Err(RetrieverError::BadIndex {
            path: dir.to_path_buf(),
            message: "the index was rebuilt while its passage vectors were being computed; \
                      compute them again"
                .into(),
        });
    }
    Ok(())
}

/// The exclusive lock `path` of dense builds of the index `dir` (held while the file is open).
pub(super) fn lock(path: &Path, dir: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| RetrieverError::io(path, e))?;
    swap::lock_exclusive(path).map_err(|_| {
        RetrieverError::InvalidArgument(format!(
            "another process is computing the dense vectors of {} ({} is locked)",
            dir.display(),
            path.display()
        ))
    })
}

/// Whether a recorded partial state continues the build `fresh` asks for: the same weights and
/// settings (wherever the model directory is now), size, rows and index build.
pub(super) fn same_build(recorded: &Progress, fresh: &Progress) -> bool {
    same_encoder(&recorded.encoder, &fresh.encoder)
        && recorded.dim == fresh.dim
        && recorded.count == fresh.count
        && recorded.index_meta == fresh.index_meta
        && recorded.shard == fresh.shard
}

/// The same weights and settings, wherever the model directory is.
pub(super) fn same_encoder(a: &DenseEncoder, b: &DenseEncoder) -> bool {
    DenseEncoder {
        model: b.model.clone(),
        ..a.clone()
    } == *b
}
