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
//! # async fn run(pipeline: odqa_pipeline::Pipeline<odqa_reader::DefaultBackend>) -> Result<(), odqa_serve::ServeError> {
//! use std::sync::Arc;
//! use odqa_serve::{App, ServeOptions, ServerInfo};
//! let info = ServerInfo { index: "index".into(), model: "model".into() };
//! let app = App::new(Arc::new(pipeline), info, ServeOptions::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.map_err(|e| {
//!     odqa_serve::ServeError::Io { addr: "127.0.0.1:8080".into(), source: e }
//! })?;
//! app.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
mod batch;
mod error;
mod routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use odqa_pipeline::{AskOptions, Pipeline, PipelineError, PipelineSettings, QuestionAnswers};
use odqa_pipeline::{Timings, Unobserved};
use odqa_reader::ReaderBackend;
use odqa_retriever::{Hit, RetrieverError};

pub use error::{ApiError, ServeError};
pub use routes::ApiDoc;

/// What the server reads with: a [`Pipeline`] of any backend.
pub trait Engine: Send + Sync + 'static {
    /// Answers a batch of questions, each with its options ([`Pipeline::answer_with`]).
    fn answer(
        &self,
        queries: &[(&str, &AskOptions)],
    ) -> Result<(Vec<QuestionAnswers>, Timings), PipelineError>;
    /// The top `k` passages of a question.
    fn retrieve(&self, question: &str, k: usize) -> Result<Vec<Hit>, RetrieverError>;
    /// The settings requests override.
    fn settings(&self) -> &PipelineSettings;
    /// Passages in the index.
    fn passages(&self) -> u64;
}

impl<B: ReaderBackend> Engine for Pipeline<B>
where
    Pipeline<B>: Send + Sync + 'static,
{
    fn answer(
        &self,
        queries: &[(&str, &AskOptions)],
    ) -> Result<(Vec<QuestionAnswers>, Timings), PipelineError> {
        self.answer_with(queries, &Unobserved)
    }

    fn retrieve(&self, question: &str, k: usize) -> Result<Vec<Hit>, RetrieverError> {
        self.retriever().search(question, k)
    }

    fn settings(&self) -> &PipelineSettings {
        Pipeline::settings(self)
    }

    fn passages(&self) -> u64 {
        self.retriever().num_passages()
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
    /// Most questions waiting; more are refused with 503.
    pub queue: usize,
    /// A request without an answer after this long gets 504.
    pub request_timeout: Duration,
    /// Per-request limits.
    pub limits: Limits,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            workers: 1,
            max_batch: 32,
            queue: 128,
            request_timeout: Duration::from_secs(120),
            limits: Limits::default(),
        }
    }
}

impl ServeOptions {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), ServeError> {
        if self.workers == 0 || self.max_batch == 0 || self.queue == 0 {
            return Err(ServeError::BadOption(
                "workers, max_batch and queue must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// What `/health` reports about the server.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// The index directory.
    pub index: String,
    /// The reader model directory.
    pub model: String,
}

/// The routes and the reading workers.
pub struct App {
    router: axum::Router,
    workers: batch::Workers,
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
        let router = routes::router(routes::Shared {
            engine,
            info,
            queue,
            options,
        });
        Ok(App { router, workers })
    }

    /// The routes (for tests: `tower::ServiceExt::oneshot`).
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// Serves on `listener` until `shutdown` completes; then stops accepting, lets in-flight
    /// requests finish, and waits for the workers to drain the queue.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let addr = listener
            .local_addr()
            .map_or_else(|_| "?".to_string(), |a| a.to_string());
        let App { router, workers } = self;
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        // The routes (and their queue senders) are gone: the workers finish and exit.
        tokio::task::spawn_blocking(move || workers.join())
            .await
            .map_err(|e| ServeError::BadOption(format!("a worker failed: {e}")))?;
        served.map_err(|source| ServeError::Io { addr, source })
    }
}
