//! `odqa read`: reading comprehension on given contexts (how KorQuAD itself is scored).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use odqa_core::fsio::check_outputs;
use odqa_core::squad::QaExample;
use odqa_reader::decode::{length_penalty_ok, DecodeSettings};
use odqa_reader::features::WindowSettings;
use odqa_reader::precision::Precision;
use odqa_reader::read::{ExamplePrediction, Reader};
use odqa_reader::DefaultBackend;
use serde_json::{Map, Value};

use crate::args::{BaseArgs, UsageError};
use crate::progress::CountProgress;
use odqa_pipeline::submission::write_pair;

/// Arguments of `odqa read` (the help text is on the subcommand in main.rs).
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Model directory, or a LoRA adapter directory (read on the base it names)
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    #[command(flatten)]
    base: BaseArgs,
    /// SQuAD-format JSON with questions and contexts (KorQuAD, XQuAD), or a datasets split folder
    /// saved with save_to_disk (e.g. the competition's train_dataset/validation)
    #[arg(long, value_name = "SQUAD_JSON")]
    data: PathBuf,
    /// Where to write {question id: answer}
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Where to write {question id: [{text, start_logit, end_logit, score, probability, start, end}]}
    #[arg(long, value_name = "FILE")]
    nbest_out: Option<PathBuf>,
    /// Windows per forward pass
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
    /// Window length in tokens (question + context + specials, padded)
    #[arg(long, default_value_t = 384)]
    max_seq_len: usize,
    /// Overlap between consecutive windows of a long context, in tokens
    #[arg(long, default_value_t = 128)]
    doc_stride: usize,
    /// Candidates kept per question
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    n_best: u64,
    /// Longest answer, in tokens
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    max_answer_len: u64,
    /// Taken off a span's score for each token after its first, ≥ 0 (0 = transformers' ranking):
    /// a prior towards shorter answers (`2008년` rather than `2008년 9월`)
    #[arg(long, default_value_t = 0.0, value_name = "L")]
    length_penalty: f32,
    /// Answer a question that asks for a year (연도, 몇 년도, 어느 해, `… 해는?`) with the year
    /// alone where the span is a full date: 1993년 11월 23일 → 1993년 (KorQuAD's convention)
    #[arg(long)]
    year_answers: bool,
    /// Only the first N questions
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Worker threads for the CPU backend and tokenization (0 = one per core)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Precision of the encoder's matrix products: fp32, bf16 (AMX tiles where the CPU has
    /// them, else the same rounded values in f32), int8 (AVX-512 VNNI or AVX2; KorQuAD dev EM ≈
    /// 1 lower), auto (bf16 on a CPU with AMX-BF16, else fp32)
    #[arg(long, default_value_t = Precision::Auto, value_name = "PRECISION")]
    precision: Precision,
}

pub fn run(args: ReadArgs) -> anyhow::Result<()> {
    let windows = WindowSettings {
        max_seq_len: args.max_seq_len,
        doc_stride: args.doc_stride,
    };
    if windows.validate().is_err() {
        return Err(UsageError(format!(
            "--doc-stride {} must be smaller than --max-seq-len {}",
            args.doc_stride, args.max_seq_len
        ))
        .into());
    }
    // n_best and max_answer_len are at least 1 by their parsers.
    if !length_penalty_ok(args.length_penalty) {
        return Err(UsageError(format!(
            "--length-penalty {} must be a finite number of at least 0",
            args.length_penalty
        ))
        .into());
    }
    let decode = DecodeSettings {
        n_best: args.n_best as usize,
        max_answer_len: args.max_answer_len as usize,
        length_penalty: args.length_penalty,
        year_answers: args.year_answers,
    };
    let mut outputs = vec![args.out.as_path()];
    outputs.extend(args.nbest_out.as_deref());
    check_outputs(&[&args.model, &args.data], &outputs)?;
    let started = Instant::now();
    let reader = load(&args, windows)?;
    let examples = questions(&args)?;
    let read_started = Instant::now();
    // Ctrl-C → ReaderError::Interrupted after the current batches, exit 130, nothing written.
    let stop = crate::args::stop_flag("stopping after the current batch; nothing will be written");
    let progress = CountProgress::new("reading", "windows").stopping_on(stop);
    let predictions = crate::args::with_threads(args.threads, || {
        reader.read(&examples, decode, args.batch_size as usize, &progress)
    })??;
    progress.finish();
    let seconds = read_started.elapsed().as_secs_f64();
    let failed = write(&args, &predictions)?;
    let empty = predictions.iter().filter(|p| p.answer.is_empty()).count();
    let windows: usize = predictions.iter().map(|p| p.windows).sum();
    eprintln!(
        "read {} questions ({} windows of {} tokens) in {:.1} s: {:.2} windows/s, batch {}, {} (model loaded in {:.1} s); \
         {} empty answers, {} unreadable; wrote {}",
        predictions.len(),
        windows,
        args.max_seq_len,
        seconds,
        windows as f64 / seconds.max(1e-9),
        args.batch_size,
        args.precision.describe(),
        read_started.duration_since(started).as_secs_f64(),
        empty,
        failed,
        args.out.display()
    );
    Ok(())
}

/// The reader of `--model`, with a warning when its head is fresh (random).
fn load(args: &ReadArgs, windows: WindowSettings) -> anyhow::Result<Reader<DefaultBackend>> {
    let source = args.base.source(&args.model);
    let reader = Reader::<DefaultBackend>::open(&source, windows, &Default::default())
        .with_context(|| format!("cannot load the model {}", args.model.display()))?
        .with_precision(args.precision);
    for warning in &reader.warnings {
        eprintln!("warning: {warning}");
    }
    if reader.fresh_head {
        eprintln!(
            "warning: {} has no QA head; a fresh random {} head was initialised, so answers are \
             meaningless until the model is fine-tuned",
            args.model.display(),
            reader.config().head()
        );
    }
    Ok(reader)
}

/// The questions of `--data` (the first `--limit`); none is a usage error.
fn questions(args: &ReadArgs) -> anyhow::Result<Vec<QaExample>> {
    let mut examples =
        odqa_core::squad::read_examples(&args.data).context("cannot read the questions")?;
    if let Some(n) = args.limit {
        examples.truncate(n);
    }
    if examples.is_empty() {
        return Err(UsageError(format!("{}: no questions", args.data.display())).into());
    }
    Ok(examples)
}

/// Writes the answers and the n-best lists (warning about unreadable questions); returns how
/// many questions could not be read.
fn write(args: &ReadArgs, predictions: &[ExamplePrediction]) -> anyhow::Result<usize> {
    let mut answers = Map::new();
    let mut nbest = Map::new();
    let mut failed = 0;
    for p in predictions {
        if let Some(error) = &p.error {
            failed += 1;
            eprintln!(
                "warning: question {}: {error}; answered with an empty string",
                p.id
            );
        }
        answers.insert(p.id.clone(), Value::String(p.answer.clone()));
        nbest.insert(p.id.clone(), serde_json::to_value(&p.nbest)?);
    }
    write_pair(&args.out, &answers, args.nbest_out.as_deref(), &nbest)?;
    Ok(failed)
}
