//! The competition's files of a batch of questions: `predictions.json` (`{id: best answer text}`,
//! `""` where none was found) and `nbest_predictions.json` (`{id: [every span, ranked]}`), as
//! `odqa predict` and the Python package write them, byte for byte the same.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{PipelineError, Result};
use crate::pipeline::QuestionAnswers;

/// The two documents of a batch, in question order: `{id: text}` and `{id: spans}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Submission {
    /// `{question id: best answer text}` (`""` when none was found).
    pub predictions: Map<String, Value>,
    /// `{question id: [{text, probability, start_logit, end_logit, passage_id, title, start, end},
    /// …]}`.
    pub nbest: Map<String, Value>,
}

impl Submission {
    /// The files of questions `ids` answered `answers` (in the same order).
    pub fn of(ids: &[String], answers: &[QuestionAnswers]) -> Result<Submission> {
        if ids.len() != answers.len() {
            return Err(PipelineError::BadInput(format!(
                "{} ids for {} answered questions",
                ids.len(),
                answers.len()
            )));
        }
        let mut out = Submission::default();
        for (id, result) in ids.iter().zip(answers) {
            let best = result.answers.first().map(|a| a.text.clone());
            out.predictions
                .insert(id.clone(), Value::String(best.unwrap_or_default()));
            let spans = serde_json::to_value(&result.spans)
                .map_err(|e| PipelineError::BadInput(format!("unserializable spans: {e}")))?;
            out.nbest.insert(id.clone(), spans);
        }
        Ok(out)
    }

    /// `predictions.json` as written (pretty-printed, UTF-8).
    pub fn predictions_json(&self) -> Vec<u8> {
        pretty(&self.predictions)
    }

    /// `nbest_predictions.json` as written.
    pub fn nbest_json(&self) -> Vec<u8> {
        pretty(&self.nbest)
    }

    /// Writes the predictions to `out` and, when asked, the n-best lists to `nbest_out`: both
    /// under temporary names first, then renamed one right after the other, the predictions
    /// last, so a predictions file is never newer than its n-best file.
    pub fn write(&self, out: &Path, nbest_out: Option<&Path>) -> Result<()> {
        write_pair(out, &self.predictions, nbest_out, &self.nbest)
    }
}

/// Writes `predictions` to `out` and `nbest` to `nbest_out` (when given) as [`Submission::write`]
/// does (also for `odqa read`'s files).
pub fn write_pair(
    out: &Path,
    predictions: &Map<String, Value>,
    nbest_out: Option<&Path>,
    nbest: &Map<String, Value>,
) -> Result<()> {
    let predictions = pretty(predictions);
    let nbest = match nbest_out {
        Some(_) => pretty(nbest),
        None => Vec::new(),
    };
    let mut files: Vec<(&Path, &[u8])> = nbest_out
        .map(|p| (p, nbest.as_slice()))
        .into_iter()
        .collect();
    files.push((out, predictions.as_slice()));
    odqa_core::fsio::write_atomic_all(&files)?;
    Ok(())
}

/// serde_json's pretty layout of `map` (cannot fail: a map of JSON values).
fn pretty(map: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec_pretty(map).unwrap_or_default()
}
