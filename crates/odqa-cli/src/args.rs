//! Argument types shared by several subcommands.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use odqa_pipeline::{CancelToken, ModelSource, Pipeline, PipelineSettings, Strategy, Timings};
use odqa_reader::DefaultBackend;
use odqa_retriever::{Bm25Overrides, Idf};

pub use crate::retriever_args::RetrieverArgs;

/// A usage error found after argument parsing (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Nothing found (exit status 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// Stopped by Ctrl-C after saving what can be resumed (exit status 130, as for SIGINT).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// BM25 parameter overrides (defaults: the index's for retrieval, the language's for indexing).
#[derive(Debug, Clone, Args)]
pub struct Bm25Args {
    /// BM25 term-frequency saturation k1 [default: the index's]
    #[arg(long, value_name = "K1")]
    pub k1: Option<f64>,
    /// BM25 length normalisation b, 0..1 [default: the index's]
    #[arg(long, value_name = "B")]
    pub b: Option<f64>,
    /// BM25+ lower bound δ added for every matching term (0 = plain BM25) [default: the index's]
    #[arg(long, value_name = "DELTA")]
    pub delta: Option<f64>,
    /// idf formula [default: the index's]
    #[arg(long, value_enum)]
    pub idf: Option<IdfArg>,
    /// Weight of title matches relative to text matches (0 = text only) [default: the index's]
    #[arg(long, value_name = "W")]
    pub title_weight: Option<f64>,
    /// Count a word repeated in the question once per occurrence (true) or once (false)
    #[arg(long, value_name = "BOOL")]
    pub query_tf: Option<bool>,
}

impl Bm25Args {
    /// The overrides given on the command line.
    pub fn overrides(&self) -> Bm25Overrides {
        Bm25Overrides {
            k1: self.k1,
            b: self.b,
            delta: self.delta,
            idf: self.idf.map(Into::into),
            title_weight: self.title_weight,
            query_tf: self.query_tf,
        }
    }
}

/// idf formulas.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IdfArg {
    /// ln(1 + (N − df + 0.5)/(df + 0.5)) as Lucene and tantivy
    Lucene,
    /// ln(N/df) as ATIRE
    Atire,
}

impl From<IdfArg> for Idf {
    fn from(a: IdfArg) -> Idf {
        match a {
            IdfArg::Lucene => Idf::Lucene,
            IdfArg::Atire => Idf::Atire,
        }
    }
}

/// The most worker threads `--threads` accepts: far more than any machine's cores, far fewer than
/// the 100,000 that kept odqa spawning threads for minutes.
pub const MAX_THREADS: usize = 1024;

/// `threads` itself, or why it is refused (more than [`MAX_THREADS`]).
fn within_thread_limit(threads: usize) -> Result<usize, String> {
    if threads > MAX_THREADS {
        return Err(format!(
            "at most {MAX_THREADS} worker threads (0 = one per core)"
        ));
    }
    Ok(threads)
}

/// clap's parser of `--threads N` (0 = one per core): a count up to [`MAX_THREADS`].
pub fn parse_threads(arg: &str) -> Result<usize, String> {
    within_thread_limit(arg.parse::<usize>().map_err(|e| e.to_string())?)
}

/// A `--threads` count parsed without [`parse_threads`], checked the same way: a usage error
/// naming the limit beyond it.
pub fn check_threads(threads: usize) -> Result<usize, UsageError> {
    within_thread_limit(threads).map_err(|e| UsageError(format!("--threads {threads}: {e}")))
}

/// The command line as text. odqa records paths as UTF-8 (index metadata, predictions, checkpoint
/// names), so an argument that is not valid UTF-8 (a file name in another encoding) is a usage
/// error naming it, before any work; clap refuses the same for text arguments.
pub fn utf8_args(args: impl IntoIterator<Item = OsString>) -> Result<Vec<String>, UsageError> {
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| match arg.into_string() {
            Ok(arg) => Ok(arg),
            // The program's own name is never read.
            Err(arg) if i == 0 => Ok(arg.to_string_lossy().into_owned()),
            Err(arg) => Err(UsageError(format!(
                "argument '{}' is not valid UTF-8 (invalid bytes shown as \u{fffd}); odqa \
                 records paths as UTF-8 text: rename the file or directory",
                arg.to_string_lossy()
            ))),
        })
        .collect()
}

/// Builds a rayon pool of `threads` threads (0 = one per core, at most [`MAX_THREADS`]) and runs
/// `f` on it.
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    let threads = check_threads(threads)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    Ok(pool.install(f))
}

/// Index, model and reading settings of `ask`, `predict` and `tune`.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// Index directory (built by `odqa index`)
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Reader model directory with a QA head (e.g. the --out of `odqa train`), or a LoRA adapter
    /// directory (adapter_config.json), read on the base it names
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    #[command(flatten)]
    pub base: BaseArgs,
    /// Settings TOML (keys: top_k, strategy, mu, trim_josa, n_best, batch_size, …; `odqa tune`
    /// writes one); flags override it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Windows per forward pass [default: 16]
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Longest answer, in tokens [default: 30]
    #[arg(long, value_name = "N")]
    pub max_answer_len: Option<usize>,
    /// Taken off a span's reader score per token after its first, ≥ 0: a prior towards shorter
    /// answers (`2008년` rather than `2008년 9월`) [default: 0]
    #[arg(long, value_name = "L")]
    pub length_penalty: Option<f32>,
    /// Answer a question that asks for a year (연도, 몇 년도, 어느 해, `… 해는?`) with the year
    /// alone where the span is a full date: 1993년 11월 23일 → 1993년 (KorQuAD's convention;
    /// --year-answers=false turns off a settings file's) [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub year_answers: Option<bool>,
    /// Window length in tokens (question + passage + specials) [default: 384]
    #[arg(long, value_name = "N")]
    pub max_seq_len: Option<usize>,
    /// Overlap between consecutive windows of a long passage, in tokens [default: 128]
    #[arg(long, value_name = "N")]
    pub doc_stride: Option<usize>,
    /// Worker threads for the CPU backend, retrieval and tokenization (0 = one per core, at most
    /// 1024)
    #[arg(long, default_value_t = 0, value_parser = parse_threads)]
    pub threads: usize,
    #[command(flatten)]
    pub retrieval: RetrieverArgs,
}

/// The base of a LoRA adapter given as the model.
#[derive(Debug, Clone, Args)]
pub struct BaseArgs {
    /// Base model of a LoRA adapter given as --model, instead of the one its
    /// adapter_config.json names (base_model_name_or_path, relative to the adapter directory)
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// Accept a base whose weights file differs from the one the adapter was trained on
    /// (its sha256 is recorded in adapter_config.json); answers may be wrong. Warns
    #[arg(long)]
    pub base_mismatch_ok: bool,
}

impl BaseArgs {
    /// The model `dir` with this base.
    pub fn source(&self, dir: &Path) -> ModelSource {
        ModelSource {
            dir: dir.to_path_buf(),
            base: self.base.clone(),
            base_mismatch_ok: self.base_mismatch_ok,
        }
    }
}

/// How answers are chosen (`ask`, `predict`).
#[derive(Debug, Clone, Args)]
pub struct AnswerArgs {
    /// Passages retrieved and read per question [default: 20]
    #[arg(long, value_name = "K")]
    pub top_k: Option<usize>,
    /// How spans of different passages are compared: logit (start+end logit), softmax
    /// (per-passage probabilities, passages weighted equally), fusion ((1-μ)·BM25 + μ·reader),
    /// merge (fusion probabilities summed over spans with the same text) [default: fusion]
    #[arg(long, value_name = "STRATEGY")]
    pub strategy: Option<Strategy>,
    /// Reader weight μ of fusion/merge, 0..1 (1 = reader only) [default: 0.9]
    #[arg(long, value_name = "MU")]
    pub mu: Option<f32>,
    /// How much of a passage's no-answer score ([CLS]) is taken off its spans' scores before
    /// passages are compared, 0..1: 1 ranks a span by how much the reader prefers it to "no
    /// answer in this passage", which lowers passages the reader finds answerless (`odqa tune`
    /// chooses it) [default: 0]
    #[arg(long, value_name = "W")]
    pub null_weight: Option<f32>,
    /// Trim trailing Korean particles (josa) from answers: 서울에서 → 서울 [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub trim_josa: Option<bool>,
    /// Answers kept per question: distinct answers for ask and the server, every span for
    /// nbest_predictions.json [default: 20]
    #[arg(long = "nbest", alias = "n-best", value_name = "N")]
    pub n_best: Option<usize>,
    /// Calibration temperature of the probabilities (`odqa tune` fits one; the order of the
    /// answers never changes) [default: 1]
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,
    /// Answer nothing ("no answer found", exit status 1; an empty answer in predictions.json)
    /// when the best answer's probability is below P, 0..1 [default: 0 = always answer]
    #[arg(long, value_name = "P")]
    pub min_probability: Option<f32>,
}

impl PipelineArgs {
    /// The settings: defaults, the --config file, then the flags given (`answer`: those of
    /// [`AnswerArgs`], when the command has them).
    pub fn settings(&self, answer: Option<&AnswerArgs>) -> anyhow::Result<PipelineSettings> {
        self.settings_for_k(answer, None)
    }

    /// [`Self::settings`] with `top_k` in place of the file's and the flags' when given (`odqa
    /// tune`, which reads the largest k of its grid), before the settings are checked.
    pub fn settings_for_k(
        &self,
        answer: Option<&AnswerArgs>,
        top_k: Option<usize>,
    ) -> anyhow::Result<PipelineSettings> {
        let mut s = match &self.config {
            Some(path) => PipelineSettings::load(path)?,
            None => PipelineSettings::default(),
        };
        s.batch_size = self.batch_size.unwrap_or(s.batch_size);
        s.max_answer_len = self.max_answer_len.unwrap_or(s.max_answer_len);
        s.length_penalty = self.length_penalty.unwrap_or(s.length_penalty);
        s.year_answers = self.year_answers.unwrap_or(s.year_answers);
        s.max_seq_len = self.max_seq_len.unwrap_or(s.max_seq_len);
        s.doc_stride = self.doc_stride.unwrap_or(s.doc_stride);
        self.retrieval.apply(&mut s);
        if let Some(a) = answer {
            s.top_k = a.top_k.unwrap_or(s.top_k);
            s.strategy = a.strategy.unwrap_or(s.strategy);
            s.mu = a.mu.unwrap_or(s.mu);
            s.null_weight = a.null_weight.unwrap_or(s.null_weight);
            s.trim_josa = a.trim_josa.unwrap_or(s.trim_josa);
            s.n_best = a.n_best.unwrap_or(s.n_best);
            s.temperature = a.temperature.unwrap_or(s.temperature);
            s.min_probability = a.min_probability.unwrap_or(s.min_probability);
        }
        s.top_k = top_k.unwrap_or(s.top_k);
        s.validate().map_err(|e| UsageError(e.to_string()))?;
        Ok(s)
    }

    /// Opens the index and loads the model with `settings`.
    pub fn open(&self, settings: PipelineSettings) -> anyhow::Result<Pipeline<DefaultBackend>> {
        let pipeline = Pipeline::open(
            &self.index,
            self.base.source(&self.model),
            settings,
            &Default::default(),
        )?;
        for warning in pipeline.warnings() {
            eprintln!("warning: {warning}");
        }
        Ok(pipeline)
    }
}

/// A token cancelled by the first Ctrl-C, which prints `message` (what happens next); a second
/// Ctrl-C exits at once with status 130. The one Ctrl-C handler of the binary.
pub fn stop_flag(message: &'static str) -> CancelToken {
    let stop = CancelToken::new();
    let flag = stop.clone();
    let installed = ctrlc::set_handler(move || {
        if flag.cancel() {
            std::process::exit(130);
        }
        eprintln!("\n{message} (Ctrl-C again to quit at once)");
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will stop at once, without cleaning up: {e}");
    }
    stop
}

/// Where the reading time went.
pub fn print_timings(t: &Timings, questions: usize) {
    let total = t.total().max(1e-9);
    let part = |s: f64| format!("{s:.1} s ({:.0} %)", 100.0 * s / total);
    eprintln!(
        "{questions} questions, {} passages, {} windows in {total:.1} s ({:.2} questions/s): \
         retrieval {}, tokenization {}, encoder {}, decoding {}",
        t.passages,
        t.windows,
        questions as f64 / total,
        part(t.retrieval),
        part(t.tokenization),
        part(t.encoder),
        part(t.decoding)
    );
}
