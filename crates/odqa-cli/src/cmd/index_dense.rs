//! `odqa index-dense`: compute the passage vectors of an index for dense and hybrid retrieval.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use odqa_pipeline::dense::{build_dense, DenseBuildOptions, DenseBuildSummary};
use odqa_pipeline::{Observer, PipelineError};
use odqa_reader::DefaultBackend;

use crate::args::{parse_threads, with_threads, Interrupted};
use crate::progress::CountProgress;

/// `odqa index-dense` (its help text is the doc comment of `Command::IndexDense`).
#[derive(Debug, Args)]
pub struct IndexDenseArgs {
    /// Index directory (from `odqa index`)
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// Encoder model directory (Hugging Face BERT/XLM-R layout; e5's base)
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    #[command(flatten)]
    options: DenseOptionArgs,
    /// Worker threads (0 = one per core, at most 1024)
    #[arg(long, default_value_t = 0, value_parser = parse_threads)]
    threads: usize,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
}

/// How passages are embedded (`index-dense`, `index --dense`).
#[derive(Debug, Clone, Args)]
pub struct DenseOptionArgs {
    /// Passages per forward pass (sorted by length)
    #[arg(long = "dense-batch-size", value_name = "N", default_value_t = 32)]
    batch_size: usize,
    /// Tokens read per passage at most (longer passages are truncated)
    #[arg(long = "dense-max-len", value_name = "N", default_value_t = 512)]
    max_len: usize,
    /// Passages embedded between two saves of the resumable progress
    #[arg(long = "dense-chunk", value_name = "N", default_value_t = 4096)]
    chunk: usize,
    /// Prefix of passages (e5's)
    #[arg(long, value_name = "TEXT", default_value = "passage: ")]
    passage_prefix: String,
    /// Prefix of questions, recorded for search (e5's)
    #[arg(long, value_name = "TEXT", default_value = "query: ")]
    query_prefix: String,
}

impl DenseOptionArgs {
    fn options(&self) -> DenseBuildOptions {
        DenseBuildOptions {
            batch_size: self.batch_size.max(1),
            max_len: self.max_len,
            chunk: self.chunk.max(1),
            passage_prefix: self.passage_prefix.clone(),
            query_prefix: self.query_prefix.clone(),
        }
    }
}

/// `odqa index-dense`.
pub fn run(args: IndexDenseArgs) -> anyhow::Result<()> {
    let stop = crate::args::stop_flag(
        "interrupting: finishing the current batches, then saving the progress…",
    );
    let summary = with_threads(args.threads, || {
        embed_index(&args.index, &args.model, &args.options, args.json, stop)
    })??;
    if args.json {
        let mut value = serde_json::to_value(&summary)?;
        value["index"] = serde_json::json!(args.index);
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print_summary(&args.index, &summary);
    }
    Ok(())
}

/// Embeds the passages of `index` with `model` (`index --dense` too), with a progress bar unless
/// `json`; `stop` (Ctrl-C) interrupts it, keeping the progress.
pub fn embed_index(
    index: &Path,
    model: &Path,
    options: &DenseOptionArgs,
    json: bool,
    stop: odqa_pipeline::CancelToken,
) -> anyhow::Result<DenseBuildSummary> {
    let progress =
        (!json).then(|| CountProgress::new("embedding", "passages").stopping_on(stop.clone()));
    let observer: &dyn Observer = match &progress {
        Some(p) => p,
        None => &stop,
    };
    let result = build_dense::<DefaultBackend>(
        index,
        model,
        &options.options(),
        observer,
        &Default::default(),
    );
    if let Some(p) = &progress {
        p.finish();
    }
    match result {
        Err(PipelineError::Interrupted) => {
            Err(Interrupted(format!(
            "interrupted: the vectors computed so far are kept in {}; `odqa index-dense --index \
             {} --model {}` with the same --dense-* options resumes them (other options start \
             over)",
            index.join(odqa_retriever::dense::build::PARTIAL_DIR).display(),
            index.display(),
            model.display()
        ))
            .into())
        }
        other => other
            .with_context(|| format!("cannot compute the passage vectors of {}", index.display())),
    }
}

/// What `index-dense` did, in words on stdout.
pub fn print_summary(index: &Path, s: &DenseBuildSummary) {
    let computed = s.passages - s.resumed;
    println!(
        "embedded {computed} passages{} into {} ({} values each, {:.1} MiB) in {:.1} s ({:.1} passages/s)",
        if s.resumed > 0 {
            format!(" (resumed after {})", s.resumed)
        } else {
            String::new()
        },
        index.join(odqa_retriever::dense::DENSE_DIR).display(),
        s.dim,
        s.bytes as f64 / (1 << 20) as f64,
        s.seconds,
        computed as f64 / s.seconds.max(1e-9)
    );
}
