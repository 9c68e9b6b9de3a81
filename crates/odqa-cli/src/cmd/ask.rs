//! `odqa ask`: one question → the answer, its probability and its evidence.

use std::io::IsTerminal;

use clap::Args;
use odqa_pipeline::{evidence, Answer, Evidence, PassageRead, QuestionError};
use serde_json::json;

use crate::args::{with_threads, AnswerArgs, NotFound, PipelineArgs};

/// Answers printed without --nbest.
const SHOWN_ANSWERS: usize = 5;

/// One answer in `odqa ask --json`: the nbest_predictions.json entry, its passage's rank and BM25
/// score, and its evidence.
#[derive(serde::Serialize)]
struct AnswerJson<'a> {
    #[serde(flatten)]
    answer: &'a Answer,
    rank: usize,
    retriever_score: f32,
    sentence: Option<String>,
    evidence: Option<Evidence>,
}

/// Arguments of `odqa ask` (the help text is on the subcommand in main.rs).
#[derive(Debug, Args)]
pub struct AskArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    #[command(flatten)]
    answer: AnswerArgs,
    /// Print the answers, their evidence and the passages read as JSON
    #[arg(long)]
    json: bool,
    /// The question
    question: String,
}

pub fn run(args: AskArgs) -> anyhow::Result<()> {
    let mut settings = args.pipeline.settings(Some(&args.answer))?;
    if args.answer.n_best.is_none() {
        settings.n_best = SHOWN_ANSWERS;
    }
    let min_probability = settings.min_probability;
    let pipeline = args.pipeline.open(settings)?;
    // Empty, wordless or too long questions are usage errors (exit 2), as for `odqa retrieve`.
    let result = with_threads(args.pipeline.threads, || pipeline.ask(&args.question))??;
    let passage = |a: &Answer| result.passage_of(a);
    if args.json {
        let answers: Vec<_> = result
            .answers
            .iter()
            .map(|a| {
                let evidence = passage(a).map(|p| evidence(&p.text, a.start, a.end));
                AnswerJson {
                    answer: a,
                    rank: a.rank,
                    retriever_score: a.retriever_score,
                    sentence: evidence.as_ref().map(Evidence::sentence),
                    evidence,
                }
            })
            .collect();
        let passages: Vec<_> = result
            .passages
            .iter()
            .map(|p: &PassageRead| {
                json!({"rank": p.rank, "id": p.passage_id, "title": p.title, "score": p.retriever_score})
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "question": args.question,
                "answer": result.answers.first().map(|a| a.text.as_str()),
                "answers": answers,
                "passages": passages,
                "error": result.error,
                "timings": result.timings,
            }))?
        );
    }
    let Some(best) = result.answers.first() else {
        let why = result
            .error
            .as_ref()
            .map(QuestionError::to_string)
            .unwrap_or_else(|| {
                if min_probability > 0.0 {
                    format!("no answer found with a probability of at least {min_probability}")
                } else {
                    "the reader found no span".into()
                }
            });
        return Err(NotFound(format!("no answer: {why}")).into());
    };
    if args.json {
        return Ok(());
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let highlight = |s: &str| {
        if color {
            format!("\x1b[1;33m{s}\x1b[0m")
        } else {
            format!("«{s}»")
        }
    };
    println!("{}  (p = {:.3})", best.text, best.probability);
    for (i, a) in result.answers.iter().enumerate() {
        if i > 0 {
            println!("{:>2}. {}  (p = {:.3})", i + 1, a.text, a.probability);
        }
        if let Some(p) = passage(a) {
            let e = evidence(&p.text, a.start, a.end);
            println!(
                "    {} [{}] chars {}–{}, passage #{} (BM25 {:.2})",
                a.title, a.passage_id, a.start, a.end, a.rank, a.retriever_score
            );
            println!("    {}{}{}", e.before, highlight(&e.answer), e.after);
        }
    }
    Ok(())
}
