//! The handlers, the router and the OpenAPI description.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, Uri};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::{oneshot, Semaphore};
use utoipa::OpenApi;

use crate::api::{
    check_length, check_top_k, parse_retriever, AskRequest, AskResponse, ErrorResponse,
    HealthResponse, PassageJson, RetrieveRequest, RetrieveResponse,
};
use crate::guards::{check_host, log_request, read_body_in_time, AllowedHosts, BodyRead};
use crate::health::IndexWatch;
use crate::queue::{Job, Queue, Refused};
use crate::{ApiError, Engine, ServeOptions, ServerInfo};

/// The web page (`GET /`).
const PAGE: &str = include_str!("page.html");

/// What every handler shares.
pub(crate) struct Shared {
    engine: Arc<dyn Engine>,
    info: ServerInfo,
    index: IndexWatch,
    queue: Queue,
    /// One permit per search allowed to run (`max_searches`).
    searches: Arc<Semaphore>,
    /// Searches running or waiting for a permit.
    searching: AtomicUsize,
    /// A permit per connection allowed; those taken are the open connections.
    connection_slots: Arc<Semaphore>,
    options: ServeOptions,
}

impl Shared {
    /// The state of the handlers.
    pub fn new(
        engine: Arc<dyn Engine>,
        info: ServerInfo,
        queue: Queue,
        connection_slots: Arc<Semaphore>,
        options: ServeOptions,
    ) -> Shared {
        Shared {
            connection_slots,
            engine,
            index: IndexWatch::new(info.index_dir.clone()),
            info,
            queue,
            searches: Arc::new(Semaphore::new(options.max_searches)),
            searching: AtomicUsize::new(0),
            options,
        }
    }
}

type AppState = State<Arc<Shared>>;

/// The OpenAPI description of the API, generated from the handlers and the types of
/// [`crate::api`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "odqa",
        description = "Open-domain question answering over a BM25 index and an extractive reader."
    ),
    paths(health, ask, retrieve),
    components(schemas(ErrorResponse))
)]
pub struct ApiDoc;

/// The routes over `shared`, for the hosts `hosts` allows.
pub(crate) fn router(shared: Shared, hosts: &AllowedHosts) -> Router {
    let body_read = BodyRead {
        timeout: shared.options.connections.body_timeout,
        max_bytes: shared.options.limits.max_body_bytes,
    };
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/health", get(health))
        .route("/v1/ask", post(ask))
        .route("/v1/retrieve", post(retrieve))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        // The body is read (and its size bounded) once, by `read_body_in_time`.
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn_with_state(body_read, read_body_in_time))
        .layer(middleware::from_fn_with_state(hosts.clone(), check_host))
        .layer(middleware::from_fn(log_request))
        .with_state(Arc::new(shared))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

async fn openapi() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

/// Whether the server is up, and what it serves.
#[utoipa::path(get, path = "/health", responses((status = 200, body = HealthResponse)))]
async fn health(State(s): AppState) -> Json<HealthResponse> {
    let stale = s.index.stale();
    Json(HealthResponse {
        status: if stale.is_some() { "stale" } else { "ok" }.into(),
        warning: stale,
        index: s.info.index.clone(),
        model: s.info.model.clone(),
        passages: s.engine.passages(),
        queued: s.queue.queued(),
        abandoned: s.queue.abandoned(),
        connections: s.options.connections.max_connections
            - s.connection_slots
                .available_permits()
                .min(s.options.connections.max_connections),
    })
}

/// Answers a question: retrieves the top-k passages, reads them (batched with the other questions
/// waiting) and ranks the spans.
#[utoipa::path(
    post,
    path = "/v1/ask",
    request_body = AskRequest,
    responses(
        (status = 200, body = AskResponse),
        (status = 400, description = "malformed JSON, wrong types, unknown fields", body = ErrorResponse),
        (status = 413, description = "question or body too long", body = ErrorResponse),
        (status = 422, description = "empty question, no searchable word, bad option", body = ErrorResponse),
        (status = 503, description = "queue full (see Retry-After) or shutting down", body = ErrorResponse),
        (status = 504, description = "no answer within the request timeout", body = ErrorResponse),
    )
)]
async fn ask(
    State(s): AppState,
    body: Result<Json<AskRequest>, JsonRejection>,
) -> Result<Json<AskResponse>, ApiError> {
    let arrived = Instant::now();
    let Json(request) = body?;
    let question = check_length(&request.question, &s.options.limits)?.to_string();
    // Refused here, before it takes a place in the queue, by the rule the pipeline applies.
    s.engine.check_question(&question)?;
    let options = request.options(
        &s.options.limits,
        s.engine.settings(),
        s.engine.has_vectors(),
    )?;
    let (reply, answer) = oneshot::channel();
    let job = Job {
        question: question.clone(),
        options,
        enqueued: arrived,
        reply,
    };
    s.queue.submit(job).map_err(|refused| match refused {
        Refused::Full => ApiError::queue_full(s.queue.capacity()),
        Refused::Closed => ApiError::shutting_down(),
    })?;
    let timeout = s.options.request_timeout;
    let done = tokio::time::timeout(timeout, answer)
        .await
        .map_err(|_| ApiError::timeout(timeout.as_secs_f64()))?
        .map_err(|_| ApiError::internal("the worker dropped the question".into()))?;
    let answered = done.result?.into_answers(done.timings)?;
    let total_ms = arrived.elapsed().as_secs_f64() * 1e3;
    let response = AskResponse::new(question, &answered, done.batch, done.queue_ms, total_ms);
    Ok(Json(response))
}

/// The best passages for a question by BM25, with their text.
#[utoipa::path(
    post,
    path = "/v1/retrieve",
    request_body = RetrieveRequest,
    responses(
        (status = 200, body = RetrieveResponse),
        (status = 400, description = "malformed JSON, wrong types, unknown fields", body = ErrorResponse),
        (status = 413, description = "question or body too long", body = ErrorResponse),
        (status = 422, description = "empty question, no searchable word, bad top_k", body = ErrorResponse),
    )
)]
async fn retrieve(
    State(s): AppState,
    body: Result<Json<RetrieveRequest>, JsonRejection>,
) -> Result<Json<RetrieveResponse>, ApiError> {
    let Json(request) = body?;
    let question = check_length(&request.question, &s.options.limits)?.to_string();
    s.engine.check_question(&question)?;
    check_top_k(request.top_k, &s.options.limits)?;
    let k = request.top_k.unwrap_or(s.engine.settings().top_k);
    let mode = parse_retriever(request.retriever.as_deref(), s.engine.has_vectors())?
        .unwrap_or(s.engine.settings().retriever);
    let started = Instant::now();
    let _waiting = Searching::enter(&s)?;
    let permit = s
        .searches
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::shutting_down())?;
    let engine = s.engine.clone();
    let searched = {
        let question = question.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            engine.retrieve(&question, k, Some(mode))
        })
        .await
        .map_err(|e| ApiError::internal(format!("the search failed: {e}")))?
    };
    let hits = searched?;
    Ok(Json(RetrieveResponse {
        question,
        retriever: mode.name().to_string(),
        passages: hits.into_iter().map(PassageJson::from).collect(),
        retrieval_ms: started.elapsed().as_secs_f64() * 1e3,
    }))
}

/// A search running or waiting for a permit; at most `max_searches + queue` at once, more are
/// refused with 503 (as the question queue does).
struct Searching<'a>(&'a AtomicUsize);

impl<'a> Searching<'a> {
    fn enter(s: &'a Shared) -> Result<Searching<'a>, ApiError> {
        let capacity = s.options.max_searches + s.options.queue;
        let before = s.searching.fetch_add(1, Ordering::SeqCst);
        let searching = Searching(&s.searching);
        if before >= capacity {
            return Err(ApiError::busy(capacity));
        }
        Ok(searching)
    }
}

impl Drop for Searching<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
