//! What every request passes before its handler: the request log, the `Host` allow-list and the
//! body read within a time limit.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// Logs every request: method, path, status, milliseconds.
pub(crate) async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let status = response.status().as_u16();
    if response.status().is_server_error() {
        tracing::warn!(%method, %path, status, ms, "request");
    } else {
        tracing::info!(%method, %path, status, ms, "request");
    }
    response
}

/// The host names a request may name in its `Host` header: a list, or any name; decided when the
/// server starts listening if the options left it open (loopback names on a loopback address).
#[derive(Debug, Clone)]
pub(crate) struct AllowedHosts(Arc<OnceLock<Option<Arc<[String]>>>>);

/// The names of the loopback interface.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

impl AllowedHosts {
    /// `Some(names)`: those names; `None`: decided by [`AllowedHosts::resolve_for`] (any name
    /// until then).
    pub fn new(names: Option<Vec<String>>) -> AllowedHosts {
        let hosts = AllowedHosts(Arc::new(OnceLock::new()));
        if let Some(names) = names {
            let _ = hosts.0.set(Some(names.into()));
        }
        hosts
    }

    /// Unless a list was given: the loopback names when `local` is a loopback address, any name
    /// otherwise.
    pub fn resolve_for(&self, local: SocketAddr) {
        let names = local
            .ip()
            .is_loopback()
            .then(|| LOOPBACK_NAMES.map(String::from).to_vec().into());
        let _ = self.0.set(names);
    }

    /// Whether `host` (a `Host` header value, with or without a port) is allowed.
    pub fn allows(&self, host: &str) -> bool {
        let Some(Some(names)) = self.0.get() else {
            return true;
        };
        let name = host_name(host);
        names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The name of a `Host` value without its port: `localhost:8080` → `localhost`,
/// `[::1]:8080` → `::1`.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Refuses (403) a request whose `Host` is not on the allow-list: a page from another site that
/// resolves its own name to this loopback address (DNS rebinding) cannot read the API. A request
/// without `Host` (HTTP/1.0, tests) passes.
pub(crate) async fn check_host(
    State(allowed): State<AllowedHosts>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}"));
    match host {
        Some(host) if !allowed.allows(host) => ApiError::host_not_allowed(host).into_response(),
        _ => next.run(request).await,
    }
}

/// How long a request body may take to arrive, and how large it may be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyRead {
    pub timeout: Duration,
    pub max_bytes: usize,
}

/// Reads the whole body (at most `max_bytes`) within `timeout` before the handler runs: a client
/// that stalls mid-body gets 408 instead of holding the connection; a larger body gets 413.
pub(crate) async fn read_body_in_time(
    State(limits): State<BodyRead>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(limits.timeout, axum::body::to_bytes(body, limits.max_bytes));
    match read.await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => {
            let message = format!(
                "the request body is larger than {} bytes ({e})",
                limits.max_bytes
            );
            ApiError::too_large("body_too_large", message).into_response()
        }
        Err(_) => ApiError::body_timeout(limits.timeout.as_secs_f64()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> AllowedHosts {
        let hosts = AllowedHosts::new(None);
        hosts.resolve_for("127.0.0.1:8080".parse().unwrap());
        hosts
    }

    #[test]
    fn host_names_are_compared_without_their_port() {
        let allowed = loopback();
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(allowed.allows(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.2",
            "",
            "[::2]",
        ] {
            assert!(!allowed.allows(host), "{host}");
        }
        let public = AllowedHosts::new(None);
        public.resolve_for("0.0.0.0:8080".parse().unwrap());
        assert!(public.allows("anything:1"));
        let listed = AllowedHosts::new(Some(vec!["qa.example".into()]));
        listed.resolve_for("127.0.0.1:8080".parse().unwrap());
        assert!(listed.allows("qa.example:443") && !listed.allows("localhost"));
    }
}
