//! What an odqa index directory holds, besides tantivy's own files:
//!
//! - `odqa-index.json` ([`IndexMeta`]): format version, analyzer, default BM25 parameters,
//!   counts and sources. Its presence marks the directory as an odqa index.
//! - `aliases.jsonl`: one [`Alias`] per passage whose text duplicated an earlier passage; the text
//!   is indexed once (under the first id) and every alias stays resolvable.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST, STORED,
    STRING,
};

use crate::analysis::{AnalyzerConfig, TOKENIZER_NAME};
use crate::bm25::Bm25Params;
use crate::error::{Result, RetrieverError};
use crate::integrity::FileSums;

/// Name of the metadata file in an index directory.
pub const META_FILE: &str = "odqa-index.json";
/// Name of the alias table in an index directory.
pub const ALIASES_FILE: &str = "aliases.jsonl";
/// Version of the index layout written by this build (2: Korean particles stripped by the rules of
/// `odqa_core::josa`, so a format-1 index would be queried with other terms than it holds; 3: the
/// `corpus_order` fast field, which orders passages of equal score the same way in every build).
pub const FORMAT_VERSION: u32 = 3;

/// Name of the [`Fields::corpus_order`] field.
pub const CORPUS_ORDER_FIELD: &str = "corpus_order";

/// The metadata odqa keeps beside the tantivy index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// Version of odqa that wrote the index.
    pub odqa_version: String,
    /// The analyzer; re-registered every time the index is opened.
    pub analyzer: AnalyzerConfig,
    /// Default BM25 parameters for retrieval (overridable per query).
    pub bm25: Bm25Params,
    /// How documents were split into passages, if at all.
    pub split: Option<odqa_core::split::SplitMode>,
    /// Corpus files, as given.
    pub sources: Vec<PathBuf>,
    /// Passages read (after splitting), duplicates included.
    pub passages: u64,
    /// Distinct passage texts, i.e. documents in the tantivy index.
    pub unique_texts: u64,
    /// The length and xxh3-64 of every other file of the index, by name (empty in indexes built
    /// before odqa recorded them).
    #[serde(default, skip_serializing_if = "FileSums::is_empty")]
    pub files: FileSums,
}

impl IndexMeta {
    /// Reads `odqa-index.json` of `dir`, checking its seal (the checksum of its own text) when it has one.
    pub fn read(dir: &Path) -> Result<IndexMeta> {
        let path = dir.join(META_FILE);
        let bytes = std::fs::read(&path).map_err(|e| RetrieverError::BadIndex {
            path: dir.to_path_buf(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                if dir.exists() {
                    format!("not an odqa index (no {META_FILE}); build one with `odqa index`")
                } else if let Some(aside) = crate::swap::moved_aside(dir) {
                    format!(
                        "no such index directory, but {} holds the index that a killed `odqa index` was replacing: rename it back (the next `odqa index` does)",
                        aside.display()
                    )
                } else {
                    "no such index directory; build one with `odqa index`".to_string()
                }
            } else {
                format!("cannot read {META_FILE}: {e}")
            },
        })?;
        crate::integrity::check_seal(&path, &bytes)?;
        let meta: IndexMeta =
            serde_json::from_slice(&bytes).map_err(|e| RetrieverError::BadIndex {
                path: path.clone(),
                message: format!("corrupt metadata: {e}"),
            })?;
        if meta.format != FORMAT_VERSION {
            return Err(RetrieverError::BadIndex {
                path,
                message: format!(
                    "index format {} but this odqa reads format {FORMAT_VERSION}; rebuild it with `odqa index`",
                    meta.format
                ),
            });
        }
        Ok(meta)
    }

    /// Writes `odqa-index.json` into `dir`, sealed with the checksum of its text.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(META_FILE);
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| RetrieverError::io(&path, e.into()))?;
        write_synced(&path, &crate::integrity::seal(&json))
    }
}

/// A passage whose text is identical to an indexed passage's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// The duplicate passage's own id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its source document id.
    pub doc_id: String,
    /// Its offset in that document, in characters.
    pub char_offset: usize,
    /// Id of the indexed passage with the same text.
    pub canonical: String,
}

/// Writes `bytes` to the new file `path` and syncs it (it is renamed into place with its folder).
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::File::create(path).map_err(|e| RetrieverError::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| RetrieverError::io(path, e))
}

/// Writes aliases as JSON lines.
pub(crate) fn write_aliases(dir: &Path, aliases: &[Alias]) -> Result<()> {
    let path = dir.join(ALIASES_FILE);
    let file = std::fs::File::create(&path).map_err(|e| RetrieverError::io(&path, e))?;
    let mut out = BufWriter::new(file);
    for alias in aliases {
        serde_json::to_writer(&mut out, alias).map_err(|e| RetrieverError::io(&path, e.into()))?;
        out.write_all(b"\n")
            .map_err(|e| RetrieverError::io(&path, e))?;
    }
    let file = out
        .into_inner()
        .map_err(|e| RetrieverError::io(&path, e.into_error()))?;
    file.sync_all().map_err(|e| RetrieverError::io(&path, e))
}

/// The alias table of an index: by canonical id, and alias id → canonical id.
#[derive(Debug, Default)]
pub struct AliasTable {
    by_canonical: HashMap<String, Vec<Alias>>,
    canonical_of: HashMap<String, String>,
    entries: u64,
}

impl AliasTable {
    /// Reads `aliases.jsonl` of `dir` (empty when absent).
    pub fn read(dir: &Path) -> Result<AliasTable> {
        let path = dir.join(ALIASES_FILE);
        let mut table = AliasTable::default();
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(table),
            Err(e) => return Err(RetrieverError::io(&path, e)),
        };
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| RetrieverError::io(&path, e))?;
            let alias: Alias =
                serde_json::from_str(&line).map_err(|e| RetrieverError::BadIndex {
                    path: path.clone(),
                    message: format!("line {}: {e}", i + 1),
                })?;
            table.entries += 1;
            table
                .canonical_of
                .insert(alias.id.clone(), alias.canonical.clone());
            table
                .by_canonical
                .entry(alias.canonical.clone())
                .or_default()
                .push(alias);
        }
        Ok(table)
    }

    /// The duplicates of the indexed passage `canonical`.
    pub fn duplicates_of(&self, canonical: &str) -> &[Alias] {
        self.by_canonical.get(canonical).map_or(&[], Vec::as_slice)
    }

    /// The indexed passage id that holds the text of `id` (itself when `id` is not an alias).
    pub fn resolve<'a>(&'a self, id: &'a str) -> &'a str {
        self.canonical_of.get(id).map_or(id, String::as_str)
    }

    /// Number of lines read (one alias each).
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Number of aliases.
    pub fn len(&self) -> usize {
        self.canonical_of.len()
    }

    /// True when there are no aliases.
    pub fn is_empty(&self) -> bool {
        self.canonical_of.is_empty()
    }
}

/// The fields of an odqa index.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Passage id (exact-match, stored).
    pub id: Field,
    /// Title (analysed, stored).
    pub title: Field,
    /// Passage text (analysed with frequencies, stored).
    pub text: Field,
    /// Source document id (stored).
    pub doc_id: Field,
    /// Character offset in the source document (stored).
    pub char_offset: Field,
    /// Extra record fields, as a stored JSON object string (empty when none).
    pub meta: Field,
    /// The passage's place among the indexed passages, in corpus order (a fast field): it ranks
    /// passages of equal score, so that hits do not depend on how the build's threads divided the
    /// corpus into segments.
    pub corpus_order: Field,
}

impl Fields {
    /// The schema of an odqa index and its fields.
    pub fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let analysed = TextOptions::default().set_stored().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER_NAME)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            id: builder.add_text_field("id", STRING | STORED),
            title: builder.add_text_field("title", analysed.clone()),
            text: builder.add_text_field("text", analysed),
            doc_id: builder.add_text_field("doc_id", STORED),
            char_offset: builder
                .add_u64_field("char_offset", NumericOptions::default().set_stored()),
            meta: builder.add_text_field("meta", STORED),
            corpus_order: builder.add_u64_field(CORPUS_ORDER_FIELD, FAST),
        };
        (builder.build(), fields)
    }

    /// Looks the fields up in an opened index's schema.
    pub fn from_schema(schema: &Schema, dir: &Path) -> Result<Fields> {
        let get = |name: &str| {
            schema
                .get_field(name)
                .map_err(|_| RetrieverError::BadIndex {
                    path: dir.to_path_buf(),
                    message: format!("index schema lacks the field `{name}`"),
                })
        };
        Ok(Fields {
            id: get("id")?,
            title: get("title")?,
            text: get("text")?,
            doc_id: get("doc_id")?,
            char_offset: get("char_offset")?,
            meta: get("meta")?,
            corpus_order: get(CORPUS_ORDER_FIELD)?,
        })
    }
}

/// Opens the tantivy index in `dir` read-only (no lock file, no write: any user who can read the
/// files can search them) with the analyzer of `meta` registered.
pub(crate) fn open_tantivy(dir: &Path, meta: &IndexMeta) -> Result<(tantivy::Index, Fields)> {
    let (index, _) = crate::readonly::open_index(dir)?;
    crate::analysis::register(&index, &meta.analyzer);
    let fields = Fields::from_schema(&index.schema(), dir)?;
    Ok((index, fields))
}

/// Gives every file of the index being built in `dir` the mode a new file gets under the
/// process's umask. tantivy writes `meta.json` and `.managed.json` through temporary files (mode
/// 0600), which other users could not read.
#[cfg(unix)]
pub(crate) fn share_files(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join(".odqa-mode-probe");
    std::fs::File::create(&probe).map_err(|e| RetrieverError::io(&probe, e))?;
    let mode = std::fs::metadata(&probe).map(|m| m.permissions().mode() & 0o777);
    std::fs::remove_file(&probe).map_err(|e| RetrieverError::io(&probe, e))?;
    let mode = mode.map_err(|e| RetrieverError::io(&probe, e))?;
    for entry in std::fs::read_dir(dir).map_err(|e| RetrieverError::io(dir, e))? {
        let path = entry.map_err(|e| RetrieverError::io(dir, e))?.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|e| RetrieverError::io(&path, e))?;
        if meta.is_file() && meta.permissions().mode() & 0o777 != mode {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| RetrieverError::io(&path, e))?;
        }
    }
    Ok(())
}

/// File modes are Unix's: nothing to do elsewhere.
#[cfg(not(unix))]
pub(crate) fn share_files(_dir: &Path) -> Result<()> {
    Ok(())
}
