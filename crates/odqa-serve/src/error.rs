//! Errors: [`ApiError`], what a request gets back (`{"error": {"code", "message"}}` with its
//! status), and [`ServeError`], why the server could not run.

use axum::extract::rejection::JsonRejection;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use odqa_pipeline::{PipelineError, QuestionError};

use crate::api::{ErrorDetail, ErrorResponse};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound or the connection loop failed.
    #[error("{addr}: {source}")]
    Io {
        /// The listening address.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A bad server option.
    #[error("{0}")]
    BadOption(String),
}

/// An error answer: status, machine-readable code, message.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Seconds to wait before retrying (503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: String) -> ApiError {
        ApiError {
            status,
            code,
            message,
            retry_after: None,
        }
    }

    /// 422: the request is well-formed but a value cannot be used.
    pub fn unprocessable(code: &'static str, message: String) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 413: the request or a field of it is too large.
    pub fn too_large(code: &'static str, message: String) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
    }

    /// 404 for a path the API does not have.
    pub fn not_found(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such endpoint: {path} (see /openapi.json)"),
        )
    }

    /// 405 for a known path with another method.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take that method (see /openapi.json)".into(),
        )
    }

    /// 503 with `Retry-After` when the queue is full.
    pub fn queue_full(capacity: usize) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_full",
                format!("{capacity} questions are already waiting; retry later"),
            )
        }
    }

    /// 503 while the server shuts down.
    pub fn shutting_down() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down".into(),
        )
    }

    /// 504 when the answer took longer than the request timeout.
    pub fn timeout(seconds: f64) -> ApiError {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("no answer within {seconds:.0} s"),
        )
    }

    /// 408 when the request body did not arrive within the body timeout.
    pub fn body_timeout(seconds: f64) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("the request body did not arrive within {seconds:.1} s"),
        )
    }

    /// 403 for a `Host` header that is not one of the server's names.
    pub fn host_not_allowed(host: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            format!("this server does not answer for host {host:?}"),
        )
    }

    /// 503 when as many searches as the server runs at once are already waiting.
    pub fn busy(capacity: usize) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!("{capacity} searches are already running or waiting; retry later"),
            )
        }
    }

    /// 500 for a failure of the server itself.
    pub fn internal(message: String) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<JsonRejection> for ApiError {
    /// Unreadable bodies: 413 when too large, 400 otherwise (bad JSON, wrong types, missing
    /// fields, unknown fields, no `Content-Type: application/json`).
    fn from(rejection: JsonRejection) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::too_large("body_too_large", rejection.body_text());
        }
        ApiError::new(StatusCode::BAD_REQUEST, "bad_json", rejection.body_text())
    }
}

impl From<PipelineError> for ApiError {
    /// A question at fault is a 422 with the question error's code; anything else is a 500.
    fn from(error: PipelineError) -> ApiError {
        match error {
            PipelineError::Question(e) => {
                // The API's name for an empty question predates the pipeline's.
                let code = match e {
                    QuestionError::Empty => "empty_question",
                    ref other => other.code(),
                };
                ApiError::unprocessable(code, e.to_string())
            }
            PipelineError::BadInput(m) => ApiError::unprocessable("bad_option", m),
            PipelineError::Setting(e) => ApiError::unprocessable("bad_option", e.to_string()),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
