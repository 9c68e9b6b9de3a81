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
    /// Searches (/v1/retrieve) run at once; `--queue` more may wait, the rest get 503
    /// [default: the number of cores]
    #[arg(long, value_name = "N")]
    max_searches: Option<usize>,
    /// Most connections open at once; at the bound idle ones are closed to make room
    /// [default: 1024, or the open-files limit less 32]
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Seconds a connection may take to send a request head (idle keep-alive included)
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    header_timeout: f64,
    /// Seconds a request body may take to arrive (408 after)
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    body_timeout: f64,
    /// Seconds the requests in flight get to finish after Ctrl-C or SIGTERM
    #[arg(long, default_value_t = 20.0, value_name = "SECONDS")]
    shutdown_grace: f64,
    /// A host name clients may use in their Host header (repeat for several)
    /// [default: localhost, 127.0.0.1 and ::1 on a loopback address; any name otherwise]
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_hosts: Vec<String>,
}

/// `seconds` as a duration; `name` is the flag, for the message.
fn seconds(name: &str, seconds: f64) -> Result<Duration, UsageError> {
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(UsageError(format!(
            "--{name} must be more than 0 and at most 86400 seconds, not {seconds}"
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The server options the flags give.
fn options(args: &ServeArgs) -> Result<ServeOptions, UsageError> {
    let mut limits = Limits::default();
    limits.max_question_chars = args.max_question_chars;
    let mut options = ServeOptions::default();
    options.workers = args.workers;
    options.max_batch = args.max_batch;
    options.queue = args.queue;
    if let Some(n) = args.max_searches {
        options.max_searches = n;
    }
    if let Some(n) = args.max_connections {
        options.connections.max_connections = n;
    }
    options.request_timeout = seconds("timeout", args.timeout as f64)?;
    options.connections.header_timeout = seconds("header-timeout", args.header_timeout)?;
    options.connections.body_timeout = seconds("body-timeout", args.body_timeout)?;
    options.connections.shutdown_grace = seconds("shutdown-grace", args.shutdown_grace)?;
    if !args.allow_hosts.is_empty() {
        options.allowed_hosts = Some(args.allow_hosts.clone());
    }
    options.limits = limits;
    options.validate().map_err(|e| UsageError(e.to_string()))?;
    Ok(options)
}

/// The last component of `path`, as `/health` shows it (not the whole path: it is public).
fn shown_name(path: &std::path::Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    absolute
        .file_name()
        .map_or_else(|| "index".into(), |n| n.to_string_lossy().into_owned())
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
    let options = options(&args)?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.pipeline.threads)
        .build_global()
        .context("cannot start the worker threads")?;
    let mut pipeline = args
        .pipeline
        .open(settings)
        .context("cannot open the index or the model")?;
    // An index with passage vectors serves every retriever (requests choose with "retriever"); a
    // BM25 server whose vectors cannot be loaded still serves BM25.
    if odqa_retriever::DenseIndex::exists(&args.pipeline.index) {
        if let Err(e) = pipeline.load_vectors(&Default::default()) {
            eprintln!(
                "warning: the index's passage vectors or their question encoder cannot be loaded \
                 ({e}): only the bm25 retriever is served"
            );
        }
    }
    let info = ServerInfo {
        index: shown_name(&args.pipeline.index),
        model: shown_name(&args.pipeline.model),
        index_dir: Some(args.pipeline.index.clone()),
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
        match app.serve(listener, shutdown_signal()).await? {
            0 => eprintln!("stopped: every request answered"),
            n => eprintln!(
                "stopped: {n} connection(s) closed with a request unanswered after the shutdown \
                 grace period (--shutdown-grace)"
            ),
        }
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
