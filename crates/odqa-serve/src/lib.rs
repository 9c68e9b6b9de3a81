//! `odqa serve`: an HTTP API and a web page over an open-domain QA [`Pipeline`].
//!
//! - `GET /` — a page with a question box, the answer highlighted in its sentence and passage;
//! - `GET /health` — 200 once the index and the model are loaded;
//! - `POST /v1/ask` — answers with their evidence, the passages read, timings;
//! - `POST /v1/retrieve` — the BM25 passages alone;
//! - `GET /openapi.json` — the API's description, generated from the types in [`api`].
//!
//! Questions from concurrent requests wait in a bounded queue; a worker reads every waiting
//! question (up to `max_batch`) in one call, so their windows share forward passes. A full queue
//! answers 503 with `Retry-After` instead of growing. Errors are JSON
//! `{"error": {"code", "message"}}`; requests are logged with `tracing` (the binary installs the
//! subscriber).
//!
//! ```no_run
//! # async fn run(pipeline: odqa_pipeline::Pipeline<odqa_pipeline::DefaultBackend>) -> Result<(), odqa_serve::ServeError> {
//! use std::sync::Arc;
//! use odqa_serve::{App, ServeOptions, ServerInfo};
//! let info = ServerInfo { index: "index".into(), model: "model".into(), index_dir: None };
//! let app = App::new(Arc::new(pipeline), info, ServeOptions::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.map_err(|e| {
//!     odqa_serve::ServeError::Io { addr: "127.0.0.1:8080".into(), source: e }
//! })?;
//! let unanswered = app.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! assert_eq!(unanswered, 0);
//! # Ok(())
//! # }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
mod batch;
mod error;
mod guards;
mod health;
mod queue;
mod routes;
mod server;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use odqa_pipeline::RetrieverMode;
use odqa_pipeline::{AskOptions, Hit, Observer, Pipeline, PipelineError, PipelineSettings};
use odqa_pipeline::{QuestionAnswers, ReaderBackend, Timings};

pub use error::{ApiError, ServeError};
pub use routes::ApiDoc;

/// What the server reads with: a [`Pipeline`] of any backend.
pub trait Engine: Send + Sync + 'static {
    /// Answers a batch of questions, each with its options ([`Pipeline::answer_with`]);
    /// `observer` stops the batch when nobody waits for its answers any more.
    fn answer(
        &self,
        queries: &[(&str, &AskOptions)],
        observer: &dyn Observer,
    ) -> Result<(Vec<QuestionAnswers>, Timings), PipelineError>;
    /// The top `k` passages of a question ([`Pipeline::retrieve`]).
    fn retrieve(
        &self,
        question: &str,
        k: usize,
        retriever: Option<RetrieverMode>,
    ) -> Result<Vec<Hit>, PipelineError>;
    /// Whether a question can be searched ([`Pipeline::check_question`]), checked before it is
    /// queued.
    fn check_question(&self, question: &str) -> Result<(), PipelineError>;
    /// The settings requests override.
    fn settings(&self) -> &PipelineSettings;
    /// Passages in the index.
    fn passages(&self) -> u64;
    /// True when the index's passage vectors are loaded (dense and hybrid retrieval available).
    fn has_vectors(&self) -> bool;
}

impl<B: ReaderBackend> Engine for Pipeline<B>
where
    Pipeline<B>: Send + Sync + 'static,
{
    fn answer(
        &self,
        queries: &[(&str, &AskOptions)],
        observer: &dyn Observer,
    ) -> Result<(Vec<QuestionAnswers>, Timings), PipelineError> {
        self.answer_with(queries, observer)
    }

    fn retrieve(
        &self,
        question: &str,
        k: usize,
        retriever: Option<RetrieverMode>,
    ) -> Result<Vec<Hit>, PipelineError> {
        let mode = retriever.unwrap_or(self.settings().retriever);
        Pipeline::retrieve_with(self, question, k, mode)
    }

    fn check_question(&self, question: &str) -> Result<(), PipelineError> {
        Pipeline::check_question(self, question)
    }

    fn settings(&self) -> &PipelineSettings {
        Pipeline::settings(self)
    }

    fn passages(&self) -> u64 {
        self.retriever().num_passages()
    }

    fn has_vectors(&self) -> bool {
        self.retriever().has_vectors()
    }
}

/// What one request may ask for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Longest question, in characters (longer: 413).
    pub max_question_chars: usize,
    /// Largest `top_k`.
    pub max_top_k: usize,
    /// Largest `nbest`.
    pub max_nbest: usize,
    /// Largest request body, in bytes (larger: 413).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_question_chars: 2_000,
            max_top_k: 100,
            max_nbest: 100,
            max_body_bytes: 64 << 10,
        }
    }
}

/// How the server batches and bounds its work.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Threads reading batches (each batch already uses every core of the CPU backend).
    pub workers: usize,
    /// Most questions read in one call.
    pub max_batch: usize,
    /// Most questions waiting; more are refused with 503. Also the most searches
    /// (`/v1/retrieve`) waiting for one of the `max_searches`.
    pub queue: usize,
    /// Most searches running at once (each on a blocking thread).
    pub max_searches: usize,
    /// A request without an answer after this long gets 504.
    pub request_timeout: Duration,
    /// Per-request limits.
    pub limits: Limits,
    /// Per-connection limits and the shutdown grace period.
    pub connections: ConnectionLimits,
    /// Host names accepted in the `Host` header. `None`: the loopback names (`localhost`,
    /// `127.0.0.1`, `::1`) when the server listens on a loopback address, any name otherwise.
    pub allowed_hosts: Option<Vec<String>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            workers: 1,
            max_batch: 32,
            queue: 128,
            max_searches: std::thread::available_parallelism().map_or(2, |n| n.get()),
            request_timeout: Duration::from_secs(120),
            limits: Limits::default(),
            connections: ConnectionLimits::default(),
            allowed_hosts: None,
        }
    }
}

impl ServeOptions {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), ServeError> {
        if self.workers == 0 || self.max_batch == 0 || self.queue == 0 || self.max_searches == 0 {
            return Err(ServeError::BadOption(
                "workers, max_batch, queue and max_searches must be at least 1".into(),
            ));
        }
        let c = &self.connections;
        if c.max_connections == 0 {
            return Err(ServeError::BadOption(
                "max_connections must be at least 1".into(),
            ));
        }
        for (name, value) in [
            ("request_timeout", self.request_timeout),
            ("header_timeout", c.header_timeout),
            ("body_timeout", c.body_timeout),
        ] {
            if value.is_zero() {
                return Err(ServeError::BadOption(format!(
                    "{name} must be more than 0 seconds"
                )));
            }
        }
        Ok(())
    }
}

/// How long a connection may take to send its request, how many may be open, and how long
/// shutdown waits for the requests in flight.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Most connections open at once. At the bound, connections idle for half a second are
    /// closed to make room; new ones wait in the listen backlog. The default, 1,024, is lowered
    /// to the open-files limit less 32 files kept for the index, the model and the runtime.
    pub max_connections: usize,
    /// A request head (and an idle keep-alive connection's next one) must arrive within this;
    /// otherwise the connection is closed.
    pub header_timeout: Duration,
    /// A request body must arrive within this (408 otherwise).
    pub body_timeout: Duration,
    /// After the shutdown signal, requests in flight get this long to be answered; connections
    /// without one are closed at once.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        let by_files = server::open_files_limit().map_or(usize::MAX, |n| {
            n.saturating_sub(server::RESERVED_FILES) as usize
        });
        ConnectionLimits {
            max_connections: by_files.clamp(4, 1_024),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// What `/health` reports about the server.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// The index, as shown (a name, not a path: `/health` is public).
    pub index: String,
    /// The reader model, as shown.
    pub model: String,
    /// The index directory, watched: once it is replaced (re-indexed) or removed, `/health`
    /// says the server answers from the index it opened at start-up (`status: "stale"`).
    pub index_dir: Option<PathBuf>,
}

/// The routes and the reading workers.
pub struct App {
    router: axum::Router,
    workers: batch::Workers,
    connections: ConnectionLimits,
    /// A permit per connection allowed (shared with `/health`, which counts the open ones).
    slots: Arc<tokio::sync::Semaphore>,
    hosts: guards::AllowedHosts,
}

impl App {
    /// Starts the workers and builds the routes.
    pub fn new(
        engine: Arc<dyn Engine>,
        info: ServerInfo,
        options: ServeOptions,
    ) -> Result<App, ServeError> {
        options.validate()?;
        let (queue, workers) = batch::start(
            engine.clone(),
            options.workers,
            options.max_batch,
            options.queue,
        )
        .map_err(|e| ServeError::BadOption(format!("cannot start the workers: {e}")))?;
        let hosts = guards::AllowedHosts::new(options.allowed_hosts.clone());
        let connections = options.connections.clone();
        let slots = Arc::new(tokio::sync::Semaphore::new(connections.max_connections));
        let shared = routes::Shared::new(engine, info, queue, slots.clone(), options);
        let router = routes::router(shared, &hosts);
        Ok(App {
            router,
            workers,
            connections,
            slots,
            hosts,
        })
    }

    /// The routes (for tests: `tower::ServiceExt::oneshot`).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// Serves on `listener` until `shutdown` completes; then stops accepting, closes the
    /// connections without a request in flight, gives the others the shutdown grace period, and
    /// waits for the workers (questions whose clients have left are not read). Returns how many
    /// connections were closed with a request unanswered when the grace period ended.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<usize, ServeError> {
        let local = listener.local_addr();
        let addr = local
            .as_ref()
            .map_or_else(|_| "?".to_string(), ToString::to_string);
        if let Ok(local) = local {
            self.hosts.resolve_for(local);
        }
        let App {
            router,
            workers,
            connections,
            slots,
            ..
        } = self;
        let served = server::run(listener, router, slots, &connections, shutdown).await;
        // The routes (and their queue senders) are gone: the workers finish and exit.
        tokio::task::spawn_blocking(move || workers.join())
            .await
            .map_err(|e| ServeError::BadOption(format!("a worker failed: {e}")))?;
        served.map_err(|source| ServeError::Io { addr, source })
    }
}
