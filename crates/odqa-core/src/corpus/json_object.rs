//! The single-object corpus layouts: the competition's `wikipedia_documents.json` and SQuAD files,
//! streamed with serde visitors so that the whole file is never held in memory.

use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{kind, record_from_object, Ctx, Record};
use crate::{CoreError, Location};

pub(super) fn read_json_object(reader: impl Read, ctx: &mut Ctx<'_>) -> Result<(), CoreError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut failure = None;
    let result = TopLevel {
        ctx: &mut *ctx,
        failure: &mut failure,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(err) = failure {
        return Err(err);
    }
    result.map_err(|e| CoreError::json(&ctx.path, &e))
}

/// Visits the top-level object: `data` → SQuAD articles, `version` ignored, anything else is a
/// competition document keyed by its index.
struct TopLevel<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
    /// The first non-JSON error (sink failure, bad record): serde only carries strings.
    failure: &'a mut Option<CoreError>,
}

impl TopLevel<'_, '_> {
    fn record(&mut self, result: Result<(), CoreError>) -> Result<(), String> {
        result.map_err(|err| {
            let message = err.to_string();
            *self.failure = Some(err);
            message
        })
    }
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (wikipedia_documents.json or a SQuAD file)")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "data" => map.next_value_seed(Articles { top: &mut self })?,
                "version" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    let value: Value = map.next_value()?;
                    let at = Location::line(&self.ctx.path, 0);
                    let result = match value {
                        Value::Object(object) => {
                            match record_from_object(object, "document_id", key.clone(), at.clone())
                            {
                                Ok(record) => self.ctx.emit(record),
                                Err(message) => self.ctx.invalid(CoreError::BadRecord {
                                    at,
                                    message: format!("document {key:?}: {message}"),
                                }),
                            }
                        }
                        other => self.ctx.invalid(CoreError::BadRecord {
                            at,
                            message: format!(
                                "document {key:?} is {}, expected an object with `text` \
                                 (is this file JSONL? then name it .jsonl)",
                                kind(&other)
                            ),
                        }),
                    };
                    self.record(result).map_err(de::Error::custom)?;
                }
            }
        }
        Ok(())
    }
}

struct Articles<'a, 'b, 'c> {
    top: &'a mut TopLevel<'b, 'c>,
}

#[derive(Deserialize)]
struct Article {
    #[serde(default)]
    title: Option<String>,
    paragraphs: Vec<Paragraph>,
}

#[derive(Deserialize)]
struct Paragraph {
    context: String,
}

impl<'de> DeserializeSeed<'de> for Articles<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Articles<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of SQuAD articles")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let stem = self
            .top
            .ctx
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut a = 0;
        while let Some(article) = seq.next_element::<Article>()? {
            for (p, paragraph) in article.paragraphs.into_iter().enumerate() {
                let record = Record {
                    id: format!("{stem}:{a}-{p}"),
                    title: article.title.clone().unwrap_or_default(),
                    text: paragraph.context,
                    meta: Map::new(),
                    at: Location::line(&self.top.ctx.path, 0),
                };
                let result = self.top.ctx.emit(record);
                self.top.record(result).map_err(de::Error::custom)?;
            }
            a += 1;
        }
        Ok(())
    }
}
