//! `odqa eval breakdown`: where the open-domain answers of a dev set are lost.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use odqa_pipeline::breakdown::{breakdown, Breakdown, Outcome};
use odqa_pipeline::PipelineSettings;
use odqa_retriever::eval::answer_rank;

use crate::args::{with_threads, UsageError};

/// Split the open-domain errors into retrieval misses, reader errors and distractors.
#[derive(Debug, Args)]
pub struct BreakdownArgs {
    /// Index directory the open-domain predictions were made with (from `odqa index`)
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// SQuAD-format JSON with questions, gold answers and their paragraphs (KorQuAD dev.json)
    #[arg(long, value_name = "SQUAD_JSON")]
    data: PathBuf,
    /// Open-domain predictions {id: answer} (`odqa predict`)
    #[arg(long, value_name = "FILE")]
    predictions: PathBuf,
    /// Predictions on the gold paragraphs {id: answer} (`odqa read` on the same --data)
    #[arg(long, value_name = "FILE")]
    reading: PathBuf,
    /// Pipeline settings TOML the predictions were made with (its top_k is used)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Passages retrieved per question [default: --config's top_k, else 20]
    #[arg(long, value_name = "K")]
    top_k: Option<usize>,
    /// Also write one JSON line per question (id, outcome, answer rank, both answers and scores)
    #[arg(long, value_name = "FILE")]
    per_question: Option<PathBuf>,
    /// Search threads (0 = one per core)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print one JSON object instead of a table
    #[arg(long)]
    json: bool,
}

pub fn run(args: BreakdownArgs) -> anyhow::Result<()> {
    let mut inputs = vec![
        &*args.index,
        &*args.data,
        &*args.predictions,
        &*args.reading,
    ];
    inputs.extend(args.config.as_deref());
    let outputs: Vec<&std::path::Path> = args.per_question.as_deref().into_iter().collect();
    odqa_core::fsio::check_outputs(&inputs, &outputs)?;
    let settings = match &args.config {
        Some(path) => PipelineSettings::load(path)?,
        None => PipelineSettings::default(),
    };
    let top_k = args.top_k.unwrap_or(settings.top_k);
    if top_k == 0 {
        return Err(UsageError("--top-k must be at least 1".into()).into());
    }
    let examples =
        odqa_core::squad::read_examples(&args.data).context("cannot read the question set")?;
    let open = odqa_core::predictions::read_predictions(&args.predictions)
        .context("cannot read the open-domain predictions")?;
    let reading = odqa_core::predictions::read_predictions(&args.reading)
        .context("cannot read the reading predictions")?;
    // The retriever the predictions were made with (the --config's, e.g. hybrid).
    let retriever = odqa_pipeline::dense::open_retriever::<odqa_reader::DefaultBackend>(
        &args.index,
        &settings,
        &Default::default(),
    )
    .context("cannot open the index")?;
    let questions: Vec<&str> = examples.iter().map(|e| e.question.as_str()).collect();
    let hits = with_threads(args.threads, || retriever.search_batch(&questions, top_k))?;
    let ranks: Vec<Option<usize>> = examples
        .iter()
        .zip(&hits)
        .map(|(example, hits)| hits.as_ref().ok().and_then(|h| answer_rank(example, h)))
        .collect();
    let report = breakdown(&examples, &ranks, top_k, &open, &reading);
    if report.questions == 0 {
        return Err(UsageError(format!(
            "{}: no question has gold answers to score against",
            args.data.display()
        ))
        .into());
    }
    if let Some(path) = &args.per_question {
        let mut lines = String::new();
        for q in &report.per_question {
            lines.push_str(&serde_json::to_string(q)?);
            lines.push('\n');
        }
        odqa_core::fsio::write_atomic(path, lines.as_bytes())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&report))?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn to_json(report: &Breakdown) -> serde_json::Value {
    let mut outcomes = serde_json::Map::new();
    for (outcome, figures) in &report.outcomes {
        outcomes.insert(outcome.name().into(), serde_json::json!(figures));
    }
    serde_json::json!({
        "questions": report.questions,
        "top_k": report.top_k,
        "open_em": report.open_em,
        "open_f1": report.open_f1,
        "reading_em": report.reading_em,
        "reading_f1": report.reading_f1,
        "recall": report.recall,
        "outcomes": outcomes,
    })
}

fn print_table(report: &Breakdown) {
    println!(
        "{} questions, top-{} passages: open-domain EM {:.2} F1 {:.2}; reading on the gold \
         paragraphs EM {:.2} F1 {:.2}; answer-recall@{} {:.2} %",
        report.questions,
        report.top_k,
        report.open_em,
        report.open_f1,
        report.reading_em,
        report.reading_f1,
        report.top_k,
        report.recall
    );
    println!(
        "{:<16} {:>9} {:>9} {:>8}  meaning",
        "outcome", "questions", "% (EM)", "F1"
    );
    for (outcome, f) in &report.outcomes {
        let meaning = match outcome {
            Outcome::Correct => "open-domain exact match",
            Outcome::RetrievalMiss => "no gold answer in the top-k passages",
            Outcome::ReaderOnGold => "retrieved; the reader is wrong on the gold paragraph too",
            Outcome::Distractor => "retrieved and read right alone; lost to another span",
        };
        println!(
            "{:<16} {:>9} {:>9.2} {:>8.2}  {meaning}",
            outcome.name(),
            f.questions,
            f.percent,
            f.open_f1
        );
    }
}
