//! `odqa.Pipeline`: an index and a reader loaded once, asked questions one at a time or in
//! batches; and the module's functions over question files.

use std::path::{Path, PathBuf};

use odqa_pipeline::data::{check_outputs, read_examples, score_predictions};
use odqa_pipeline::{
    AskOptions, DefaultBackend, ModelSource, PipelineSettings, QuestionAnswers, RetrieverMode,
    Strategy, Submission,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::errors::{to_py, OdqaError, SettingsError};
use crate::run::{detached, Watch};
use crate::types::{Answer, Passage};

/// An index and a reader, loaded once; every method releases the GIL while it works.
#[pyclass(frozen, module = "odqa")]
pub struct Pipeline {
    inner: odqa_pipeline::Pipeline<DefaultBackend>,
    /// The index, model (and base) and settings file it was opened from: never written over.
    inputs: Vec<PathBuf>,
    /// The threads this pipeline's calls run on (`threads=`), or the shared pool.
    pool: Option<rayon::ThreadPool>,
}

/// The per-call options as Python passes them; `None` keeps the pipeline's setting.
fn ask_options(
    top_k: Option<usize>,
    n_best: Option<usize>,
    strategy: Option<String>,
    mu: Option<f32>,
    null_weight: Option<f32>,
    retriever: Option<String>,
) -> PyResult<AskOptions> {
    let mut options = AskOptions::new();
    options.top_k = top_k;
    options.n_best = n_best;
    options.mu = mu;
    options.null_weight = null_weight;
    options.strategy = (strategy.as_deref())
        .map(str::parse::<Strategy>)
        .transpose()
        .map_err(SettingsError::new_err)?;
    options.retriever = (retriever.as_deref())
        .map(str::parse::<RetrieverMode>)
        .transpose()
        .map_err(SettingsError::new_err)?;
    Ok(options)
}

impl Pipeline {
    /// Runs `work` on this pipeline's threads.
    fn install<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        match &self.pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
    }

    /// Answers `questions` with `options`, the GIL released; `progress(done, total)` is called
    /// as questions are finished.
    fn answer_all(
        &self,
        py: Python<'_>,
        questions: &[String],
        options: &AskOptions,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Vec<QuestionAnswers>> {
        let watch = Watch::new(progress);
        let queries: Vec<(&str, &AskOptions)> =
            questions.iter().map(|q| (q.as_str(), options)).collect();
        let result = detached(py, &watch, || {
            self.install(|| self.inner.answer_with(&queries, &watch))
        })?;
        result.map(|(answers, _)| answers).map_err(to_py)
    }
}

// Python's keyword arguments, one parameter each.
#[allow(clippy::too_many_arguments)]
#[pymethods]
impl Pipeline {
    /// Opens the index `index` and loads the reader `model` (a model directory, or a LoRA adapter
    /// directory read on its base: `base` overrides the one it names). `config` is a settings
    /// file (TOML, as `odqa tune` writes); `max_seq_len` and `doc_stride` override its reading
    /// window; `threads` bounds the threads of this pipeline's calls (default: one per core);
    /// `precision` is that of the reader's products: "fp32", "bf16", "int8" or "auto" (bf16 on
    /// a CPU with AMX-BF16, else fp32; the settings' value, auto by default).
    #[new]
    #[pyo3(signature = (index, model, *, config=None, base=None, threads=None, max_seq_len=None, doc_stride=None, precision=None))]
    fn new(
        py: Python<'_>,
        index: PathBuf,
        model: PathBuf,
        config: Option<PathBuf>,
        base: Option<PathBuf>,
        threads: Option<usize>,
        max_seq_len: Option<usize>,
        doc_stride: Option<usize>,
        precision: Option<String>,
    ) -> PyResult<Pipeline> {
        let mut settings = match &config {
            Some(path) => PipelineSettings::load(path).map_err(to_py)?,
            None => PipelineSettings::default(),
        };
        settings.max_seq_len = max_seq_len.unwrap_or(settings.max_seq_len);
        settings.doc_stride = doc_stride.unwrap_or(settings.doc_stride);
        if let Some(name) = precision {
            settings.precision = name.parse().map_err(SettingsError::new_err)?;
        }
        let pool = match threads {
            Some(0) | None => None,
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| PyValueError::new_err(e.to_string()))?,
            ),
        };
        let mut inputs = vec![index.clone(), model.clone()];
        inputs.extend(base.iter().chain(&config).cloned());
        let source = ModelSource {
            base,
            ..ModelSource::new(model)
        };
        let inner = py
            .detach(|| odqa_pipeline::Pipeline::open(&index, source, settings, &Default::default()))
            .map_err(to_py)?;
        Ok(Pipeline {
            inner,
            inputs,
            pool,
        })
    }

    /// The answers to `question`, best first (empty when nothing was found). Options override
    /// the pipeline's settings for this question: `top_k` passages read, `n_best` answers,
    /// `strategy` ("fusion", "merge", "logit", "softmax"), `mu`, `null_weight` (0..1: each
    /// passage's no-answer score × this off its spans' scores), `retriever` ("bm25", "dense",
    /// "hybrid"). Raises `QuestionError` for a question that cannot be asked.
    #[pyo3(signature = (question, *, top_k=None, n_best=None, strategy=None, mu=None, null_weight=None, retriever=None))]
    fn ask(
        &self,
        py: Python<'_>,
        question: String,
        top_k: Option<usize>,
        n_best: Option<usize>,
        strategy: Option<String>,
        mu: Option<f32>,
        null_weight: Option<f32>,
        retriever: Option<String>,
    ) -> PyResult<Vec<Answer>> {
        let options = ask_options(top_k, n_best, strategy, mu, null_weight, retriever)?;
        let mut all = self.answer_all(py, &[question], &options, None)?;
        let result = all
            .pop()
            .ok_or_else(|| OdqaError::new_err("no result for the question"))?;
        let passages = result.reads.clone();
        let answers = result
            .into_answers(Default::default())
            .map_err(to_py)?
            .answers;
        Ok(answers.iter().map(|a| Answer::of(a, &passages)).collect())
    }

    /// The answers to each of `questions`, in order: one list per question (empty for a question
    /// that cannot be answered; `ask` says why). `questions` is a list of strings, of dicts with
    /// a "question" (a `datasets.Dataset` iterates as such), or the path of a question file
    /// (SQuAD JSON, JSONL, a `save_to_disk` folder). `progress(done, total)` is called as
    /// questions finish; Ctrl-C raises `KeyboardInterrupt`. Options as for `ask`.
    #[pyo3(signature = (questions, *, progress=None, top_k=None, n_best=None, strategy=None, mu=None, null_weight=None, retriever=None))]
    fn answer(
        &self,
        py: Python<'_>,
        questions: &Bound<'_, PyAny>,
        progress: Option<Py<PyAny>>,
        top_k: Option<usize>,
        n_best: Option<usize>,
        strategy: Option<String>,
        mu: Option<f32>,
        null_weight: Option<f32>,
        retriever: Option<String>,
    ) -> PyResult<Vec<Vec<Answer>>> {
        let options = ask_options(top_k, n_best, strategy, mu, null_weight, retriever)?;
        let (_, questions) = questions_of(questions)?;
        let all = self.answer_all(py, &questions, &options, progress)?;
        Ok(all
            .iter()
            .map(|r| r.answers.iter().map(|a| Answer::of(a, &r.reads)).collect())
            .collect())
    }

    /// The competition's files for `questions` (as for `answer`; ids from the dicts' "id" or the
    /// file, else positions "0", "1", …): `(predictions, nbest)` as dicts in question order,
    /// `{id: best answer text}` and `{id: [spans]}`. With `out` (and `nbest_out`) they are also
    /// written, byte for byte what `odqa predict` writes, atomically.
    #[pyo3(signature = (questions, *, out=None, nbest_out=None, progress=None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        questions: &Bound<'py, PyAny>,
        out: Option<PathBuf>,
        nbest_out: Option<PathBuf>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (ids, texts) = questions_of(questions)?;
        // Before any work: no output may be an input (the question file, the index, the model,
        // the settings) or the other output, and both folders must take a new file.
        if let Some(out) = &out {
            let file: Option<PathBuf> = is_path(questions)
                .then(|| questions.extract())
                .transpose()?;
            let mut inputs: Vec<&Path> = self.inputs.iter().map(PathBuf::as_path).collect();
            inputs.extend(file.as_deref());
            let mut outputs = vec![out.as_path()];
            outputs.extend(nbest_out.as_deref());
            check_outputs(&inputs, &outputs)
                .map_err(|e| to_py(odqa_pipeline::PipelineError::Core(e)))?;
        }
        let all = self.answer_all(py, &texts, &AskOptions::new(), progress)?;
        let submission = Submission::of(&ids, &all).map_err(to_py)?;
        if let Some(out) = &out {
            submission.write(out, nbest_out.as_deref()).map_err(to_py)?;
        }
        let json = py.import("json")?;
        let load = |bytes: Vec<u8>| json.call_method1("loads", (String::from_utf8_lossy(&bytes),));
        Ok((
            load(submission.predictions_json())?,
            load(submission.nbest_json())?,
        ))
    }

    /// The top `top_k` passages for `question` by `retriever` (default: the pipeline's).
    #[pyo3(signature = (question, top_k=10, *, retriever=None))]
    fn retrieve(
        &self,
        py: Python<'_>,
        question: String,
        top_k: usize,
        retriever: Option<String>,
    ) -> PyResult<Vec<Passage>> {
        let mode = match retriever {
            Some(name) => name.parse().map_err(SettingsError::new_err)?,
            None => self.inner.settings().retriever,
        };
        let hits = py
            .detach(|| self.install(|| self.inner.retrieve_with(&question, top_k, mode)))
            .map_err(to_py)?;
        Ok(hits.into_iter().map(Passage::from).collect())
    }

    fn __repr__(&self) -> String {
        let s = self.inner.settings();
        format!(
            "Pipeline(index={:?}, top_k={}, strategy={}, retriever={})",
            self.inner.retriever().dir().display().to_string(),
            s.top_k,
            s.strategy,
            s.retriever
        )
    }
}

/// Whether `questions` names a question file (a str or an `os.PathLike`) rather than holding
/// the questions.
fn is_path(questions: &Bound<'_, PyAny>) -> bool {
    questions.is_instance_of::<PyString>() || questions.hasattr("__fspath__").unwrap_or(false)
}

/// The ids and questions `questions` holds: a path (str or `os.PathLike`) of a question file,
/// or an iterable of strings or of mappings with "question" (and "id").
fn questions_of(questions: &Bound<'_, PyAny>) -> PyResult<(Vec<String>, Vec<String>)> {
    if is_path(questions) {
        let path: PathBuf = questions.extract()?;
        if !path.exists() {
            return Err(PyValueError::new_err(format!(
                "{}: no such question file (to ask one question, use Pipeline.ask)",
                path.display()
            )));
        }
        return Ok(read_questions(path)?.into_iter().unzip());
    }
    let mut ids = Vec::new();
    let mut texts = Vec::new();
    for (i, item) in questions.try_iter()?.enumerate() {
        let item = item?;
        if let Ok(text) = item.extract::<String>() {
            ids.push(i.to_string());
            texts.push(text);
            continue;
        }
        let text: String = item
            .get_item("question")
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "question {i}: expected a string or a mapping with \"question\", got {}",
                    item.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?
            .extract()?;
        let id = match item.get_item("id") {
            Ok(id) => id.str()?.to_string(),
            Err(_) => i.to_string(),
        };
        ids.push(id);
        texts.push(text);
    }
    Ok((ids, texts))
}

/// The `(id, question)` pairs of a question file: a competition `save_to_disk` folder, SQuAD
/// JSON or JSONL (as `odqa predict --questions` reads).
#[pyfunction]
pub fn read_questions(path: PathBuf) -> PyResult<Vec<(String, String)>> {
    let examples = odqa_pipeline::data::read_questions(&path)
        .map_err(|e| to_py(odqa_pipeline::PipelineError::Core(e)))?;
    Ok(examples.into_iter().map(|e| (e.id, e.question)).collect())
}

/// KorQuAD and SQuAD EM/F1 (the official scripts' rules) of `predictions` (`{id: answer}`) on
/// the questions of the SQuAD-format file `data`: `{"korquad_em", "korquad_f1", "squad_em",
/// "squad_f1", "questions", "missing", "extra"}` (a question without a prediction scores 0).
#[pyfunction]
pub fn evaluate<'py>(
    py: Python<'py>,
    data: PathBuf,
    predictions: std::collections::HashMap<String, String>,
) -> PyResult<Bound<'py, PyDict>> {
    let examples =
        read_examples(&data).map_err(|e| to_py(odqa_pipeline::PipelineError::Core(e)))?;
    let scored = score_predictions(&examples, &predictions);
    let s = &scored.scores;
    let d = PyDict::new(py);
    d.set_item("korquad_em", s.korquad_em)?;
    d.set_item("korquad_f1", s.korquad_f1)?;
    d.set_item("squad_em", s.squad_em)?;
    d.set_item("squad_f1", s.squad_f1)?;
    d.set_item("questions", s.questions)?;
    d.set_item("missing", scored.missing)?;
    d.set_item("extra", scored.extra)?;
    Ok(d)
}
