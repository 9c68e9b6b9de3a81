//! Retrieve → read every passage on its own → aggregate, batched across passages and questions.

use std::path::Path;
use std::time::Instant;

use odqa_core::control::{Observer, Unobserved};
use odqa_reader::decode::{decode_example, null_score, DecodeSettings};
use odqa_reader::features::{Feature, WindowInput, WindowSettings};
use odqa_reader::read::{BatchHook, Reader, WindowLogits};
use odqa_reader::{ModelSource, ReaderBackend};
use odqa_retriever::{Hit, Retriever, RetrieverMode};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::aggregate::{aggregate, spans, Answer, PassageRead};
use crate::ask::{Answers, AskOptions, QuestionError};
use crate::error::{PipelineError, Result};
use crate::retrieval::{passages_to_read, question_or_search};
use crate::settings::PipelineSettings;

/// Questions retrieved, tokenized and read together: their windows are sorted by length and
/// batched across passages and questions.
const QUESTIONS_PER_CHUNK: usize = 32;

/// The reader's batches stop with [`PipelineError::Interrupted`] when the observer asks
/// ([`Observer::should_stop`], before every batch); progress is told per question, not here.
struct StopOn<'a>(&'a dyn Observer);

impl BatchHook for StopOn<'_> {
    type Stop = PipelineError;

    fn proceed(&self) -> Result<()> {
        if self.0.should_stop() {
            Err(PipelineError::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// Where the time went, in seconds, and how much was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Timings {
    /// BM25 search.
    pub retrieval: f64,
    /// Question + passage → windows.
    pub tokenization: f64,
    /// Encoder and head forward passes.
    pub encoder: f64,
    /// Span decoding per passage and aggregation per question.
    pub decoding: f64,
    /// Passages read.
    pub passages: usize,
    /// Windows read.
    pub windows: usize,
}

impl Timings {
    /// Sum of the stages.
    pub fn total(&self) -> f64 {
        self.retrieval + self.tokenization + self.encoder + self.decoding
    }
}

/// What reading one question's passages gave.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QuestionReads {
    /// One entry per retrieved passage, by rank.
    pub reads: Vec<PassageRead>,
    /// Why the question has no (or fewer) passages read: nothing retrieved, no searchable word, a
    /// question too long for the window.
    pub error: Option<QuestionError>,
}

/// The answers to one question of a batch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct QuestionAnswers {
    /// Ranked answers, distinct (empty when nothing was found): see
    /// [`crate::aggregate::Ranked::answers`].
    pub answers: Vec<Answer>,
    /// Every span on its own, ranked (the n-best files' list): see
    /// [`crate::aggregate::Ranked::spans`].
    pub spans: Vec<Answer>,
    /// The passages read, by rank, with their text (for evidence).
    pub reads: Vec<PassageRead>,
    /// See [`QuestionReads::error`].
    pub error: Option<QuestionError>,
}

impl QuestionAnswers {
    /// The error that makes this question at fault, if it is: empty, no searchable word, or too
    /// long to be read with any of its passages. A question read with some of its passages is
    /// answered from those (the others are noted in the error), by `ask`, `predict` and the
    /// server alike.
    pub fn fault(&self) -> Option<&QuestionError> {
        let error = self.error.as_ref()?;
        let some_read = !self.reads.is_empty();
        match error {
            QuestionError::Unreadable(_) if some_read => None,
            e if e.is_bad_question() => Some(e),
            _ => None,
        }
    }

    /// This question's answers, with the `timings` of its batch; a question at fault
    /// ([`QuestionAnswers::fault`]) is [`PipelineError::Question`].
    pub fn into_answers(self, timings: Timings) -> Result<Answers> {
        let at_fault = self.fault().is_some();
        match self.error {
            Some(e) if at_fault => Err(PipelineError::Question(e)),
            error => Ok(Answers {
                answers: self.answers,
                passages: self.reads,
                error,
                timings,
            }),
        }
    }
}

/// A retriever and a reader with settings.
pub struct Pipeline<B: ReaderBackend> {
    retriever: Retriever,
    reader: Reader<B>,
    settings: PipelineSettings,
}

impl<B: ReaderBackend> Pipeline<B> {
    /// Opens the index and loads the model. A model without a QA head is refused: its answers would
    /// be random.
    ///
    /// `model` is a model directory (`&Path`) or a [`ModelSource`]: a LoRA adapter directory is
    /// read on its base (the one its configuration names, or the one given), its updates merged
    /// into the weights; [`Pipeline::warnings`] says what was accepted on the way.
    pub fn open(
        index: &Path,
        model: impl Into<ModelSource>,
        settings: PipelineSettings,
        device: &B::Device,
    ) -> Result<Pipeline<B>> {
        settings.validate()?;
        let source: ModelSource = model.into();
        let model = source.dir.as_path();
        let retriever = crate::dense::open_retriever::<B>(index, &settings, device)?;
        let windows = WindowSettings {
            max_seq_len: settings.max_seq_len,
            doc_stride: settings.doc_stride,
        };
        let reader = Reader::open(&source, windows, device)?.with_precision(settings.precision);
        if reader.fresh_head {
            return Err(PipelineError::BadInput(format!(
                "{} has no question-answering head (an encoder-only checkpoint): its answers would be \
                 random; fine-tune it first, e.g. `odqa train --model {} --train corpus/korquad-sample.json --out DIR`",
                model.display(),
                model.display()
            )));
        }
        Ok(Pipeline {
            retriever,
            reader,
            settings,
        })
    }

    /// What loading the model accepted that the user should hear about (e.g. a LoRA adapter on a
    /// base other than the one it was trained on).
    pub fn warnings(&self) -> &[String] {
        &self.reader.warnings
    }

    /// The settings.
    pub fn settings(&self) -> &PipelineSettings {
        &self.settings
    }

    /// The retriever.
    pub fn retriever(&self) -> &Retriever {
        &self.retriever
    }

    /// The top `k` passages of `question` by the settings' retriever, without reading them. A
    /// question at fault (empty, no searchable word) is [`PipelineError::Question`], as for
    /// [`Pipeline::ask_with`].
    pub fn retrieve(&self, question: &str, k: usize) -> Result<Vec<Hit>> {
        self.retrieve_with(question, k, self.settings.retriever)
    }

    /// [`Pipeline::retrieve`] by the retriever `mode` (dense and hybrid need the index's passage
    /// vectors: [`Pipeline::load_vectors`], or a dense or hybrid retriever in the settings).
    pub fn retrieve_with(&self, question: &str, k: usize, mode: RetrieverMode) -> Result<Vec<Hit>> {
        self.retriever
            .search_with(question, k, mode)
            .map_err(question_or_search)
    }

    /// Loads the index's passage vectors and their question encoder, if not loaded yet, so that
    /// questions may ask for dense or hybrid retrieval whatever the settings' retriever (a
    /// server offering every retriever). Errors when the index has no vectors.
    pub fn load_vectors(&mut self, device: &B::Device) -> Result<()> {
        if self.retriever.has_vectors() {
            return Ok(());
        }
        crate::dense::attach_dense::<B>(&mut self.retriever, &self.settings, device)
    }

    /// Whether `question` can be searched (the retriever's rule): a question at fault (empty, no
    /// searchable word) is [`PipelineError::Question`]. For callers that refuse a question before
    /// queueing it; [`Pipeline::ask_with`] applies the same rule.
    pub fn check_question(&self, question: &str) -> Result<()> {
        self.retriever
            .check_question(question)
            .map_err(question_or_search)
    }

    /// Answers one question with the pipeline's settings: see [`Pipeline::ask_with`].
    pub fn ask(&self, question: &str) -> Result<Answers> {
        self.ask_with(question, &AskOptions::default())
    }

    /// Answers one question with `options` over the pipeline's settings. A question at fault
    /// (empty, no searchable word, too long for the window) is [`PipelineError::Question`]; a
    /// question nothing matches gets no answers and [`QuestionError::NoPassage`].
    pub fn ask_with(&self, question: &str, options: &AskOptions) -> Result<Answers> {
        let (answered, timings) = self.answer_with(&[(question, options)], &Unobserved)?;
        let Some(q) = answered.into_iter().next() else {
            return Err(PipelineError::BadInput("no question was answered".into()));
        };
        q.into_answers(timings)
    }

    /// Answers every question with the pipeline's settings. `observer` is told the questions
    /// read so far and can stop the work ([`PipelineError::Interrupted`]).
    pub fn answer(
        &self,
        questions: &[&str],
        observer: &dyn Observer,
    ) -> Result<(Vec<QuestionAnswers>, Timings)> {
        let defaults = AskOptions::default();
        let queries: Vec<(&str, &AskOptions)> = questions.iter().map(|q| (*q, &defaults)).collect();
        self.answer_with(&queries, observer)
    }

    /// Answers every question with its own options, in one batch: the top max(k) passages of all
    /// of them are read together (windows of several questions share forward passes), then each
    /// question keeps its own top k and is aggregated with its own settings. The answers are those
    /// of answering each question alone. A bad option value is [`PipelineError::Setting`].
    pub fn answer_with(
        &self,
        queries: &[(&str, &AskOptions)],
        observer: &dyn Observer,
    ) -> Result<(Vec<QuestionAnswers>, Timings)> {
        let settings: Vec<PipelineSettings> = queries
            .iter()
            .map(|(_, o)| o.apply(&self.settings).map_err(PipelineError::from))
            .collect::<Result<_>>()?;
        let top_k = settings.iter().map(|s| s.top_k).max().unwrap_or(1);
        let questions: Vec<&str> = queries.iter().map(|(q, _)| *q).collect();
        let modes: Vec<RetrieverMode> = settings.iter().map(|s| s.retriever).collect();
        let (reads, mut timings) = self.read_by(&questions, &modes, top_k, observer)?;
        let start = Instant::now();
        let answers = reads
            .into_par_iter()
            .zip(settings.par_iter())
            .map(|(mut q, settings)| {
                q.reads.retain(|r| r.rank <= settings.top_k);
                let ranked = aggregate(&q.reads, &settings.aggregate());
                QuestionAnswers {
                    answers: ranked.answers,
                    spans: ranked.spans,
                    reads: q.reads,
                    error: q.error,
                }
            })
            .collect();
        timings.decoding += start.elapsed().as_secs_f64();
        Ok((answers, timings))
    }

    /// Retrieves the top `top_k` passages of every question and reads each of them: the spans of
    /// every passage, before aggregation. `observer` as for [`Pipeline::answer`].
    pub fn read(
        &self,
        questions: &[&str],
        top_k: usize,
        observer: &dyn Observer,
    ) -> Result<(Vec<QuestionReads>, Timings)> {
        let modes = vec![self.settings.retriever; questions.len()];
        self.read_by(questions, &modes, top_k, observer)
    }

    /// [`Pipeline::read`] with each question's own retriever (`modes[i]` for `questions[i]`):
    /// questions of one retriever are retrieved and read together.
    pub fn read_by(
        &self,
        questions: &[&str],
        modes: &[RetrieverMode],
        top_k: usize,
        observer: &dyn Observer,
    ) -> Result<(Vec<QuestionReads>, Timings)> {
        if modes.len() != questions.len() {
            return Err(PipelineError::BadInput(format!(
                "{} retrievers for {} questions",
                modes.len(),
                questions.len()
            )));
        }
        let mut timings = Timings::default();
        let mut out: Vec<Option<QuestionReads>> = vec![None; questions.len()];
        let mut done = 0;
        for mode in [
            RetrieverMode::Bm25,
            RetrieverMode::Dense,
            RetrieverMode::Hybrid,
        ] {
            let group: Vec<usize> = (0..questions.len()).filter(|&i| modes[i] == mode).collect();
            for chunk in group.chunks(QUESTIONS_PER_CHUNK) {
                let asked: Vec<&str> = chunk.iter().map(|&i| questions[i]).collect();
                let reads = self.read_chunk(&asked, mode, top_k, &mut timings, observer)?;
                for (&i, read) in chunk.iter().zip(reads) {
                    out[i] = Some(read);
                }
                done += chunk.len();
                observer.progress(done, questions.len());
            }
        }
        Ok((
            out.into_iter().map(Option::unwrap_or_default).collect(),
            timings,
        ))
    }

    /// Retrieves, tokenizes, reads and decodes one chunk of questions.
    fn read_chunk(
        &self,
        questions: &[&str],
        mode: RetrieverMode,
        top_k: usize,
        timings: &mut Timings,
        observer: &dyn Observer,
    ) -> Result<Vec<QuestionReads>> {
        let start = Instant::now();
        let hits = self.retriever.search_batch_with(questions, top_k, mode);
        timings.retrieval += start.elapsed().as_secs_f64();
        let (mut results, pairs) = passages_to_read(hits, mode);

        let start = Instant::now();
        let inputs: Vec<WindowInput<'_>> = pairs
            .iter()
            .map(|(q, hit)| (questions[*q], hit.text.as_str(), None))
            .collect();
        let features = self.reader.tokenizer().features_batch(&inputs);
        timings.tokenization += start.elapsed().as_secs_f64();

        let start = Instant::now();
        let windows: Vec<&Feature> = features
            .iter()
            .filter_map(|f| f.as_ref().ok())
            .flatten()
            .collect();
        let logits = self
            .reader
            .logits(&windows, self.settings.batch_size, &StopOn(observer))?;
        timings.encoder += start.elapsed().as_secs_f64();
        timings.passages += pairs.len();
        timings.windows += windows.len();

        let start = Instant::now();
        let reads = self.decode_passages(questions, &pairs, &features, &logits);
        for ((q, _), read) in pairs.iter().zip(reads) {
            match read {
                Ok(read) => results[*q].reads.push(read),
                Err(e) => {
                    results[*q].error.get_or_insert(e);
                }
            }
        }
        timings.decoding += start.elapsed().as_secs_f64();
        Ok(results)
    }

    /// The spans of every passage from its windows' logits (`logits` in the order of the
    /// windows of `features`; `pairs` index `questions`); a passage that could not be tokenized
    /// is its error.
    fn decode_passages(
        &self,
        questions: &[&str],
        pairs: &[(usize, Hit)],
        features: &[odqa_reader::Result<Vec<Feature>>],
        logits: &[WindowLogits],
    ) -> Vec<std::result::Result<PassageRead, QuestionError>> {
        let decode = DecodeSettings {
            n_best: self.settings.passage_n_best,
            max_answer_len: self.settings.max_answer_len,
            length_penalty: self.settings.length_penalty,
            year_answers: self.settings.year_answers,
        };
        // Once per question, not once per passage read for it.
        let year_questions: Vec<bool> = questions.iter().map(|q| decode.year_question(q)).collect();
        let mut first_window = Vec::with_capacity(features.len());
        let mut next = 0;
        for f in features {
            first_window.push(next);
            next += f.as_ref().map_or(0, Vec::len);
        }
        pairs
            .par_iter()
            .zip(features.par_iter())
            .zip(first_window.par_iter())
            .map(|(((q, hit), windows), &first)| {
                let windows = windows
                    .as_ref()
                    .map_err(|e| QuestionError::Unreadable(e.to_string()))?;
                let with_logits: Vec<(&Feature, &[f32], &[f32])> = windows
                    .iter()
                    .zip(&logits[first..first + windows.len()])
                    .map(|(f, (s, e))| (f, s.as_slice(), e.as_slice()))
                    .collect();
                let decoded = decode_example(&hit.text, &with_logits, decode);
                let null_score = null_score(&with_logits);
                let candidates = spans(decoded, year_questions[*q]);
                Ok(PassageRead {
                    rank: hit.rank,
                    retriever_score: hit.score,
                    bm25_score: hit.bm25_score,
                    dense_score: hit.dense_score,
                    passage_id: hit.id.clone(),
                    title: hit.title.clone(),
                    candidates,
                    null_score,
                    text: hit.text.clone(),
                })
            })
            .collect()
    }
}
