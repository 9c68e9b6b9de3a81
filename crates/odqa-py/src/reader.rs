//! `odqa.Reader` (reading comprehension: a question and its paragraph, no index) and
//! `odqa.index` (building an index from corpus files).

use std::path::PathBuf;

use odqa_pipeline::data::QaExample;
use odqa_pipeline::indexing::{build_index, BuildOptions, Language, LanguageChoice};
use odqa_pipeline::reading::{DecodeSettings, Reader as QaReader, WindowSettings};
use odqa_pipeline::{evidence, DefaultBackend, ModelSource, PipelineError, Precision};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{to_py, SettingsError};
use crate::run::{detached, Watch};
use crate::types::Answer;

/// A reader alone: answers a question from the paragraph given with it.
#[pyclass(frozen, module = "odqa")]
pub struct Reader {
    inner: QaReader<DefaultBackend>,
}

// Python's keyword arguments, one parameter each.
#[allow(clippy::too_many_arguments)]
#[pymethods]
impl Reader {
    /// Loads the reader `model` (a model directory, or a LoRA adapter directory read on its base;
    /// `base` overrides the one it names) with a window of `max_seq_len` tokens overlapping by
    /// `doc_stride`, computing in `precision` ("fp32", "bf16", "int8" or "auto": bf16 on a CPU
    /// with AMX-BF16, else fp32).
    #[new]
    #[pyo3(signature = (model, *, base=None, max_seq_len=384, doc_stride=128, precision="auto"))]
    fn new(
        py: Python<'_>,
        model: PathBuf,
        base: Option<PathBuf>,
        max_seq_len: usize,
        doc_stride: usize,
        precision: &str,
    ) -> PyResult<Reader> {
        let precision: Precision = precision.parse().map_err(SettingsError::new_err)?;
        let windows = WindowSettings {
            max_seq_len,
            doc_stride,
        };
        windows
            .validate()
            .map_err(|e| SettingsError::new_err(e.to_string()))?;
        let source = ModelSource {
            base,
            ..ModelSource::new(model)
        };
        let inner = py
            .detach(|| {
                QaReader::<DefaultBackend>::open(&source, windows, &Default::default())
                    .map(|reader| reader.with_precision(precision))
            })
            .map_err(|e| to_py(PipelineError::Reader(e)))?;
        Ok(Reader { inner })
    }

    /// The answers to `question` in `context`, best first (at most `n_best`; answers of at most
    /// `max_answer_len` tokens; `length_penalty` taken off a span's score per token after its
    /// first, as `odqa read --length-penalty`; `year_answers`: a year question's full date cut to
    /// its year, as `odqa read --year-answers`), as `odqa read` finds them. `passage_id` and
    /// `title` are empty; `start`/`end` are character offsets into `context`.
    #[pyo3(signature = (question, context, *, n_best=20, max_answer_len=30, length_penalty=0.0, year_answers=false))]
    fn read(
        &self,
        py: Python<'_>,
        question: String,
        context: String,
        n_best: usize,
        max_answer_len: usize,
        length_penalty: f32,
        year_answers: bool,
    ) -> PyResult<Vec<Answer>> {
        let example = QaExample {
            id: "0".into(),
            question,
            title: String::new(),
            context,
            answers: Vec::new(),
        };
        let decode = DecodeSettings {
            n_best,
            max_answer_len,
            length_penalty,
            year_answers,
        };
        if let Some(problem) = decode.problem() {
            return Err(SettingsError::new_err(problem));
        }
        let watch = Watch::new(None);
        let read = detached(py, &watch, || {
            self.inner
                .read(std::slice::from_ref(&example), decode, 8, &watch)
        })?
        .map_err(|e| to_py(PipelineError::Reader(e)))?;
        let prediction = read.into_iter().next();
        if let Some(error) = prediction.as_ref().and_then(|p| p.error.clone()) {
            return Err(crate::errors::QuestionError::new_err(error));
        }
        let candidates = prediction.map(|p| p.nbest).unwrap_or_default();
        Ok(candidates
            .into_iter()
            .filter_map(|c| {
                let (start, end) = (c.start?, c.end?);
                Some(Answer {
                    sentence: evidence(&example.context, start, end).sentence(),
                    text: c.text,
                    probability: c.probability,
                    start,
                    end,
                    passage_id: String::new(),
                    title: String::new(),
                })
            })
            .collect())
    }
}

/// Builds a BM25 index in `index_dir` from the corpus files `corpus` (JSONL,
/// `wikipedia_documents.json`, SQuAD), as `odqa index` does: `lang` "ko", "en" or "auto";
/// `skip_invalid` skips bad records with warnings instead of failing. Returns a summary dict.
#[pyfunction]
#[pyo3(signature = (corpus, index_dir, *, lang="auto", skip_invalid=false))]
pub fn index<'py>(
    py: Python<'py>,
    corpus: Vec<PathBuf>,
    index_dir: PathBuf,
    lang: &str,
    skip_invalid: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let language = match lang {
        "ko" => LanguageChoice::Fixed(Language::Ko),
        "en" => LanguageChoice::Fixed(Language::En),
        "auto" => LanguageChoice::Auto,
        other => {
            return Err(PyValueError::new_err(format!(
                "lang {other:?}: expected \"ko\", \"en\" or \"auto\""
            )))
        }
    };
    let options = BuildOptions {
        language,
        skip_invalid,
        ..BuildOptions::default()
    };
    let watch = Watch::new(None);
    let cancel = watch.token();
    let summary = detached(py, &watch, || {
        build_index(&corpus, &index_dir, &options, &cancel)
    })?
    .map_err(|e| to_py(PipelineError::Retriever(e)))?;
    let d = PyDict::new(py);
    d.set_item("index", index_dir)?;
    d.set_item("passages", summary.meta.passages)?;
    d.set_item("records", summary.records)?;
    d.set_item("skipped", summary.skipped)?;
    d.set_item("warnings", summary.warnings)?;
    d.set_item("language", summary.meta.analyzer.language.to_string())?;
    Ok(d)
}
