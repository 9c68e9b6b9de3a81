//! `odqa retrieve`: print the best passages for a question.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use odqa_core::text::snippet;
use odqa_retriever::Retriever;

use crate::args::{Bm25Args, NotFound};

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
    /// Print JSON: {"question", "hits": [{rank, score, id, title, text, doc_id, char_offset, ...}]}
    #[arg(long)]
    json: bool,
    /// Characters of passage text to show per hit (text output)
    #[arg(long, default_value_t = 160)]
    snippet_chars: usize,
    #[command(flatten)]
    bm25: Bm25Args,
    /// The question
    #[arg(value_name = "QUESTION")]
    question: String,
}

pub fn run(args: RetrieveArgs) -> anyhow::Result<()> {
    let retriever = Retriever::open(&args.index).with_context(|| "cannot open the index")?;
    let params = args.bm25.overrides().apply(*retriever.params());
    let retriever = retriever.with_params(params)?;
    let hits = retriever.search(
        &args.question,
        usize::try_from(args.top_k).unwrap_or(usize::MAX),
    )?;
    if args.json {
        let json = serde_json::json!({ "question": args.question, "hits": hits });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        for hit in &hits {
            println!(
                "{:>3}  {:>8.3}  {}  {}",
                hit.rank, hit.score, hit.id, hit.title
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
