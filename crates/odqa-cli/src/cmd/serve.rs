//! `odqa serve`: the HTTP API and web page of `odqa-serve` on a tokio runtime.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use odqa_serve::{App, Limits, ServeOptions, ServerInfo};

use crate::args::{AnswerArgs, PipelineArgs, UsageError};

/// Arguments of `odqa serve` (the help text is on the subcommand in main.rs).
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pipeline: PipelineArgs,
    /// Defaults of the requests (each request may override top_k, nbest, strategy, mu)
    #[command(flatten)]
    answer: AnswerArgs,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    addr: String,
    /// Most questions read together in one batch
    #[arg(long, default_value_t = 32, value_name = "N")]
    max_batch: usize,
    /// Most questions waiting for a worker; more get 503 with Retry-After
    #[arg(long, default_value_t = 128, value_name = "N")]
    queue: usize,
    /// Threads reading batches (on the CPU each batch already uses every core)
    #[arg(long, default_value_t = 1, value_name = "N")]
    workers: usize,
    /// Seconds before a request without an answer gets 504
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    timeout: u64,
    /// Longest question accepted, in characters
    #[arg(long, default_value_t = 2_000, value_name = "N")]
    max_question_chars: usize,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let settings = args.pipeline.settings(Some(&args.answer))?;
    let mut limits = Limits::default();
    limits.max_question_chars = args.max_question_chars;
    let mut options = ServeOptions::default();
    options.workers = args.workers;
    options.max_batch = args.max_batch;
    options.queue = args.queue;
    options.request_timeout = Duration::from_secs(args.timeout.max(1));
    options.limits = limits;
    options.validate().map_err(|e| UsageError(e.to_string()))?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.pipeline.threads)
        .build_global()
        .context("cannot start the worker threads")?;
    let pipeline = args
        .pipeline
        .open(settings)
        .context("cannot open the index or the model")?;
    let info = ServerInfo {
        index: args.pipeline.index.display().to_string(),
        model: args.pipeline.model.display().to_string(),
    };
    let app = App::new(std::sync::Arc::new(pipeline), info, options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .map_err(|e| UsageError(format!("cannot listen on {}: {e}", args.addr)))?;
        let addr = listener.local_addr()?;
        // Scripts and tests wait for this line.
        eprintln!("listening on http://{addr}");
        app.serve(listener, shutdown_signal()).await?;
        eprintln!("stopped: every request answered");
        anyhow::Ok(())
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
