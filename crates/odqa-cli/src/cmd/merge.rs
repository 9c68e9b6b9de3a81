//! `odqa merge-predictions`: join the partial files of `odqa predict --shard I/N`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use odqa_core::fsio::{check_outputs, write_atomic};
use odqa_core::shard::merge_shards;

/// Arguments of `odqa merge-predictions` (the help text is on the subcommand in main.rs).
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The question file the shards answered (gives the ids and their order)
    #[arg(long, value_name = "PATH")]
    questions: PathBuf,
    /// Where to write the merged file
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The partial files (predictions.json or nbest_predictions.json of every shard)
    #[arg(required = true, value_name = "PART")]
    parts: Vec<PathBuf>,
}

pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let mut inputs = vec![args.questions.as_path()];
    inputs.extend(args.parts.iter().map(PathBuf::as_path));
    check_outputs(&inputs, &[&args.out])?;
    let examples = odqa_core::questions::read_questions(&args.questions)
        .context("cannot read the questions")?;
    let ids: Vec<String> = examples.into_iter().map(|e| e.id).collect();
    let merged = merge_shards(&ids, &args.parts).context("cannot merge the parts")?;
    write_atomic(&args.out, &merged)?;
    eprintln!(
        "merged {} parts: {} questions, each once; wrote {}",
        args.parts.len(),
        ids.len(),
        args.out.display()
    );
    Ok(())
}
