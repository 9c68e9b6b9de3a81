//! `odqa retrieve`: print the best passages for a question.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use odqa_core::text::snippet;

use crate::args::{Bm25Args, NotFound, RetrieverArgs};

/// Print the passages that best match a question.
///
/// The question is analysed like the corpus and its words OR-ed together: any text works, query
/// syntax characters (" : ( ) AND - ^ ~ *) are ordinary characters. Exit status 1 when no passage
/// matches.
#[derive(Debug, Args)]
pub struct RetrieveArgs {
    /// Index directory (from `odqa index`)
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// Number of passages
    #[arg(long, short = 'k', default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    top_k: u64,
    /// Print JSON: {"question", "retriever", "hits": [{rank, score, id, title, text, doc_id,
    /// char_offset, ...}]}; dense and hybrid hits add bm25_score and dense_score where known
    #[arg(long)]
    json: bool,
    /// Characters of passage text to show per hit (text output)
    #[arg(long, default_value_t = 160)]
    snippet_chars: usize,
    #[command(flatten)]
    bm25: Bm25Args,
    #[command(flatten)]
    retrieval: RetrieverArgs,
    /// The question
    #[arg(value_name = "QUESTION")]
    question: String,
}

pub fn run(args: RetrieveArgs) -> anyhow::Result<()> {
    let retriever = args
        .retrieval
        .open(
            &args.index,
            usize::try_from(args.top_k).unwrap_or(usize::MAX),
        )
        .with_context(|| "cannot open the index")?;
    let params = args.bm25.overrides().apply(*retriever.params());
    let retriever = retriever.with_params(params)?;
    let hits = retriever.search(
        &args.question,
        usize::try_from(args.top_k).unwrap_or(usize::MAX),
    )?;
    if args.json {
        let json = serde_json::json!({
            "question": args.question,
            "retriever": retriever.mode().name(),
            "hits": hits,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        for hit in &hits {
            println!(
                "{:>3}  {:>8.3}  {}  {}{}",
                hit.rank,
                hit.score,
                hit.id,
                hit.title,
                component_scores(hit)
            );
            println!("     {}", snippet(&hit.text, args.snippet_chars));
            if !hit.duplicates.is_empty() {
                let ids: Vec<&str> = hit.duplicates.iter().map(|d| d.id.as_str()).collect();
                println!("     (same text also as: {})", ids.join(", "));
            }
        }
    }
    if hits.is_empty() {
        return Err(NotFound(format!("no passage matches {:?}", args.question)).into());
    }
    Ok(())
}

/// `  (BM25 12.30 · dense 0.871)` for a hybrid hit, the known scores only; nothing for BM25 hits.
fn component_scores(hit: &odqa_retriever::Hit) -> String {
    odqa_retriever::score_label(hit.bm25_score, hit.dense_score)
        .map_or_else(String::new, |label| format!("  ({label})"))
}
