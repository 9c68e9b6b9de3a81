//! Sharded dense builds: shard `I` of `N` computes the rows `I·total/N .. (I+1)·total/N` of an
//! index (one contiguous run of corpus order) into a parts folder shared by the tasks, and a merge
//! step installs them as the index's `dense/`, byte for byte what one unsharded build writes.
//!
//! In the parts folder (any folder the tasks can write; the index itself may be read-only to
//! them), shard `1-of-3` keeps its resumable state in `1-of-3.partial/` (the layout of
//! [`super::build`], under the lock `.1-of-3.lock`) and, finished, moves it to `1-of-3/`. A
//! requeued task resumes its partial state, or recomputes a finished shard and exchanges it.
//! [`merge_shards`] checks that the `N` finished shards are of one build (encoder, index, `N`)
//! and cover every row once, concatenates them under the index's lock, writes `dense.json` and
//! installs the directory atomically.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use odqa_core::shard::Shard;

use super::build::{
    check_same_index, lock, read_progress, same_encoder, DenseBuild, Progress, ShardRows, LOCK_FILE,
};
use super::{DenseEncoder, DenseMeta, DENSE_DIR, DENSE_FORMAT, DENSE_META_FILE, VECTORS_FILE};
use crate::error::{Result, RetrieverError};
use crate::integrity::{self, FileSum};
use crate::swap;

/// The staging directory of a merge inside the index directory.
const MERGE_DIR: &str = ".dense.merge";

/// The rows `first..end` shard `shard` computes of `total`.
pub fn shard_rows(total: u64, shard: Shard) -> std::ops::Range<u64> {
    let at = |i: usize| (u128::from(total) * i as u128 / shard.count as u128) as u64;
    at(shard.index)..at(shard.index + 1)
}

/// The finished directory of `shard` in `parts`.
pub fn done_dir(parts: &Path, shard: Shard) -> PathBuf {
    parts.join(shard.name())
}

/// The resumable partial state of `shard` in `parts`.
pub fn partial_dir(parts: &Path, shard: Shard) -> PathBuf {
    parts.join(format!("{}.partial", shard.name()))
}

impl DenseBuild {
    /// Starts (or resumes) computing shard `shard` of the `total` vectors of the index `dir` into
    /// the parts folder `parts` (see the module documentation); otherwise as [`DenseBuild::start`].
    /// Its first row is [`DenseBuild::first_row`]; append its rows in order, then
    /// [`DenseBuild::finish_shard`].
    pub fn start_shard(
        dir: &Path,
        parts: &Path,
        shard: Shard,
        encoder: DenseEncoder,
        dim: usize,
        total: u64,
        index_meta: FileSum,
    ) -> Result<DenseBuild> {
        let rows = shard_rows(total, shard);
        let fresh = Progress {
            encoder,
            dim,
            count: rows.end - rows.start,
            index_meta,
            rows: 0,
            seconds: 0.0,
            shard: Some(ShardRows {
                index: shard.index,
                shards: shard.count,
                first: rows.start,
                total,
            }),
        };
        let lock = lock(&parts.join(format!(".{}.lock", shard.name())), dir)?;
        DenseBuild::open_partial(dir, &partial_dir(parts, shard), fresh, lock)
    }

    /// The index row of this build's first row (0 unless a shard).
    pub fn first_row(&self) -> u64 {
        self.progress.shard.as_ref().map_or(0, |s| s.first)
    }

    /// The rows of the index this build computes, from [`DenseBuild::first_row`].
    pub fn row_count(&self) -> u64 {
        self.progress.count
    }

    /// Moves a complete shard to its finished directory in the parts folder (exchanged with an
    /// earlier one of the same shard).
    pub fn finish_shard(self) -> Result<()> {
        self.check_complete()?;
        let Some(rows) = &self.progress.shard else {
            return Err(RetrieverError::InvalidArgument(
                "not a shard: install it with finish".into(),
            ));
        };
        let shard = Shard {
            index: rows.index,
            count: rows.shards,
        };
        let parts = self.partial.parent().unwrap_or(Path::new("."));
        swap::swap_into_place(&self.partial, &done_dir(parts, shard))
    }
}

/// A finished shard found in the parts folder.
struct Part {
    dir: PathBuf,
    progress: Progress,
    rows: ShardRows,
}

/// The finished shard `shard` in `parts`, checked complete.
fn read_part(parts: &Path, shard: Shard) -> Result<Part> {
    let dir = done_dir(parts, shard);
    let missing = || {
        RetrieverError::InvalidArgument(format!(
        "shard {shard} is not finished: {} holds no complete vectors (its task failed or is still \
         running)",
        dir.display()
    ))
    };
    let progress = read_progress(&dir).ok_or_else(missing)?;
    match &progress.shard {
        Some(rows) if progress.rows == progress.count && rows.shards == shard.count => {
            let rows = rows.clone();
            Ok(Part {
                dir,
                progress,
                rows,
            })
        }
        _ => Err(missing()),
    }
}

/// An error unless `part` is of the same build as `first` and starts at row `next`.
fn check_part(part: &Part, first: &Part, next: u64) -> Result<()> {
    let (a, b) = (&part.progress, &first.progress);
    let why = if !same_encoder(&a.encoder, &b.encoder) || a.dim != b.dim {
        "another encoder"
    } else if a.index_meta != b.index_meta || part.rows.total != first.rows.total {
        "another build of the index"
    } else if part.rows.first != next {
        "rows that do not follow the previous shard's"
    } else {
        return Ok(());
    };
    Err(RetrieverError::InvalidArgument(format!(
        "{} holds {why} than {}; compute the shards again with the same settings",
        part.dir.display(),
        first.dir.display()
    )))
}

/// Joins the `shards` finished shards of `parts` into `dense/` of the index `dir` (see the module
/// documentation). Refused: a shard missing or unfinished, shards of different encoders, index
/// builds or counts, and an index rebuilt since they were computed.
pub fn merge_shards(
    dir: &Path,
    parts: &Path,
    shards: usize,
    odqa_version: &str,
) -> Result<DenseMeta> {
    if shards == 0 {
        return Err(RetrieverError::InvalidArgument("0 shards".into()));
    }
    let found: Vec<Part> = (0..shards)
        .map(|index| {
            read_part(
                parts,
                Shard {
                    index,
                    count: shards,
                },
            )
        })
        .collect::<Result<_>>()?;
    let mut next = 0;
    for part in &found {
        check_part(part, &found[0], next)?;
        next += part.progress.count;
    }
    let head = &found[0].progress;
    if next != found[0].rows.total {
        return Err(RetrieverError::InvalidArgument(format!(
            "the shards hold {next} of the index's {} rows",
            found[0].rows.total
        )));
    }
    let _lock = lock(&dir.join(LOCK_FILE), dir)?;
    check_same_index(dir, &head.index_meta)?;
    let staging = dir.join(MERGE_DIR);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| RetrieverError::io(&staging, e))?;
    }
    std::fs::create_dir(&staging).map_err(|e| RetrieverError::io(&staging, e))?;
    let vectors = staging.join(VECTORS_FILE);
    concatenate(&found, &vectors)?;
    let meta = DenseMeta {
        format: DENSE_FORMAT,
        odqa_version: odqa_version.to_string(),
        dim: head.dim,
        count: next,
        dtype: "f16".into(),
        encoder: head.encoder.clone(),
        index_meta: head.index_meta.clone(),
        vectors: integrity::sum_file(&vectors)?,
        seconds: found.iter().map(|p| p.progress.seconds).sum(),
    };
    let path = staging.join(DENSE_META_FILE);
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| RetrieverError::io(&path, e.into()))?;
    odqa_core::fsio::write_atomic(&path, &json)?;
    check_same_index(dir, &head.index_meta)?;
    swap::swap_into_place(&staging, &dir.join(DENSE_DIR))?;
    Ok(meta)
}

/// Writes the parts' vectors one after the other to `out`, synced.
fn concatenate(parts: &[Part], out: &Path) -> Result<()> {
    let mut file = File::create(out).map_err(|e| RetrieverError::io(out, e))?;
    for part in parts {
        let path = part.dir.join(VECTORS_FILE);
        let mut input = File::open(&path).map_err(|e| RetrieverError::io(&path, e))?;
        let copied =
            std::io::copy(&mut input, &mut file).map_err(|e| RetrieverError::io(out, e))?;
        let expected = part.progress.count * part.progress.dim as u64 * 2;
        if copied != expected {
            return Err(RetrieverError::Corrupt {
                path,
                message: format!(
                    "{copied} bytes, but its {} rows take {expected}",
                    part.progress.count
                ),
            });
        }
    }
    file.flush()
        .and_then(|()| file.sync_all())
        .map_err(|e| RetrieverError::io(out, e))
}
