//! The results as small Python classes with attributes, `repr` and `to_dict()`.

use odqa_pipeline::{evidence, Hit, PassageRead};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// An answer: its text, probability, where it is (character offsets into the passage) and the
/// sentence it was found in.
#[pyclass(frozen, get_all, module = "odqa")]
#[derive(Debug, Clone)]
pub struct Answer {
    /// The answer text.
    pub text: String,
    /// Probability over the question's candidates.
    pub probability: f32,
    /// Character offset of the answer in its passage.
    pub start: usize,
    /// End character offset (exclusive).
    pub end: usize,
    /// The passage's id.
    pub passage_id: String,
    /// The passage's title.
    pub title: String,
    /// The sentence of the passage the answer is in.
    pub sentence: String,
}

impl Answer {
    /// `answer`, its sentence taken from the passage it was read in (one of `passages`).
    pub fn of(answer: &odqa_pipeline::Answer, passages: &[PassageRead]) -> Answer {
        let sentence = passages
            .iter()
            .find(|p| p.passage_id == answer.passage_id)
            .map(|p| evidence(&p.text, answer.start, answer.end).sentence())
            .unwrap_or_default();
        Answer {
            text: answer.text.clone(),
            probability: answer.probability,
            start: answer.start,
            end: answer.end,
            passage_id: answer.passage_id.clone(),
            title: answer.title.clone(),
            sentence,
        }
    }
}

#[pymethods]
impl Answer {
    fn __repr__(&self) -> String {
        format!(
            "Answer(text={:?}, probability={:.4}, title={:?}, passage_id={:?})",
            self.text, self.probability, self.title, self.passage_id
        )
    }

    /// The attributes as a dict (for `json.dumps`, pandas).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("text", &self.text)?;
        d.set_item("probability", self.probability)?;
        d.set_item("start", self.start)?;
        d.set_item("end", self.end)?;
        d.set_item("passage_id", &self.passage_id)?;
        d.set_item("title", &self.title)?;
        d.set_item("sentence", &self.sentence)?;
        Ok(d)
    }
}

/// A retrieved passage: rank, score (and the BM25 and dense scores behind a hybrid one), text.
#[pyclass(frozen, get_all, module = "odqa")]
#[derive(Debug, Clone)]
pub struct Passage {
    /// 1-based rank.
    pub rank: usize,
    /// The retriever's score (BM25, cosine, or the fused score).
    pub score: f32,
    /// BM25 score, when BM25 ranked it (hybrid).
    pub bm25_score: Option<f32>,
    /// Dense score (cosine), when dense search ranked it.
    pub dense_score: Option<f32>,
    /// Passage id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Text.
    pub text: String,
    /// The id of the document the passage was cut from.
    pub doc_id: String,
}

impl From<Hit> for Passage {
    fn from(hit: Hit) -> Passage {
        Passage {
            rank: hit.rank,
            score: hit.score,
            bm25_score: hit.bm25_score,
            dense_score: hit.dense_score,
            id: hit.id,
            title: hit.title,
            text: hit.text,
            doc_id: hit.doc_id,
        }
    }
}

#[pymethods]
impl Passage {
    fn __repr__(&self) -> String {
        let text: String = self.text.chars().take(40).collect();
        format!(
            "Passage(rank={}, score={:.4}, id={:?}, title={:?}, text={:?}…)",
            self.rank, self.score, self.id, self.title, text
        )
    }

    /// The attributes as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("rank", self.rank)?;
        d.set_item("score", self.score)?;
        d.set_item("bm25_score", self.bm25_score)?;
        d.set_item("dense_score", self.dense_score)?;
        d.set_item("id", &self.id)?;
        d.set_item("title", &self.title)?;
        d.set_item("text", &self.text)?;
        d.set_item("doc_id", &self.doc_id)?;
        Ok(d)
    }
}
