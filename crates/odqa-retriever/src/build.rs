//! Building an index from corpus files, atomically.
//!
//! The index is built in a hidden directory beside the destination and moved into place only
//! after tantivy has committed, the metadata (with the checksums of every file) is written and the
//! whole index passes the checks of [`verify_index`]. A failure or an interruption removes the
//! hidden directory; an existing index at the destination is replaced only at the very end, in
//! one atomic exchange where the file system offers it (and never when the destination is a
//! directory that is not an odqa index). What a killed build left behind is cleaned up by the next
//! one (`swap.rs`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use odqa_core::control::CancelToken;
use odqa_core::corpus::{self, ReadOptions, ReadSummary, Record};
use odqa_core::CoreError;
use tantivy::{Index, IndexWriter};

use crate::analysis::{self, AnalyzerConfig, Language};
use crate::bm25::Bm25Params;
use crate::error::{Result, RetrieverError};
use crate::ingest::State;
use crate::integrity;
use crate::layout::{self, Fields, IndexMeta, META_FILE};
use crate::options::MAX_WARNINGS;
pub use crate::options::{BuildOptions, BuildProgress, BuildSummary, LanguageChoice};
use crate::swap;
use crate::verify::verify_index;

/// A reader counting the bytes read through it into a shared counter.
struct Counted<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Builds the index of `corpora` into `dir`, replacing an existing odqa index there only when the
/// new one is complete. `cancel` is polled between records and after the merge (cancel it from a
/// Ctrl-C handler): the build then stops with [`RetrieverError::Interrupted`], leaving nothing.
pub fn build_index(
    corpora: &[PathBuf],
    dir: &Path,
    opts: &BuildOptions,
    cancel: &CancelToken,
) -> Result<BuildSummary> {
    build_index_with_progress(corpora, dir, opts, cancel, &|_| {})
}

/// [`build_index`], calling `progress` every 512 passages and at each stage.
pub fn build_index_with_progress(
    corpora: &[PathBuf],
    dir: &Path,
    opts: &BuildOptions,
    cancel: &CancelToken,
    progress: &dyn Fn(BuildProgress),
) -> Result<BuildSummary> {
    let started = Instant::now();
    check_request(corpora, dir, opts)?;
    let analyzer = choose_analyzer(corpora, opts);
    let (parent, name) = swap::parent_and_name(dir);
    std::fs::create_dir_all(&parent).map_err(|e| RetrieverError::io(&parent, e))?;
    let cleaned = swap::clean_leftovers(dir)?;
    // Dropped (and so removed) on every early return below.
    let building = swap::Building::create(&parent, &name)?;

    let (schema, fields) = Fields::schema();
    let index = Index::create_in_dir(building.path(), schema)?;
    analysis::register(&index, &analyzer);
    let ingested = write_segments(&index, fields, corpora, opts, cancel, progress)?;
    let meta = finish(building.path(), corpora, opts, analyzer, &ingested.state)?;
    building.install(dir)?;
    let Ingested {
        state,
        read,
        skip_warnings: mut warnings,
    } = ingested;
    warnings.extend(state.warnings);
    warnings.truncate(MAX_WARNINGS);
    Ok(BuildSummary {
        index_bytes: dir_size(dir),
        meta,
        records: read.records,
        skipped: read.skipped + state.skipped_ids,
        empty: read.empty,
        repeated: state.repeated,
        duplicate_texts: state.aliases.len() as u64,
        warnings,
        cleaned,
        elapsed: started.elapsed(),
    })
}

/// The analyzer `opts` asks for (its language guessed from the first corpus for `Auto`).
fn choose_analyzer(corpora: &[PathBuf], opts: &BuildOptions) -> AnalyzerConfig {
    AnalyzerConfig {
        language: match opts.language {
            LanguageChoice::Fixed(l) => l,
            LanguageChoice::Auto => sample_language(&corpora[0]),
        },
        hangul_bigrams: opts.hangul_bigrams,
        strip_josa: opts.strip_josa,
    }
}

/// What reading the corpora gave.
struct Ingested {
    state: State,
    read: ReadSummary,
    skip_warnings: Vec<String>,
}

/// Reads the corpora into `index` through a writer of its own, commits and merges the segments
/// into one. The writer is gone when this returns: nothing changes tantivy's files after.
fn write_segments(
    index: &Index,
    fields: Fields,
    corpora: &[PathBuf],
    opts: &BuildOptions,
    cancel: &CancelToken,
    progress: &dyn Fn(BuildProgress),
) -> Result<Ingested> {
    let threads = opts.threads.clamp(1, 8);
    let budget = opts.memory_budget.max((threads * 20) << 20);
    let mut writer: IndexWriter = index.writer_with_num_threads(threads, budget)?;
    let ingested = read_corpora(corpora, opts, cancel, progress, &writer, fields)?;
    let (state, read) = (&ingested.state, &ingested.read);
    if state.unique == 0 {
        return Err(RetrieverError::InvalidArgument(format!(
            "nothing to index: {} records read, {} empty, {} skipped",
            read.records, read.empty, read.skipped
        )));
    }
    progress(BuildProgress::Committing {
        passages: state.passages,
    });
    writer.commit()?;
    let segments = index.searchable_segment_ids()?;
    if segments.len() > 1 {
        progress(BuildProgress::Merging);
        writer.merge(&segments).wait()?;
    }
    writer.wait_merging_threads()?;
    if cancel.is_cancelled() {
        return Err(RetrieverError::Interrupted);
    }
    Ok(ingested)
}

/// Streams every corpus file into `writer`.
fn read_corpora(
    corpora: &[PathBuf],
    opts: &BuildOptions,
    cancel: &CancelToken,
    progress: &dyn Fn(BuildProgress),
    writer: &IndexWriter,
    fields: Fields,
) -> Result<Ingested> {
    let total_bytes: u64 = corpora
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let read_bytes = Arc::new(AtomicU64::new(0));
    let reading = |passages: u64| BuildProgress::Reading {
        bytes: read_bytes.load(Ordering::Relaxed),
        total_bytes,
        passages,
    };
    let mut state = State::new(fields, opts.split);
    let mut read_total = ReadSummary::default();
    let mut skip_warnings = Vec::new();
    for path in corpora {
        let file = std::fs::File::open(path).map_err(|e| CoreError::io(path, e))?;
        let read_opts = ReadOptions {
            format: None,
            skip_invalid: opts.skip_invalid,
        };
        let mut sink = |record: Record| {
            if cancel.is_cancelled() {
                state.failure = Some(RetrieverError::Interrupted);
                return Err("interrupted".to_string());
            }
            state.add(record, writer, opts.skip_invalid).map_err(|e| {
                let message = e.to_string();
                state.failure = Some(e);
                message
            })?;
            if state.passages.is_multiple_of(512) {
                progress(reading(state.passages));
            }
            Ok(())
        };
        let mut on_skip = |err: &CoreError| {
            if skip_warnings.len() < MAX_WARNINGS {
                skip_warnings.push(format!("skipped: {err}"));
            }
        };
        let counted = Counted {
            inner: file,
            bytes: read_bytes.clone(),
        };
        let read = corpus::read_corpus_from(path, counted, read_opts, &mut sink, &mut on_skip);
        progress(reading(state.passages));
        match read {
            Ok(s) => read_total.add(&s),
            Err(err) => return Err(state.failure.take().unwrap_or(RetrieverError::Input(err))),
        }
    }
    Ok(Ingested {
        state,
        read: read_total,
        skip_warnings,
    })
}

/// Writes odqa's files beside tantivy's committed ones in `dir`: the alias table, then
/// `odqa-index.json` with the checksums of every other file; then checks the whole index as
/// [`verify_index`] does, so that a damaged new index never replaces a good one.
fn finish(
    dir: &Path,
    corpora: &[PathBuf],
    opts: &BuildOptions,
    analyzer: AnalyzerConfig,
    state: &State,
) -> Result<IndexMeta> {
    layout::write_aliases(dir, &state.aliases)?;
    layout::share_files(dir)?;
    let meta = IndexMeta {
        format: layout::FORMAT_VERSION,
        odqa_version: env!("CARGO_PKG_VERSION").to_string(),
        bm25: opts.bm25.apply(Bm25Params::for_language(analyzer.language)),
        analyzer,
        split: opts.split,
        sources: corpora.to_vec(),
        passages: state.passages,
        unique_texts: state.unique,
        files: integrity::record(dir)?,
    };
    meta.write(dir)?;
    verify_index(dir).map_err(|e| match e {
        RetrieverError::Corrupt { path, message } => RetrieverError::io(
            path,
            std::io::Error::other(format!("the new index fails its check: {message}")),
        ),
        other => other,
    })?;
    Ok(meta)
}

/// Rejects what cannot work before anything is written.
fn check_request(corpora: &[PathBuf], dir: &Path, opts: &BuildOptions) -> Result<()> {
    if corpora.is_empty() {
        return Err(RetrieverError::InvalidArgument(
            "no corpus file given".into(),
        ));
    }
    for language in [Language::Ko, Language::En] {
        opts.bm25
            .apply(Bm25Params::for_language(language))
            .validate()
            .map_err(RetrieverError::InvalidArgument)?;
    }
    if let Some(split) = opts.split {
        split.validate().map_err(RetrieverError::InvalidArgument)?;
    }
    for path in corpora {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(CoreError::io(
                    path,
                    std::io::Error::other("is a directory, expected a file"),
                )
                .into())
            }
            Err(e) => return Err(CoreError::io(path, e).into()),
        }
        corpus::CorpusFormat::detect(path)?;
    }
    check_destination(corpora, dir)
}

/// Refuses a destination that exists but is not a directory, is a directory that is not an odqa
/// index (never replaced), or holds one of the corpora (replacing it would delete them).
fn check_destination(corpora: &[PathBuf], dir: &Path) -> Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(RetrieverError::BadIndex {
                path: dir.to_path_buf(),
                message: "exists and is not a directory".into(),
            });
        }
        let empty = std::fs::read_dir(dir)
            .map_err(|e| RetrieverError::io(dir, e))?
            .next()
            .is_none();
        if !empty && !dir.join(META_FILE).exists() {
            return Err(RetrieverError::BadIndex {
                path: dir.to_path_buf(),
                message: "exists and is not an odqa index; refusing to replace it (choose another index directory)".into(),
            });
        }
        // Replacing the index deletes what is inside it.
        let resolved = odqa_core::fsio::resolve(dir);
        if let Some(inside) = corpora
            .iter()
            .find(|c| odqa_core::fsio::resolve(c).starts_with(&resolved))
        {
            return Err(RetrieverError::BadIndex {
                path: dir.to_path_buf(),
                message: format!(
                    "holds the corpus {}, which replacing the index would delete; move it out \
                     first",
                    inside.display()
                ),
            });
        }
    }
    Ok(())
}

/// The language of the first records of `path` (errors are left for the real read to report).
fn sample_language(path: &Path) -> Language {
    let mut texts = Vec::new();
    let _ = corpus::read_corpus(
        path,
        ReadOptions {
            format: None,
            skip_invalid: true,
        },
        &mut |record| {
            texts.push(record.text);
            if texts.len() >= 200 {
                Err("enough".into())
            } else {
                Ok(())
            }
        },
        &mut |_| {},
    );
    analysis::guess_language(texts.iter().map(String::as_str))
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
