//! `odqa ask`: one question → the answer, its probability and its evidence.

use std::io::IsTerminal;

use std::time::Instant;

use clap::Args;
use odqa_pipeline::{evidence, Answer, PassageRead, QuestionError};
use odqa_serve::api::AskResponse;

use crate::args::{with_threads, AnswerArgs, NotFound, PipelineArgs};

/// Answers printed without --nbest.
const SHOWN_ANSWERS: usize = 5;

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
    let started = Instant::now();
    let result = with_threads(args.pipeline.threads, || pipeline.ask(&args.question))??;
    let passage = |a: &Answer| result.passage_of(a);
    if args.json {
        // The JSON of the HTTP API's POST /v1/ask: one shape for an answer, CLI or server.
        let total_ms = started.elapsed().as_secs_f64() * 1e3;
        let question = args.question.trim().to_string();
        let response = AskResponse::new(question, &result, 1, 0.0, total_ms);
        println!("{}", serde_json::to_string_pretty(&response)?);
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
                "    {} [{}] chars {}–{}, passage #{} ({})",
                a.title,
                a.passage_id,
                a.start,
                a.end,
                a.rank,
                retrieval_scores(p)
            );
            println!("    {}{}{}", e.before, highlight(&e.answer), e.after);
        }
    }
    Ok(())
}

/// The retrievers' own scores of a passage read, as the page shows them: BM25's, the dense cosine,
/// or both (hybrid; a passage outside BM25's list has only the cosine). Dense passages'
/// `retriever_score` is on BM25's scale for the aggregation, not a BM25 score, so it is shown only
/// when neither is known (BM25 retrieval, where it is BM25's).
fn retrieval_scores(p: &PassageRead) -> String {
    odqa_retriever::score_label(p.bm25_score, p.dense_score)
        .unwrap_or_else(|| format!("BM25 {:.2}", p.retriever_score))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    /// `ask`'s arguments from a command line.
    fn parsed(line: &[&str]) -> super::AskArgs {
        let mut argv = vec!["odqa", "ask", "--index", "i", "--model", "m"];
        argv.extend(line);
        match crate::Cli::try_parse_from(argv)
            .expect("a valid command line")
            .command
        {
            crate::Command::Ask(args) => *args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn year_answers_before_the_question_leaves_the_question_alone() {
        let args = parsed(&["--year-answers", "훈민정음이 반포된 연도는?"]);
        assert_eq!(args.question, "훈민정음이 반포된 연도는?");
        assert_eq!(args.pipeline.year_answers, Some(true));
        let args = parsed(&["--year-answers=false", "q"]);
        assert_eq!(args.pipeline.year_answers, Some(false));
        assert_eq!(parsed(&["q"]).pipeline.year_answers, None);
    }
}
