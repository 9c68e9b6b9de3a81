//! Streaming corpus readers.
//!
//! Three layouts are read, one record at a time so that a 1 GB corpus never sits in memory:
//!
//! - **JSONL** (`.jsonl`, `.ndjson`, or a `.json` file whose first line is a complete object):
//!   one `{"id", "title", "text", …}` object per line. `text` is required; `title` defaults to
//!   empty; a missing `id` becomes `FILE:LINE`; other fields are kept as metadata.
//! - **Competition documents** (`wikipedia_documents.json`): one JSON object keyed by index, each
//!   value `{"text", "title", "document_id", …}`. The id is `document_id` (the key when absent).
//! - **SQuAD** (`{"version", "data": [{"title", "paragraphs": [{"context", …}]}]}`): each paragraph's
//!   context is a passage titled by its article; ids are `STEM:ARTICLE-PARAGRAPH`.
//!
//! With [`ReadOptions::skip_invalid`] a bad record is reported to the caller and skipped instead of
//! ending the read (malformed JSON in the middle of a single-object file cannot be skipped).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

mod json_object;

use crate::error::json_message;
use crate::split::{self, SplitMode};
use crate::{CoreError, Location, Passage};

/// The layout of a corpus file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorpusFormat {
    /// One JSON object per line.
    Jsonl,
    /// One JSON object: competition documents keyed by index, or a SQuAD file (`data` key).
    JsonObject,
}

impl CorpusFormat {
    /// Guesses the format from the extension and, for `.json`, the first line.
    pub fn detect(path: &Path) -> Result<Self, CoreError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Ok(CorpusFormat::Jsonl),
            "json" => {
                let file = File::open(path).map_err(|e| CoreError::io(path, e))?;
                let mut reader = BufReader::new(file);
                let mut first = Vec::new();
                // A whole single-line document may be large; a JSONL line is what we look for.
                reader
                    .by_ref()
                    .take(64 << 20)
                    .read_until(b'\n', &mut first)
                    .map_err(|e| CoreError::io(path, e))?;
                let more = !reader
                    .fill_buf()
                    .map_err(|e| CoreError::io(path, e))?
                    .is_empty();
                let line_is_object = serde_json::from_slice::<Map<String, Value>>(&first).is_ok();
                Ok(if more && line_is_object {
                    CorpusFormat::Jsonl
                } else {
                    CorpusFormat::JsonObject
                })
            }
            _ => Err(CoreError::UnknownFormat {
                path: path.to_path_buf(),
                message: "unknown corpus format: expected .jsonl/.ndjson (one object per line) or \
                          .json (wikipedia_documents.json or SQuAD)"
                    .into(),
            }),
        }
    }
}

/// One corpus record, before splitting.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record's id.
    pub id: String,
    /// Title (may be empty).
    pub title: String,
    /// Full text.
    pub text: String,
    /// Other fields of the record.
    pub meta: Map<String, Value>,
    /// Where the record was read.
    pub at: Location,
}

impl Record {
    /// Turns the record into one passage, or several when `split` is given and the text is longer
    /// than one window (ids `ID#0`, `ID#1`, … with the window's character offset).
    pub fn into_passages(self, split: Option<SplitMode>) -> Vec<Passage> {
        let windows = match split {
            Some(mode) => split::split(&self.text, mode),
            None => Vec::new(),
        };
        if windows.len() <= 1 {
            return vec![Passage {
                doc_id: self.id.clone(),
                id: self.id,
                title: self.title,
                text: self.text,
                char_offset: 0,
                meta: self.meta,
            }];
        }
        windows
            .iter()
            .enumerate()
            .map(|(i, w)| Passage {
                id: format!("{}#{i}", self.id),
                title: self.title.clone(),
                text: w.text.to_string(),
                doc_id: self.id.clone(),
                char_offset: w.char_offset,
                meta: self.meta.clone(),
            })
            .collect()
    }
}

/// How to read a corpus file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Force a format instead of detecting it.
    pub format: Option<CorpusFormat>,
    /// Skip bad records (reported through the `on_skip` callback) instead of failing.
    pub skip_invalid: bool,
}

/// What a read went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Records handed to the sink.
    pub records: u64,
    /// Records skipped as invalid (only with `skip_invalid`).
    pub skipped: u64,
    /// Records whose text was empty or whitespace only (skipped, never indexed).
    pub empty: u64,
}

impl ReadSummary {
    /// Adds the counts of another read.
    pub fn add(&mut self, other: &ReadSummary) {
        self.records += other.records;
        self.skipped += other.skipped;
        self.empty += other.empty;
    }
}

/// Reads `path` record by record, calling `sink` for each. A sink error stops the read and comes
/// back as [`CoreError::Aborted`] (the sink keeps its own error if it needs more than a message).
/// Invalid records are passed to `on_skip` when `opts.skip_invalid` is set.
pub fn read_corpus(
    path: &Path,
    opts: ReadOptions,
    sink: &mut dyn FnMut(Record) -> Result<(), String>,
    on_skip: &mut dyn FnMut(&CoreError),
) -> Result<ReadSummary, CoreError> {
    let file = File::open(path).map_err(|e| CoreError::io(path, e))?;
    read_corpus_from(path, file, opts, sink, on_skip)
}

/// Like [`read_corpus`], reading from `input` (e.g. wrapped in a progress bar); `path` names the
/// file in messages and, without `opts.format`, is used to detect the format.
pub fn read_corpus_from(
    path: &Path,
    input: impl Read,
    opts: ReadOptions,
    sink: &mut dyn FnMut(Record) -> Result<(), String>,
    on_skip: &mut dyn FnMut(&CoreError),
) -> Result<ReadSummary, CoreError> {
    let format = match opts.format {
        Some(f) => f,
        None => CorpusFormat::detect(path)?,
    };
    let reader = BufReader::with_capacity(1 << 20, input);
    let mut ctx = Ctx {
        path: path.to_path_buf(),
        opts,
        sink,
        on_skip,
        summary: ReadSummary::default(),
    };
    match format {
        CorpusFormat::Jsonl => read_jsonl(reader, &mut ctx)?,
        CorpusFormat::JsonObject => json_object::read_json_object(reader, &mut ctx)?,
    }
    Ok(ctx.summary)
}

pub(crate) struct Ctx<'a> {
    pub(crate) path: PathBuf,
    pub(crate) opts: ReadOptions,
    pub(crate) sink: &'a mut dyn FnMut(Record) -> Result<(), String>,
    pub(crate) on_skip: &'a mut dyn FnMut(&CoreError),
    pub(crate) summary: ReadSummary,
}

impl Ctx<'_> {
    /// A bad record: skipped and reported, or the error that ends the read.
    pub(crate) fn invalid(&mut self, err: CoreError) -> Result<(), CoreError> {
        if self.opts.skip_invalid {
            (self.on_skip)(&err);
            self.summary.skipped += 1;
            Ok(())
        } else {
            Err(err)
        }
    }

    pub(crate) fn emit(&mut self, record: Record) -> Result<(), CoreError> {
        if record.text.trim().is_empty() {
            self.summary.empty += 1;
            return Ok(());
        }
        self.summary.records += 1;
        (self.sink)(record).map_err(CoreError::Aborted)
    }
}

fn read_jsonl(mut reader: impl BufRead, ctx: &mut Ctx<'_>) -> Result<(), CoreError> {
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| CoreError::io(&ctx.path, e))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let at = Location::line(&ctx.path, line_no);
        let line = match std::str::from_utf8(&buf) {
            Ok(s) => s.trim_start_matches('\u{feff}').trim(),
            Err(e) => {
                ctx.invalid(CoreError::InvalidUtf8 {
                    at,
                    byte: e.valid_up_to(),
                })?;
                continue;
            }
        };
        if line.is_empty() {
            continue;
        }
        let object: Map<String, Value> = match serde_json::from_str(line) {
            Ok(o) => o,
            Err(e) => {
                let message = json_message(&e);
                ctx.invalid(CoreError::Json {
                    at: Location {
                        column: e.column(),
                        ..at
                    },
                    message,
                })?;
                continue;
            }
        };
        let default_id = format!(
            "{}:{line_no}",
            ctx.path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
        match record_from_object(object, "id", default_id, at.clone()) {
            Ok(record) => ctx.emit(record)?,
            Err(message) => ctx.invalid(CoreError::BadRecord { at, message })?,
        }
    }
}

/// Builds a record from a JSON object: `text` required, `title` optional, the id from `id_field`
/// (string or number) or `default_id`; everything else non-null goes to `meta`.
pub(crate) fn record_from_object(
    mut object: Map<String, Value>,
    id_field: &str,
    default_id: String,
    at: Location,
) -> Result<Record, String> {
    let text = match object.remove("text") {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(format!(
                "field `text` must be a string, found {}",
                kind(&other)
            ))
        }
        None => return Err("missing field `text`".into()),
    };
    let title = match object.remove("title") {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => String::new(),
        Some(other) => {
            return Err(format!(
                "field `title` must be a string, found {}",
                kind(&other)
            ))
        }
    };
    let id = match object.remove(id_field) {
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(Value::Number(n)) => n.to_string(),
        None | Some(Value::Null) => default_id,
        Some(other) => {
            return Err(format!(
                "field `{id_field}` must be a non-empty string or a number, found {}",
                kind(&other)
            ))
        }
    };
    object.retain(|_, v| !v.is_null());
    Ok(Record {
        id,
        title,
        text,
        meta: object,
        at,
    })
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(s) if s.is_empty() => "an empty string",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
