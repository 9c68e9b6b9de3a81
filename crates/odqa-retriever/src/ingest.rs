//! Turning corpus records into indexed passages: splitting, deduplication of identical texts
//! (kept as aliases), duplicate-id checks and warnings.

use std::collections::HashMap;

use odqa_core::corpus::Record;
use odqa_core::split::SplitMode;
use odqa_core::CoreError;
use tantivy::{IndexWriter, TantivyDocument};

use crate::error::{Result, RetrieverError};
use crate::layout::{Alias, Fields};
use crate::options::MAX_WARNINGS;

/// Passages longer than this (in characters) draw a warning suggesting `--split-chars`.
pub const LONG_PASSAGE_CHARS: usize = 100_000;

/// Deduplication and id bookkeeping while records stream in.
pub(crate) struct State {
    pub(crate) fields: Fields,
    pub(crate) split: Option<SplitMode>,
    /// Text hash → id of the indexed passage with that text.
    pub(crate) texts: HashMap<u128, String>,
    /// Record id → (where it was first seen, hash of its text).
    pub(crate) ids: HashMap<String, (String, u128)>,
    pub(crate) aliases: Vec<Alias>,
    pub(crate) passages: u64,
    pub(crate) unique: u64,
    pub(crate) repeated: u64,
    pub(crate) skipped_ids: u64,
    pub(crate) warnings: Vec<String>,
    /// The error that stopped the read, when it is not a corpus error.
    pub(crate) failure: Option<RetrieverError>,
}

impl State {
    pub(crate) fn new(fields: Fields, split: Option<SplitMode>) -> Self {
        State {
            fields,
            split,
            texts: HashMap::new(),
            ids: HashMap::new(),
            aliases: Vec::new(),
            passages: 0,
            unique: 0,
            repeated: 0,
            skipped_ids: 0,
            warnings: Vec::new(),
            failure: None,
        }
    }

    fn warn(&mut self, message: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(message);
        }
    }

    pub(crate) fn add(
        &mut self,
        record: Record,
        writer: &IndexWriter,
        skip_invalid: bool,
    ) -> Result<()> {
        let record_hash = xxhash_rust::xxh3::xxh3_128(record.text.as_bytes());
        if let Some((first, first_hash)) = self.ids.get(&record.id) {
            if *first_hash == record_hash {
                self.repeated += 1;
                return Ok(());
            }
            let err = CoreError::DuplicateId {
                id: record.id.clone(),
                at: record.at.clone(),
                first: odqa_core::Location::line(first, 0),
            };
            if !skip_invalid {
                return Err(err.into());
            }
            self.skipped_ids += 1;
            self.warn(format!("skipped: {err}"));
            return Ok(());
        }
        self.ids
            .insert(record.id.clone(), (record.at.to_string(), record_hash));
        let at = record.at.to_string();
        for passage in record.into_passages(self.split) {
            self.passages += 1;
            let chars = passage.text.chars().count();
            if self.split.is_none() && chars > LONG_PASSAGE_CHARS {
                self.warn(format!(
                    "{at}: passage {:?} has {chars} characters; it is indexed whole (consider splitting long documents into passages)",
                    passage.id
                ));
            }
            let hash = xxhash_rust::xxh3::xxh3_128(passage.text.as_bytes());
            if let Some(canonical) = self.texts.get(&hash) {
                self.aliases.push(Alias {
                    id: passage.id,
                    title: passage.title,
                    doc_id: passage.doc_id,
                    char_offset: passage.char_offset,
                    canonical: canonical.clone(),
                });
                continue;
            }
            self.texts.insert(hash, passage.id.clone());
            let f = &self.fields;
            let mut doc = TantivyDocument::new();
            doc.add_text(f.id, &passage.id);
            doc.add_text(f.title, &passage.title);
            doc.add_text(f.text, &passage.text);
            doc.add_text(f.doc_id, &passage.doc_id);
            doc.add_u64(f.char_offset, passage.char_offset as u64);
            doc.add_u64(f.corpus_order, self.unique);
            if !passage.meta.is_empty() {
                doc.add_text(f.meta, serde_json::Value::Object(passage.meta).to_string());
            }
            writer.add_document(doc)?;
            self.unique += 1;
        }
        Ok(())
    }
}
