//! `odqa index-dense`: compute the passage vectors of an index for dense and hybrid retrieval.

use odqa_reader::precision::Precision;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use odqa_core::scheduler::ShardSpec;
use odqa_pipeline::dense::{
    build_dense, build_dense_shard, merge_dense_shards, DenseBuildOptions, DenseBuildSummary,
};
use odqa_pipeline::{Observer, PipelineError};
use odqa_reader::DefaultBackend;
use odqa_retriever::dense::build::PARTIAL_DIR;
use odqa_retriever::dense::shards::{done_dir, partial_dir};

use crate::args::{parse_threads, with_threads, Interrupted, UsageError};
use crate::progress::CountProgress;

/// `odqa index-dense` (its help text is the doc comment of `Command::IndexDense`).
#[derive(Debug, Args)]
pub struct IndexDenseArgs {
    /// Index directory (from `odqa index`)
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// Encoder model directory (Hugging Face BERT/XLM-R layout; e5's base)
    #[arg(long, value_name = "DIR", required_unless_present = "merge")]
    model: Option<PathBuf>,
    #[command(flatten)]
    options: DenseOptionArgs,
    /// Compute only shard I of N: the passages I·P/N .. (I+1)·P/N of the P in corpus order, into
    /// --parts (resumable there; the index is only read); `--merge` installs them once every
    /// shard is done. `auto` takes I and N from a Slurm array task or a Kubernetes Indexed Job,
    /// as `predict --shard auto` does
    #[arg(
        long,
        value_name = "I/N|auto",
        requires = "parts",
        conflicts_with = "merge"
    )]
    shard: Option<ShardSpec>,
    /// The number of shards: with --shard auto where the scheduler does not give it; with
    /// --merge, how many to join
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    /// Folder the shards' tasks share for their vectors (DIR/I-of-N/ when finished)
    #[arg(long, value_name = "DIR")]
    parts: Option<PathBuf>,
    /// Join the --shards N finished shards of --parts into the index's dense/ (byte for byte
    /// what one unsharded run writes); refused if one is missing or they differ
    #[arg(long, requires_all = ["parts", "shards"])]
    merge: bool,
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
    /// Precision of the encoder's matrix products: fp32, bf16 (AMX tiles where the CPU has
    /// them), int8, auto (bf16 on a CPU with AMX-BF16, else fp32)
    #[arg(long, value_name = "PRECISION", default_value_t = Precision::Auto)]
    precision: Precision,
}

impl DenseOptionArgs {
    fn options(&self) -> DenseBuildOptions {
        DenseBuildOptions {
            batch_size: self.batch_size.max(1),
            max_len: self.max_len,
            chunk: self.chunk.max(1),
            passage_prefix: self.passage_prefix.clone(),
            query_prefix: self.query_prefix.clone(),
            precision: self.precision,
        }
    }
}

/// `odqa index-dense`.
pub fn run(args: IndexDenseArgs) -> anyhow::Result<()> {
    if args.merge {
        return merge(&args);
    }
    let model = args.model.as_deref().context("--model is required")?;
    if let Some(spec) = args.shard {
        return run_shard(&args, model, spec);
    }
    let stop = crate::args::stop_flag(
        "interrupting: finishing the current batches, then saving the progress…",
    );
    let summary = with_threads(args.threads, || {
        embed_index(&args.index, model, &args.options, args.json, stop)
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

/// `--shard`: one shard's vectors into `--parts`.
fn run_shard(args: &IndexDenseArgs, model: &Path, spec: ShardSpec) -> anyhow::Result<()> {
    let shard = spec.resolve(&|name| std::env::var(name).ok(), args.shards)?;
    let parts = args.parts.as_deref().context("--parts is required")?;
    let stop = crate::args::stop_flag(
        "interrupting: finishing the current batches, then saving the progress…",
    );
    let result = with_threads(args.threads, || {
        with_progress(args.json, stop, |observer| {
            build_dense_shard::<DefaultBackend>(
                &args.index,
                model,
                parts,
                shard,
                &args.options.options(),
                observer,
                &Default::default(),
            )
        })
    })?;
    let summary = interrupted_or(result, &args.index, model, &partial_dir(parts, shard))?;
    if args.json {
        let mut value = serde_json::to_value(&summary)?;
        value["shard"] = serde_json::json!(shard.to_string());
        value["parts"] = serde_json::json!(parts);
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "shard {shard}: embedded {} passages{} into {} in {:.1} s",
            summary.passages - summary.resumed,
            resumed_note(summary.resumed),
            done_dir(parts, shard).display(),
            summary.seconds
        );
    }
    Ok(())
}

/// `--merge`: the finished shards of `--parts` installed as the index's vectors.
fn merge(args: &IndexDenseArgs) -> anyhow::Result<()> {
    let (Some(parts), Some(shards)) = (args.parts.as_deref(), args.shards) else {
        return Err(UsageError("--merge needs --parts and --shards".into()).into());
    };
    let meta = merge_dense_shards(&args.index, parts, shards)
        .with_context(|| format!("cannot merge the shards of {}", parts.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&meta)?);
    } else {
        println!(
            "merged {shards} shards: {} vectors of {} values into {} ({:.1} s of embedding in all)",
            meta.count,
            meta.dim,
            args.index.join(odqa_retriever::dense::DENSE_DIR).display(),
            meta.seconds
        );
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
    let result = with_progress(json, stop, |observer| {
        build_dense::<DefaultBackend>(
            index,
            model,
            &options.options(),
            observer,
            &Default::default(),
        )
    });
    interrupted_or(result, index, model, &index.join(PARTIAL_DIR))
}

/// Runs `work` with a progress bar over the passages embedded (none with `json`, where `stop`
/// alone watches it); `stop` (Ctrl-C) interrupts it.
fn with_progress<T>(
    json: bool,
    stop: odqa_pipeline::CancelToken,
    work: impl FnOnce(&dyn Observer) -> odqa_pipeline::Result<T>,
) -> odqa_pipeline::Result<T> {
    let progress =
        (!json).then(|| CountProgress::new("embedding", "passages").stopping_on(stop.clone()));
    let observer: &dyn Observer = match &progress {
        Some(p) => p,
        None => &stop,
    };
    let result = work(observer);
    if let Some(p) = &progress {
        p.finish();
    }
    result
}

/// `result`, an interruption said as how to resume (the progress is kept in `partial`).
fn interrupted_or<T>(
    result: odqa_pipeline::Result<T>,
    index: &Path,
    model: &Path,
    partial: &Path,
) -> anyhow::Result<T> {
    match result {
        Err(PipelineError::Interrupted) => {
            Err(Interrupted(format!(
            "interrupted: the vectors computed so far are kept in {}; `odqa index-dense --index \
             {} --model {}` with the same --dense-* options{} resumes them (other options start \
             over)",
            partial.display(),
            index.display(),
            model.display(),
            if partial.starts_with(index) { "" } else { ", --shard and --parts" }
        ))
            .into())
        }
        other => other.with_context(|| {
            format!(
                "cannot compute the passage vectors of {} with {}",
                index.display(),
                model.display()
            )
        }),
    }
}

/// What `index-dense` did, in words on stdout.
pub fn print_summary(index: &Path, s: &DenseBuildSummary) {
    let computed = s.passages - s.resumed;
    println!(
        "embedded {computed} passages{} into {} ({} values each, {:.1} MiB) in {:.1} s ({:.1} passages/s)",
        resumed_note(s.resumed),
        index.join(odqa_retriever::dense::DENSE_DIR).display(),
        s.dim,
        s.bytes as f64 / (1 << 20) as f64,
        s.seconds,
        computed as f64 / s.seconds.max(1e-9)
    );
}

/// " (resumed after N)" when an earlier run had computed N vectors.
fn resumed_note(resumed: u64) -> String {
    if resumed > 0 {
        format!(" (resumed after {resumed})")
    } else {
        String::new()
    }
}
