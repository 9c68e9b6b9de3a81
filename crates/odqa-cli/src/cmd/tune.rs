//! `odqa tune`: grid search of the pipeline settings on a dev set.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use odqa_core::fsio::{check_outputs, write_atomic};
use odqa_core::squad::QaExample;
use odqa_pipeline::calibration::{
    expected_calibration_error, fit_temperature, reliability, Bin, Outcome,
};
use odqa_pipeline::tune::{best, evaluate, grid, outcomes, CacheKey, ReadsCache, TuneResult};
use odqa_pipeline::{PipelineSettings, QuestionReads, Strategy, Timings};

use crate::args::{print_timings, stop_flag, with_threads, PipelineArgs, UsageError};
use crate::cmd::predict::pipeline_inputs;
use crate::progress::CountProgress;

/// Arguments of `odqa tune` (the help text is on the subcommand in main.rs).
#[derive(Debug, Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Dev questions with gold answers: SQuAD JSON, a save_to_disk split with answers, or JSONL
    /// with `answers`
    #[arg(long, value_name = "SQUAD_JSON")]
    data: PathBuf,
    /// Values of k to try; the largest is retrieved and read once, the others are its prefixes
    #[arg(
        long,
        value_name = "K,K…",
        value_delimiter = ',',
        default_value = "1,5,10,20,40"
    )]
    top_k: Vec<usize>,
    /// Values of μ (reader weight) to try for fusion and merge (merge also tries 1)
    #[arg(
        long,
        value_name = "MU,MU…",
        value_delimiter = ',',
        default_value = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.95"
    )]
    mu: Vec<f32>,
    /// Weights of the passages' no-answer scores to try (taken off their spans' scores before
    /// passages are compared; 1 = span less no-answer score), for every strategy but softmax
    #[arg(
        long,
        value_name = "W,W…",
        value_delimiter = ',',
        default_value = "0,1"
    )]
    null_weight: Vec<f32>,
    /// Where to write the best settings as a TOML file for `--config`
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Keep what was read in FILE (JSON) and reuse it when it matches the model, index, questions
    /// and a top-k at least as large: a new grid then needs no reading
    #[arg(long, value_name = "FILE")]
    cache: Option<PathBuf>,
    /// Only N questions, evenly spread over the file (every (total/N)-th), for a quicker estimate
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
    /// Print every grid point as JSON on stdout
    #[arg(long)]
    json: bool,
}

/// `odqa tune`: reads the dev questions once at the largest k (or takes the reads from the
/// cache), scores every grid point, prints the results and writes the best settings.
pub fn run(args: TuneArgs) -> anyhow::Result<()> {
    check_grid(&args)?;
    check_paths(&args)?;
    let max_k = args.top_k.iter().copied().max().unwrap_or(1);
    // Checked at the largest k read (hybrid: dense_depth must cover it).
    let settings = args.pipeline.settings_for_k(None, Some(max_k))?;
    let examples = dev_questions(&args)?;
    let (reads, timings) = reads(&args, &settings, &examples, max_k)?;

    let started = Instant::now();
    let points = grid(&args.top_k, &args.mu, &args.null_weight);
    let results = with_threads(args.pipeline.threads, || {
        evaluate(&reads, &examples, &points)
    })?;
    let scoring = started.elapsed().as_secs_f64();
    let top = best(&results).context("no grid point")?;
    let calibrated = calibrate(&outcomes(&reads, &examples, &top.point));
    if let Some(path) = &args.out {
        write_best(
            path,
            &args.data,
            top,
            &best_settings(&settings, top, &calibrated),
        )?;
    }
    if args.json {
        // Serialized directly (not through serde_json::Value) so that μ prints as 0.9, not as the
        // f64 nearest to the f32.
        let report = TuneReport {
            questions: top.scores.questions,
            best: top,
            calibration: &calibrated,
            results: &results,
            timings,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_results(&args.top_k, &results, top, &calibrated);
    }
    if let Some(t) = timings {
        print_timings(&t, examples.len());
    }
    eprintln!(
        "scored {} grid points on {} questions in {scoring:.1} s{}",
        results.len(),
        top.scores.questions,
        args.out
            .as_ref()
            .map(|p| format!("; wrote {}", p.display()))
            .unwrap_or_default()
    );
    Ok(())
}

/// Refuses a grid with no k, a k of 0, no no-answer weight, or a μ or a weight outside 0..=1.
fn check_grid(args: &TuneArgs) -> anyhow::Result<()> {
    if args.top_k.is_empty() || args.top_k.contains(&0) {
        return Err(UsageError("--top-k needs values of at least 1".into()).into());
    }
    if args.null_weight.is_empty() {
        return Err(UsageError("--null-weight needs at least one value".into()).into());
    }
    for (flag, values) in [("--mu", &args.mu), ("--null-weight", &args.null_weight)] {
        if values.iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Err(UsageError(format!("{flag} values must be between 0 and 1")).into());
        }
    }
    Ok(())
}

/// Checks the `--out` and `--cache` files before any work ([`check_outputs`]): neither is an
/// input of the run or the other, and each can be written.
fn check_paths(args: &TuneArgs) -> anyhow::Result<()> {
    let mut inputs = pipeline_inputs(&args.pipeline);
    inputs.push(&args.data);
    let outputs: Vec<&Path> = args
        .out
        .iter()
        .chain(&args.cache)
        .map(PathBuf::as_path)
        .collect();
    check_outputs(&inputs, &outputs)?;
    Ok(())
}

/// The dev questions (`--sample` of them, evenly spread); refused when none has gold answers.
fn dev_questions(args: &TuneArgs) -> anyhow::Result<Vec<QaExample>> {
    let mut examples = odqa_core::questions::read_questions(&args.data)
        .context("cannot read the dev questions")?;
    if let Some(n) = args.sample.filter(|&n| n < examples.len()) {
        let total = examples.len();
        examples = (0..n).map(|i| examples[i * total / n].clone()).collect();
    }
    if examples.iter().all(|e| e.answers.is_empty()) {
        return Err(UsageError(format!(
            "{}: no question has gold answers to tune against",
            args.data.display()
        ))
        .into());
    }
    Ok(examples)
}

/// What the pipeline reads for `examples` at `max_k`: from `--cache` when it covers them (no
/// timings then), else read now (and cached when `--cache` is given).
fn reads(
    args: &TuneArgs,
    settings: &PipelineSettings,
    examples: &[QaExample],
    max_k: usize,
) -> anyhow::Result<(Vec<QuestionReads>, Option<Timings>)> {
    let key = cache_key(args, settings, max_k, examples);
    let cached = match &args.cache {
        Some(path) => ReadsCache::load(path, &key)?,
        None => None,
    };
    if let Some(cache) = cached {
        if let Some(path) = &args.cache {
            eprintln!("using the reads cached in {}", path.display());
        }
        return Ok((cache.reads, None));
    }
    let stop = stop_flag("stopping after the current batch; nothing will be written");
    let pipeline = args.pipeline.open(settings.clone())?;
    let questions: Vec<&str> = examples.iter().map(|e| e.question.as_str()).collect();
    let progress = CountProgress::questions("reading").stopping_on(stop);
    let (reads, timings) = with_threads(args.pipeline.threads, || {
        pipeline.read(&questions, max_k, &progress)
    })??;
    progress.finish();
    if let Some(path) = &args.cache {
        ReadsCache {
            // Reads made now hold the no-answer scores, whatever this grid weighs.
            key: CacheKey {
                null_scores: true,
                ..key
            },
            reads: reads.clone(),
        }
        .save(path)?;
    }
    Ok((reads, Some(timings)))
}

/// `settings` with the best point's and the fitted temperature.
fn best_settings(
    settings: &PipelineSettings,
    top: &TuneResult,
    calibrated: &Calibration,
) -> PipelineSettings {
    let mut best_settings = settings.clone();
    best_settings.top_k = top.point.top_k;
    best_settings.strategy = top.point.strategy;
    best_settings.mu = top.point.mu;
    best_settings.null_weight = top.point.null_weight;
    best_settings.trim_josa = top.point.trim_josa;
    best_settings.temperature = calibrated.temperature;
    best_settings
}

/// Writes `settings` as a TOML file for `--config`, headed by where and how well they scored.
fn write_best(
    path: &Path,
    data: &Path,
    top: &TuneResult,
    settings: &PipelineSettings,
) -> anyhow::Result<()> {
    let text = format!(
        "# odqa tune on {} ({} questions): KorQuAD EM {:.2} F1 {:.2}\n{}",
        data.display(),
        top.scores.questions,
        top.scores.korquad_em,
        top.scores.korquad_f1,
        settings.to_toml()
    );
    write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// The grid's table, the best point and the calibration, in words on stdout.
fn print_results(ks: &[usize], results: &[TuneResult], top: &TuneResult, calibrated: &Calibration) {
    print_table(ks, results);
    println!(
        "best: top_k = {}, strategy = {}, mu = {}, null_weight = {}, trim_josa = {}: EM {:.2} F1 \
         {:.2}",
        top.point.top_k,
        top.point.strategy,
        top.point.mu,
        top.point.null_weight,
        top.point.trim_josa,
        top.scores.korquad_em,
        top.scores.korquad_f1
    );
    print_calibration(calibrated);
}

/// The best point's fitted temperature and its reliability tables before and after.
#[derive(serde::Serialize)]
struct Calibration {
    temperature: f32,
    ece_before: f64,
    ece_after: f64,
    before: Vec<Bin>,
    after: Vec<Bin>,
}

/// Fits the temperature of `outcomes` and tabulates their reliability (10 bins).
fn calibrate(outcomes: &[Outcome]) -> Calibration {
    let temperature = fit_temperature(outcomes);
    let before = reliability(outcomes, 1.0, 10);
    let after = reliability(outcomes, temperature, 10);
    Calibration {
        temperature,
        ece_before: expected_calibration_error(&before),
        ece_after: expected_calibration_error(&after),
        before,
        after,
    }
}

/// The reliability tables: per probability bin, questions, mean probability and accuracy.
fn print_calibration(c: &Calibration) {
    println!(
        "calibration of the best answer's probability: temperature {:.3}, expected calibration \
         error {:.4} → {:.4}",
        c.temperature, c.ece_before, c.ece_after
    );
    println!(
        "{:>11}  {:>24}  {:>24}",
        "probability", "T = 1: n, mean p, EM", "fitted: n, mean p, EM"
    );
    for (b, a) in c.before.iter().zip(&c.after) {
        println!(
            "{:>4.1}–{:<4.1}   {:>6} {:>8.3} {:>8.3}  {:>6} {:>8.3} {:>8.3}",
            b.from,
            b.to,
            b.questions,
            b.mean_probability,
            b.accuracy,
            a.questions,
            a.mean_probability,
            a.accuracy
        );
    }
}

/// `odqa tune --json`.
#[derive(serde::Serialize)]
struct TuneReport<'a> {
    questions: usize,
    best: &'a TuneResult,
    calibration: &'a Calibration,
    results: &'a [TuneResult],
    timings: Option<Timings>,
}

/// The retriever part of the cache key: the settings' retriever and, when it reads the index's
/// passage vectors, which vectors (their checksum).
fn retrieval_key(index: &Path, settings: &PipelineSettings) -> String {
    let key = settings.retrieval_key();
    if !settings.retriever.needs_vectors() {
        return key;
    }
    match odqa_retriever::DenseIndex::read_meta(index) {
        Ok(meta) => format!("{key}, vectors xxh3 {}", meta.vectors.xxh3),
        Err(_) => key,
    }
}

/// What the reads depend on: model, index, top-k, reading settings and questions.
fn cache_key(
    args: &TuneArgs,
    settings: &PipelineSettings,
    top_k: usize,
    examples: &[QaExample],
) -> CacheKey {
    let canonical = |p: &Path| {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let (model_bytes, model_modified) = CacheKey::model_stamp(&args.pipeline.model);
    // The index's own record of its documents (what `Retriever::num_passages` counts), without
    // opening the index a second time.
    let passages =
        odqa_retriever::IndexMeta::read(&args.pipeline.index).map_or(0, |m| m.unique_texts);
    CacheKey {
        model: canonical(&args.pipeline.model),
        model_bytes,
        model_modified,
        index: canonical(&args.pipeline.index),
        passages,
        top_k,
        reading: [
            settings.max_seq_len,
            settings.doc_stride,
            settings.passage_n_best,
            settings.max_answer_len,
        ],
        length_penalty: settings.length_penalty,
        year_answers: settings.year_answers,
        question_ids: examples.iter().map(|e| e.id.clone()).collect(),
        retrieval: retrieval_key(&args.pipeline.index, settings),
        decoding: odqa_reader::decode::DECODING_VERSION,
        // Wanted only when the grid weighs them (an older cache serves a grid without).
        null_scores: args.null_weight.iter().any(|&w| w != 0.0),
    }
}

/// One row per k, strategy and trimming: the best μ and no-answer weight where they are tuned.
fn print_table(ks: &[usize], results: &[TuneResult]) {
    println!(
        "{:>4}  {:<8} {:>5} {:>5}  {:<5} {:>7} {:>7}",
        "k", "strategy", "mu", "null", "josa", "EM", "F1"
    );
    for &k in ks {
        for trim in [false, true] {
            for strategy in Strategy::ALL {
                let row = results
                    .iter()
                    .filter(|r| {
                        r.point.top_k == k
                            && r.point.strategy == strategy
                            && r.point.trim_josa == trim
                    })
                    .max_by(|a, b| {
                        a.scores
                            .korquad_em
                            .total_cmp(&b.scores.korquad_em)
                            .then(a.scores.korquad_f1.total_cmp(&b.scores.korquad_f1))
                    });
                if let Some(r) = row {
                    let mu = if strategy.uses_mu() {
                        format!("{}", r.point.mu)
                    } else {
                        "-".into()
                    };
                    let null = if strategy == Strategy::Softmax {
                        "-".into()
                    } else {
                        format!("{}", r.point.null_weight)
                    };
                    println!(
                        "{k:>4}  {:<8} {mu:>5} {null:>5}  {:<5} {:>7.2} {:>7.2}",
                        strategy.name(),
                        if trim { "on" } else { "off" },
                        r.scores.korquad_em,
                        r.scores.korquad_f1
                    );
                }
            }
        }
    }
}
