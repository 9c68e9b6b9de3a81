//! `odqa index`: build a BM25 index.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use odqa_core::split::SplitMode;
use odqa_pipeline::Observer;
use odqa_retriever::{
    build_index_with_progress, verify_index, BuildOptions, BuildProgress, BuildSummary, Language,
    LanguageChoice,
};

use crate::args::{Bm25Args, UsageError};
use crate::progress::CountProgress;

/// Build a BM25 index from corpus files.
///
/// Formats (by extension): `.jsonl` / `.ndjson` with one {"id", "title", "text", ...} object per
/// line (other fields are kept as metadata); `.json` holding the competition's
/// wikipedia_documents.json ({"0": {"text", "title", "document_id", ...}, ...}) or a SQuAD file
/// (each paragraph's context is a passage). Identical texts are indexed once; every id stays
/// resolvable. The index is built in a temporary directory, checked, and replaces DIR only when
/// complete: a failed or interrupted run leaves DIR as it was.
///
/// `odqa index --verify --index DIR` checks an existing index instead: the checksum of every
/// file (tantivy's own and those recorded by odqa) and the counts; a damaged file is named,
/// exit status 2.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Corpus files to index
    #[arg(long, required_unless_present = "verify", num_args = 1.., value_name = "PATH")]
    corpus: Vec<PathBuf>,
    /// Index directory to create or replace (with --verify: to check)
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// Check the existing index DIR for damage instead of building one
    #[arg(long, conflicts_with = "corpus")]
    verify: bool,
    /// Analyzer: ko (words + Hangul bigrams + particle stripping), en (stemmed words), auto (guess from the corpus)
    #[arg(long, value_enum, default_value_t = LangArg::Auto)]
    lang: LangArg,
    /// Split documents into passages of at most N characters
    #[arg(long, value_name = "N", conflicts_with = "split_words")]
    split_chars: Option<usize>,
    /// Split documents into passages of N whitespace-separated words
    #[arg(long, value_name = "N")]
    split_words: Option<usize>,
    /// Overlap between consecutive passages, in the unit of the split
    #[arg(long, value_name = "M", default_value_t = 0)]
    split_overlap: usize,
    /// Skip invalid records and duplicate ids with a warning instead of failing
    #[arg(long)]
    skip_invalid: bool,
    /// Do not index Korean words without their trailing particle (ko)
    #[arg(long)]
    no_strip_josa: bool,
    /// Do not index Hangul syllable bigrams (ko)
    #[arg(long)]
    no_bigrams: bool,
    /// Indexing threads [default: one per core, at most 8]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Indexing memory budget in MiB
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    memory_mb: usize,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
    /// BM25 defaults stored in the index [default: tuned per language, see README]
    #[command(flatten)]
    bm25: Bm25Args,
    /// Also compute dense passage vectors with this encoder (e5's base), as `odqa index-dense`
    /// does once the BM25 index is in place
    #[arg(long, value_name = "MODEL_DIR", conflicts_with = "verify")]
    dense: Option<PathBuf>,
    #[command(flatten)]
    dense_options: super::index_dense::DenseOptionArgs,
}

/// Analyzer languages.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum LangArg {
    Ko,
    En,
    Auto,
}

/// `odqa index`: builds the index (or, with `--verify`, checks it) and prints what it did.
pub fn run(args: IndexArgs) -> anyhow::Result<()> {
    if args.verify {
        return verify(&args.index, args.json);
    }
    let opts = build_options(&args)?;
    // First Ctrl-C: stop cleanly (the temporary index is removed). Second: exit at once.
    let cancel = crate::args::stop_flag(if args.dense.is_some() {
        "interrupting: a partial index is removed; once the index is built, the passage vectors \
         computed so far are kept for `odqa index-dense` to resume…"
    } else {
        "interrupting: finishing the current record, then removing the partial index…"
    });
    let bar = (!args.json).then(|| CountProgress::new("indexing", "MB"));
    let show = |event: BuildProgress| {
        if let Some(bar) = &bar {
            show_progress(bar, event);
        }
    };
    let summary = build_index_with_progress(&args.corpus, &args.index, &opts, &cancel, &show)
        .with_context(|| format!("cannot build the index {}", args.index.display()))?;
    for warning in &summary.warnings {
        eprintln!("warning: {warning}");
    }
    if !args.json {
        print_summary(&args.index, &summary);
    }
    let dense = match &args.dense {
        Some(model) => {
            eprintln!("embedding the passages with {}…", model.display());
            let dense = super::index_dense::embed_index(
                &args.index,
                model,
                &args.dense_options,
                args.json,
                cancel,
            )?;
            if !args.json {
                super::index_dense::print_summary(&args.index, &dense);
            }
            Some(dense)
        }
        None => None,
    };
    if args.json {
        print_summary_json(&args.index, &summary, dense.as_ref())?;
    }
    Ok(())
}

/// The build options the flags ask for; `--split-overlap` without a split is refused.
fn build_options(args: &IndexArgs) -> anyhow::Result<BuildOptions> {
    let split = match (args.split_chars, args.split_words) {
        (Some(size), _) => Some(SplitMode::Chars {
            size,
            overlap: args.split_overlap,
        }),
        (_, Some(size)) => Some(SplitMode::Words {
            size,
            overlap: args.split_overlap,
        }),
        (None, None) if args.split_overlap > 0 => {
            return Err(
                UsageError("--split-overlap needs --split-chars or --split-words".into()).into(),
            )
        }
        (None, None) => None,
    };
    let defaults = BuildOptions::default();
    Ok(BuildOptions {
        language: match args.lang {
            LangArg::Ko => LanguageChoice::Fixed(Language::Ko),
            LangArg::En => LanguageChoice::Fixed(Language::En),
            LangArg::Auto => LanguageChoice::Auto,
        },
        hangul_bigrams: !args.no_bigrams,
        strip_josa: !args.no_strip_josa,
        split,
        skip_invalid: args.skip_invalid,
        threads: args.threads.unwrap_or(defaults.threads),
        memory_budget: args.memory_mb << 20,
        bm25: args.bm25.overrides(),
    })
}

/// Shows a build's progress on `bar`: megabytes read, then the commit and merge phases.
fn show_progress(bar: &CountProgress, event: BuildProgress) {
    match event {
        BuildProgress::Reading {
            bytes, total_bytes, ..
        } => {
            let mb = |b: u64| (b >> 20) as usize;
            let total = mb(total_bytes).max(1);
            bar.progress(mb(bytes).min(total), total);
        }
        BuildProgress::Committing { passages } => {
            bar.finish();
            eprintln!("committing {passages} passages…");
        }
        BuildProgress::Merging => eprintln!("merging the index segments…"),
        _ => {}
    }
}

/// Seconds the build of `summary` took and the passages it indexed per second.
fn speed(summary: &BuildSummary) -> (f64, f64) {
    let secs = summary.elapsed.as_secs_f64();
    (secs, summary.meta.passages as f64 / secs.max(1e-9))
}

/// `odqa index --json`: the summary of the build of `index` (and of its passage vectors, with
/// `--dense`) as one JSON object on stdout.
fn print_summary_json(
    index: &Path,
    summary: &BuildSummary,
    dense: Option<&odqa_pipeline::dense::DenseBuildSummary>,
) -> anyhow::Result<()> {
    let (secs, rate) = speed(summary);
    let json = serde_json::json!({
        "index": index,
        "analyzer": summary.meta.analyzer,
        "bm25": summary.meta.bm25,
        "records": summary.records,
        "passages": summary.meta.passages,
        "unique_texts": summary.meta.unique_texts,
        "duplicate_texts": summary.duplicate_texts,
        "repeated_records": summary.repeated,
        "skipped": summary.skipped,
        "empty": summary.empty,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "passages_per_second": rate.round(),
        "index_bytes": summary.index_bytes,
        "cleaned": summary.cleaned,
        "dense": dense,
    });
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// The summary of the build of `index` in words on stdout.
fn print_summary(index: &Path, summary: &BuildSummary) {
    let (secs, rate) = speed(summary);
    let a = &summary.meta.analyzer;
    println!(
        "indexed {} into {}",
        plural(summary.meta.passages, "passage"),
        index.display()
    );
    println!(
        "  {} unique texts ({} duplicates kept as aliases), {} records read, {} empty, {} skipped, {} repeated",
        summary.meta.unique_texts, summary.duplicate_texts, summary.records, summary.empty, summary.skipped,
        summary.repeated
    );
    println!(
        "  analyzer {} (bigrams {}, particle/ending stripping {}), {:.1} s, {:.0} passages/s, index {:.1} MiB",
        a.language,
        on_off(a.hangul_bigrams),
        on_off(a.strip_josa),
        secs,
        rate,
        summary.index_bytes as f64 / (1 << 20) as f64
    );
    for line in &summary.cleaned {
        println!("  {line}");
    }
}

/// `odqa index --verify`: checks the index `dir` and says what was checked.
fn verify(dir: &Path, json: bool) -> anyhow::Result<()> {
    let report = verify_index(dir)
        .with_context(|| format!("the index {} fails verification", dir.display()))?;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    if json {
        let json = serde_json::json!({
            "index": dir,
            "intact": true,
            "passages": report.passages,
            "files": report.files,
            "bytes": report.bytes,
            "notes": report.notes,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "index {} is intact: {}; {} match their checksums ({:.1} MiB)",
            dir.display(),
            plural(report.passages, "passage"),
            plural(report.files.len() as u64, "file"),
            report.bytes as f64 / (1 << 20) as f64
        );
    }
    Ok(())
}

/// `n word`, with an `s` unless `n` is 1.
fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// `on` or `off`.
fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}
