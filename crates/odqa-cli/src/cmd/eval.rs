//! `odqa eval`: evaluation subcommands.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use odqa_pipeline::{Observer, Unobserved};
use odqa_retriever::eval::evaluate_recall;

use crate::args::{with_threads, Bm25Args, RetrieverArgs, UsageError};
use crate::progress::CountProgress;

/// What to evaluate.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Answer-recall@k (a gold answer string occurs in a retrieved passage) and title-recall@k.
    Retrieval(RetrievalArgs),
    /// EM and F1 of a predictions.json ({id: answer}) as the official KorQuAD v1.0 (character F1)
    /// and SQuAD v1.1 (token F1) scripts compute them, with missing and extra ids counted.
    Answers(AnswersArgs),
    /// Where open-domain answers are lost: each question is correct, a retrieval miss (no gold
    /// answer in the top-k passages), a reader error (wrong on its gold paragraph too) or a
    /// distractor error (read right alone, lost to another passage's span)
    Breakdown(super::breakdown::BreakdownArgs),
}

/// Score predicted answers against a question set.
#[derive(Debug, Args)]
pub struct AnswersArgs {
    /// SQuAD-format JSON with gold answers, a save_to_disk split folder (e.g. the competition's
    /// train_dataset/validation), or JSONL with {"id", "question", "answers": ["…"]}
    #[arg(long, value_name = "SQUAD_JSON|DIR")]
    data: PathBuf,
    /// {question id: answer} as written by `odqa read` (or the leaderboard's predictions.json)
    #[arg(long, value_name = "FILE")]
    predictions: PathBuf,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
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
    #[command(flatten)]
    retrieval: RetrieverArgs,
}

pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Retrieval(args) => retrieval(args),
        EvalCommand::Answers(args) => answers(args),
        EvalCommand::Breakdown(args) => super::breakdown::run(args),
    }
}

fn answers(args: AnswersArgs) -> anyhow::Result<()> {
    let examples =
        odqa_core::questions::read_questions(&args.data).context("cannot read the question set")?;
    let predictions = odqa_core::predictions::read_predictions(&args.predictions)
        .context("cannot read the predictions")?;
    let r = odqa_core::predictions::score_predictions(&examples, &predictions);
    if r.scores.questions == 0 {
        return Err(UsageError(format!(
            "{}: no question has gold answers to score against",
            args.data.display()
        ))
        .into());
    }
    if args.json {
        let value = serde_json::json!({
            "questions": r.scores.questions,
            "exact_match": r.scores.korquad_em,
            "f1": r.scores.korquad_f1,
            "squad_exact_match": r.scores.squad_em,
            "squad_f1": r.scores.squad_f1,
            "missing": r.missing.len(),
            "extra": r.extra.len(),
            "without_gold": r.without_gold,
            "missing_ids": r.missing.iter().take(20).collect::<Vec<_>>(),
            "extra_ids": r.extra.iter().take(20).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "{} questions: KorQuAD v1.0 EM {:.2} F1 {:.2} | SQuAD v1.1 EM {:.2} F1 {:.2}",
            r.scores.questions,
            r.scores.korquad_em,
            r.scores.korquad_f1,
            r.scores.squad_em,
            r.scores.squad_f1
        );
        println!(
            "missing predictions: {} (scored 0){}; extra ids: {}{}; without gold answers: {}",
            r.missing.len(),
            first_ids(&r.missing),
            r.extra.len(),
            first_ids(&r.extra),
            r.without_gold
        );
    }
    Ok(())
}

/// ` (a, b, c, …)` for up to 5 ids, nothing for none.
fn first_ids(ids: &[String]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    format!(
        " ({}{})",
        shown.join(", "),
        if ids.len() > 5 { ", …" } else { "" }
    )
}

fn retrieval(args: RetrievalArgs) -> anyhow::Result<()> {
    if args.top_k.is_empty() || args.top_k.contains(&0) {
        return Err(UsageError("--top-k needs positive cut-offs, e.g. 1,5,20".into()).into());
    }
    let retriever = args
        .retrieval
        .open(&args.index, args.top_k.iter().copied().max().unwrap_or(1))
        .context("cannot open the index")?;
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
    let progress = (!args.json).then(|| CountProgress::questions("retrieving"));
    let observer: &dyn Observer = match &progress {
        Some(p) => p,
        None => &Unobserved,
    };
    let report = with_threads(args.threads, || {
        evaluate_recall(&retriever, &examples, &args.top_k, observer)
    })??;
    if let Some(p) = &progress {
        p.finish();
    }
    if args.json {
        let mut json = report.to_json();
        json["retriever"] = retriever.mode().name().into();
        if let Some(d) = retriever
            .dense_settings()
            .filter(|d| d.mode.needs_vectors())
        {
            json["fusion"] = serde_json::to_value(d.fusion)?;
            json["depth"] = d.depth.into();
        }
        println!("{}", serde_json::to_string(&json)?);
        return Ok(());
    }
    let p = retriever.params();
    let dense = match retriever.dense_settings() {
        Some(d) if d.mode.needs_vectors() => format!(
            ", {} retrieval{}",
            d.mode,
            if d.mode == odqa_retriever::RetrieverMode::Hybrid {
                format!(" ({}, depth {})", d.fusion, d.depth)
            } else {
                String::new()
            }
        ),
        _ => String::new(),
    };
    println!(
        "{} questions, index {} ({} passages), analyzer {}{dense}, BM25 k1={} b={} delta={} idf={} title_weight={}",
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
