//! `odqa predict`: answers for a question file, as the competition's leaderboard takes them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use odqa_core::fsio::check_outputs;
use odqa_core::scheduler::{shard_path, ShardSpec};
use odqa_core::shard::Shard;
use odqa_pipeline::Submission;

use crate::args::{print_timings, stop_flag, with_threads, AnswerArgs, PipelineArgs, UsageError};
use crate::progress::CountProgress;

/// Arguments of `odqa predict` (the help text is on the subcommand in main.rs).
#[derive(Debug, Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    #[command(flatten)]
    answer: AnswerArgs,
    /// Questions: a save_to_disk folder with `id` and `question` (the competition's
    /// test_dataset/), SQuAD JSON, or JSONL with one {"id", "question"} per line
    #[arg(long, value_name = "PATH")]
    questions: PathBuf,
    /// Where to write {question id: answer} (every id; "" when no answer was found)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Where to write {question id: [{text, probability, start_logit, end_logit, passage_id,
    /// title, start, end}, …]}
    #[arg(long, value_name = "FILE")]
    nbest_out: Option<PathBuf>,
    /// Answer only shard I of N (0 <= I < N): the questions at positions I, I+N, I+2N, … of the
    /// file; `odqa merge-predictions` joins the N partial files into the unsharded ones. `auto`
    /// takes I and N from the scheduler: a Slurm array task (SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT or _MIN/_MAX) or a Kubernetes Indexed Job's pod
    /// (JOB_COMPLETION_INDEX, N from --shards or ODQA_SHARDS). `{shard}` in --out and
    /// --nbest-out becomes the shard's name (`1-of-3`), so each task writes its own files;
    /// with `auto` it is required
    #[arg(long, value_name = "I/N|auto")]
    shard: Option<ShardSpec>,
    /// The number of shards for --shard auto where the scheduler does not give it (a
    /// Kubernetes Job's completions); checked against it where it does
    #[arg(long, value_name = "N", requires = "shard")]
    shards: Option<usize>,
}

/// The shard `args` asks for (`auto`: from the environment) with `{shard}` in the output paths
/// replaced by its name. Refused: a placeholder without a shard, `auto` without one (every task
/// would write the same file), a given shard whose count is not `--shards`.
fn resolve_shard(args: &mut PredictArgs) -> anyhow::Result<Option<Shard>> {
    let has_placeholder = |p: &Path| p.to_string_lossy().contains("{shard}");
    let shard = match args.shard {
        None => {
            let named = std::iter::once(&args.out).chain(&args.nbest_out);
            if let Some(path) = named.into_iter().find(|p| has_placeholder(p)) {
                return Err(UsageError(format!(
                    "{} holds {{shard}} but no --shard is given",
                    path.display()
                ))
                .into());
            }
            return Ok(None);
        }
        Some(spec) => {
            let named = std::iter::once(&args.out).chain(&args.nbest_out);
            let missing = named.into_iter().find(|p| !has_placeholder(p));
            if let (ShardSpec::Auto, Some(path)) = (spec, missing) {
                return Err(UsageError(format!(
                    "--shard auto: every task would write {}; put {{shard}} in its name (e.g. \
                     parts/predictions.{{shard}}.json)",
                    path.display()
                ))
                .into());
            }
            spec.resolve(&|name| std::env::var(name).ok(), args.shards)?
        }
    };
    args.out = PathBuf::from(shard_path(&args.out.to_string_lossy(), shard));
    args.nbest_out =
        (args.nbest_out.as_deref()).map(|p| PathBuf::from(shard_path(&p.to_string_lossy(), shard)));
    Ok(Some(shard))
}

/// The files and folders `ask`, `predict` and `tune` read: index, model and settings file.
pub(crate) fn pipeline_inputs(args: &PipelineArgs) -> Vec<&Path> {
    let mut inputs = vec![args.index.as_path(), args.model.as_path()];
    inputs.extend(args.config.as_deref());
    inputs
}

pub fn run(mut args: PredictArgs) -> anyhow::Result<()> {
    let shard = resolve_shard(&mut args)?;
    let mut inputs = pipeline_inputs(&args.pipeline);
    inputs.push(&args.questions);
    let mut outputs = vec![args.out.as_path()];
    outputs.extend(args.nbest_out.as_deref());
    check_outputs(&inputs, &outputs)?;
    // Ctrl-C from here on stops cleanly: nothing is written before the end.
    let stop = stop_flag("stopping after the current batch; nothing will be written");
    let settings = args.pipeline.settings(Some(&args.answer))?;
    let mut examples = odqa_core::questions::read_questions(&args.questions)
        .context("cannot read the questions")?;
    if let Some(shard) = shard {
        let all = examples.len();
        examples = shard.select(examples);
        eprintln!("shard {shard}: {} of {all} questions", examples.len());
    }
    let started = Instant::now();
    let pipeline = args
        .pipeline
        .open(settings.clone())
        .context("cannot open the index or the model")?;
    let loaded = started.elapsed().as_secs_f64();
    let questions: Vec<&str> = examples.iter().map(|e| e.question.as_str()).collect();
    let progress = CountProgress::questions("answering").stopping_on(stop);
    // Ctrl-C → PipelineError::Interrupted, exit 130.
    let (answers, timings) = with_threads(args.pipeline.threads, || {
        pipeline.answer(&questions, &progress)
    })??;
    progress.finish();

    let mut empty = Vec::new();
    for (example, result) in examples.iter().zip(&answers) {
        if result.answers.first().is_none_or(|a| a.text.is_empty()) {
            let why = result
                .error
                .as_ref()
                .map_or_else(|| "no span found".to_string(), ToString::to_string);
            empty.push(format!("{}: {why}", example.id));
        }
    }
    let ids: Vec<String> = examples.iter().map(|e| e.id.clone()).collect();
    Submission::of(&ids, &answers)?.write(&args.out, args.nbest_out.as_deref())?;

    for line in empty.iter().take(20) {
        eprintln!("warning: empty answer for {line}");
    }
    print_timings(&timings, examples.len());
    eprintln!(
        "answered {} of {} questions ({} empty), top-{} passages, strategy {}{}, precision {}; \
         model and index loaded in {loaded:.1} s; wrote {}{}",
        examples.len() - empty.len(),
        examples.len(),
        empty.len(),
        settings.top_k,
        settings.strategy,
        match (settings.strategy.uses_mu(), settings.null_weight != 0.0) {
            (true, true) => format!(
                " (μ = {}, no-answer weight {})",
                settings.mu, settings.null_weight
            ),
            (true, false) => format!(" (μ = {})", settings.mu),
            (false, true) => format!(" (no-answer weight {})", settings.null_weight),
            (false, false) => String::new(),
        },
        settings.precision.describe(),
        args.out.display(),
        args.nbest_out
            .as_ref()
            .map(|p| format!(" and {}", p.display()))
            .unwrap_or_default()
    );
    Ok(())
}
