//! The HTTP API on the committed fixtures (a tiny index and the tiny QA model): every endpoint,
//! every error case, batching, back-pressure and graceful shutdown.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use odqa_serve::{App, ServeOptions};
use serde_json::{json, Value};
use support::{exchange, gated, info, start, tiny_app};
use tower::ServiceExt;

async fn call(app: &App, method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = app.router().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("(no error code)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_answer_and_errors_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let app = tiny_app(dir.path(), ServeOptions::default());

    let (status, health) = call(&app, "GET", "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["model"], "tiny-bert-qa");
    assert!(health["passages"].as_u64().unwrap() > 0);

    let (status, got) = call(
        &app,
        "POST",
        "/v1/ask",
        Some(r#"{"question": " 임종석은 누구인가? ", "top_k": 2}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["question"], "임종석은 누구인가?");
    let passages = got["passages"].as_array().unwrap();
    assert!(!passages.is_empty() && passages.len() <= 2, "{got}");
    let answers = got["answers"].as_array().unwrap();
    assert!(!answers.is_empty(), "{got}");
    for a in answers {
        let passage = passages
            .iter()
            .find(|p| p["id"] == a["passage_id"])
            .unwrap();
        let chars: Vec<char> = passage["text"].as_str().unwrap().chars().collect();
        let (start, end) = (
            a["start"].as_u64().unwrap() as usize,
            a["end"].as_u64().unwrap() as usize,
        );
        assert!(start <= end && end <= chars.len(), "{a}");
        let span: String = chars[start..end].iter().collect();
        assert_eq!(
            a["evidence"]["answer"].as_str().unwrap(),
            span,
            "offsets are characters"
        );
        assert!(a["sentence"].as_str().unwrap().contains(&span));
        assert!((0.0..=1.0).contains(&a["probability"].as_f64().unwrap()));
    }
    assert!(got["timings"]["total_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(got["timings"]["batch_questions"], 1);

    let (status, got) = call(
        &app,
        "POST",
        "/v1/retrieve",
        Some(r#"{"question": "임종석", "top_k": 3}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let hits = got["passages"].as_array().unwrap();
    assert!(!hits.is_empty() && hits.len() <= 3);
    assert!(hits[0]["text"].as_str().unwrap().contains("임종석"));

    let long = format!(r#"{{"question": "{}"}}"#, "가".repeat(2_001));
    // Over the 64 KiB body limit (a question would be refused long before, at 2,000 characters).
    let huge = format!(r#"{{"question": "{}"}}"#, "q".repeat(70_000));
    let nothing = r#"{"question": "zzzqqqxxy"}"#;
    for (method, path, body, want_status, want_code) in [
        ("POST", "/v1/ask", Some("{not json"), 400, "bad_json"),
        (
            "POST",
            "/v1/ask",
            Some(r#"{"question": 5}"#),
            400,
            "bad_json",
        ),
        ("POST", "/v1/ask", Some(r#"{"top_k": 5}"#), 400, "bad_json"),
        (
            "POST",
            "/v1/ask",
            Some(r#"{"question": "q", "topk": 5}"#),
            400,
            "bad_json",
        ),
        (
            "POST",
            "/v1/ask",
            Some(r#"{"question": ""}"#),
            422,
            "empty_question",
        ),
        (
            "POST",
            "/v1/ask",
            Some(r#"{"question": " \n\t "}"#),
            422,
            "empty_question",
        ),
        (
            "POST",
            "/v1/ask",
            Some(r#"{"question": "?!…"}"#),
            422,
            "no_searchable_words",
        ),
        (
            "POST",
            "/v1/ask",
            Some(long.as_str()),
            413,
            "question_too_long",
        ),
        (
            "POST",
            "/v1/ask",
            Some(huge.as_str()),
            413,
            "body_too_large",
        ),
        (
            "POST",
            "/v1/ask",
            Some(r#"{"question": "q", "top_k": 0}"#),
            422,
            "bad_option",
        ),
        (
            "POST",
            "/v1/ask",
            Some(r#"{"question": "q", "strategy": "best"}"#),
            422,
            "bad_option",
        ),
        (
            "POST",
            "/v1/ask",
            Some(r#"{"question": "q", "mu": 7}"#),
            422,
            "bad_option",
        ),
        (
            "POST",
            "/v1/retrieve",
            Some(r#"{"question": "?!"}"#),
            422,
            "no_searchable_words",
        ),
        (
            "POST",
            "/v1/retrieve",
            Some(r#"{"question": "q", "top_k": 100000}"#),
            422,
            "bad_option",
        ),
        ("GET", "/v1/nothing", None, 404, "not_found"),
        ("GET", "/v1/ask", None, 405, "method_not_allowed"),
    ] {
        let (status, got) = call(&app, method, path, body).await;
        assert_eq!(
            (status.as_u16(), code(&got)),
            (want_status, want_code),
            "{method} {path} {body:?}: {got}"
        );
        assert!(got["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // A question that matches nothing is answered, with no answers and a note.
    let (status, got) = call(&app, "POST", "/v1/ask", Some(nothing)).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["answers"], json!([]));
    assert!(got["note"].as_str().unwrap().contains("no passage"));

    let (status, spec) = call(&app, "GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for path in ["/v1/ask", "/v1/retrieve", "/health"] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} in the OpenAPI description"
        );
    }
    let ask = &spec["components"]["schemas"]["AskRequest"];
    assert_eq!(ask["required"], json!(["question"]), "{ask}");

    let (status, page) = call(&app, "GET", "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.as_str().unwrap().contains("/v1/ask"));
}

async fn wait_for_queued(app: &App, n: u64) {
    for _ in 0..2_000 {
        let (_, health) = call(app, "GET", "/health", None).await;
        if health["queued"].as_u64() == Some(n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the queue never held {n} questions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_questions_are_read_in_one_batch_and_a_full_queue_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, gates) = gated(dir.path());
    let mut options = ServeOptions::default();
    options.max_batch = 8;
    options.queue = 3;
    let app = Arc::new(App::new(engine.clone(), info(), options).unwrap());
    let ask = |question: &'static str| {
        let app = app.clone();
        tokio::spawn(async move {
            let body = json!({"question": question}).to_string();
            call(&app, "POST", "/v1/ask", Some(&body)).await
        })
    };
    // The first question holds the worker at the gate...
    let first = ask("임종석은 누구인가?");
    while engine.asked.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...while three more fill the queue, and a fifth is refused.
    let waiting: Vec<_> = ["대통령비서실장", "민중가요", "노래동아리"]
        .into_iter()
        .map(ask)
        .collect();
    wait_for_queued(&app, 3).await;
    let (status, refused) = call(&app, "POST", "/v1/ask", Some(r#"{"question": "정치인"}"#)).await;
    assert_eq!(
        (status.as_u16(), code(&refused)),
        (503, "queue_full"),
        "{refused}"
    );
    let request = Request::post("/v1/ask")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"question": "정치인"}"#))
        .unwrap();
    let response = app.router().oneshot(request).await.unwrap();
    assert_eq!(response.headers()["retry-after"], "1");

    gates.answer.send(()).unwrap();
    gates.answer.send(()).unwrap();
    let (status, got) = first.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{got}");
    for task in waiting {
        let (status, got) = task.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got["timings"]["batch_questions"], 3, "{got}");
    }
    assert_eq!(*engine.asked.lock().unwrap(), vec![1, 3]);
}

/// Sends one HTTP/1.1 request on a fresh connection and returns the status line.
async fn status_line(addr: std::net::SocketAddr, body: &str) -> String {
    let request = format!(
        "POST /v1/ask HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let response = exchange(addr, &request).await;
    response.lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_finishes_the_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, gates) = gated(dir.path());
    let app = App::new(engine.clone(), info(), ServeOptions::default()).unwrap();
    let (addr, stop, server) = start(app).await;
    let in_flight = tokio::spawn(status_line(addr, r#"{"question": "임종석은 누구인가?"}"#));
    while engine.asked.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !server.is_finished(),
        "the server waits for the request in flight"
    );
    gates.answer.send(()).unwrap();
    assert_eq!(in_flight.await.unwrap(), "HTTP/1.1 200 OK");
    server.await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

/// A request chooses its retriever: without passage vectors dense and hybrid are a 422; with them
/// (loaded by `Pipeline::load_vectors`, as `odqa serve` does for an index that has them) both
/// routes answer with them and report the passages' scores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_choose_their_retriever() {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = support::pipeline(dir.path());
    let hybrid = r#"{"question": "임종석은 누구인가?", "top_k": 3, "retriever": "hybrid"}"#;
    let bm25_only = App::new(
        Arc::new(support::pipeline(&dir.path().join("b"))),
        info(),
        ServeOptions::default(),
    )
    .unwrap();
    for path in ["/v1/ask", "/v1/retrieve"] {
        let (status, got) = call(&bm25_only, "POST", path, Some(hybrid)).await;
        assert_eq!((status.as_u16(), code(&got)), (422, "bad_option"), "{got}");
        assert!(got["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no passage vectors"));
    }
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/reader-parity/tiny-bert-qa");
    let options = odqa_pipeline::dense::DenseBuildOptions {
        max_len: 128,
        ..Default::default()
    };
    odqa_pipeline::dense::build_dense::<odqa_pipeline::DefaultBackend>(
        dir.path(),
        &model,
        &options,
        &odqa_pipeline::Unobserved,
        &Default::default(),
    )
    .unwrap();
    pipeline.load_vectors(&Default::default()).unwrap();
    let app = App::new(Arc::new(pipeline), info(), ServeOptions::default()).unwrap();
    let (status, got) = call(&app, "POST", "/v1/retrieve", Some(hybrid)).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["retriever"], "hybrid");
    assert!(got["passages"][0]["dense_score"].is_number(), "{got}");
    let (status, got) = call(&app, "POST", "/v1/ask", Some(hybrid)).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert!(
        got["passages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["dense_score"].is_number()),
        "{got}"
    );
    // The server's own retriever stays BM25 for requests that do not choose.
    let (_, got) = call(
        &app,
        "POST",
        "/v1/retrieve",
        Some(r#"{"question": "임종석"}"#),
    )
    .await;
    assert_eq!(got["retriever"], "bm25");
    assert!(got["passages"][0].get("dense_score").is_none(), "{got}");
}
