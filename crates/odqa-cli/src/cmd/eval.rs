//! `odqa eval`: evaluation subcommands.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use odqa_retriever::eval::evaluate_recall;
use odqa_retriever::Retriever;

use crate::args::{with_threads, Bm25Args, UsageError};

/// What to evaluate.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Answer-recall@k (a gold answer string occurs in a retrieved passage) and title-recall@k.
    Retrieval(RetrievalArgs),
}

/// Evaluate retrieval on a SQuAD-format question set.
#[derive(Debug, Args)]
pub struct RetrievalArgs {
    /// Index directory (from `odqa index`)
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// SQuAD-format JSON with questions and answers (KorQuAD, XQuAD), or a datasets split folder
    /// saved with save_to_disk (e.g. the competition's train_dataset/validation)
    #[arg(long, value_name = "SQUAD_JSON")]
    data: PathBuf,
    /// Cut-offs k, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "1,5,10,20,50,100")]
    top_k: Vec<usize>,
    /// Only the first N questions
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Search threads (0 = one per core); latency is per question either way
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print one JSON object: {"questions": N, "recall@1": ..., ...}
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    bm25: Bm25Args,
}

pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Retrieval(args) => retrieval(args),
    }
}

fn retrieval(args: RetrievalArgs) -> anyhow::Result<()> {
    if args.top_k.is_empty() || args.top_k.contains(&0) {
        return Err(UsageError("--top-k needs positive cut-offs, e.g. 1,5,20".into()).into());
    }
    let retriever = Retriever::open(&args.index).context("cannot open the index")?;
    let params = args.bm25.overrides().apply(*retriever.params());
    let retriever = retriever.with_params(params)?;
    let mut examples =
        odqa_core::squad::read_examples(&args.data).context("cannot read the question set")?;
    if let Some(n) = args.limit {
        examples.truncate(n);
    }
    if examples.is_empty() {
        return Err(UsageError(format!("{}: no questions", args.data.display())).into());
    }
    let progress = !args.json;
    let report = with_threads(args.threads, || {
        evaluate_recall(&retriever, &examples, &args.top_k, progress)
    })??;
    if args.json {
        println!("{}", serde_json::to_string(&report.to_json())?);
        return Ok(());
    }
    let p = retriever.params();
    println!(
        "{} questions, index {} ({} passages), analyzer {}, BM25 k1={} b={} delta={} idf={} title_weight={}",
        report.questions,
        args.index.display(),
        retriever.num_passages(),
        retriever.analyzer().language,
        p.k1,
        p.b,
        p.delta,
        p.idf,
        p.title_weight
    );
    println!(
        "{:>6}  {:>14}  {:>13}",
        "k", "answer-recall", "title-recall"
    );
    for (k, r) in &report.answer_recall {
        let t = report
            .title_recall
            .get(k)
            .map_or("-".to_string(), |t| format!("{t:.4}"));
        println!("{k:>6}  {r:>14.4}  {t:>13}");
    }
    println!(
        "latency p50 {:.2} ms, p95 {:.2} ms; {:.1} questions/s on {} threads{}",
        report.latency_ms.0,
        report.latency_ms.1,
        report.questions_per_second,
        report.threads,
        if report.failed > 0 {
            format!("; {} questions could not be searched", report.failed)
        } else {
            String::new()
        }
    );
    Ok(())
}
