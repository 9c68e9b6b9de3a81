//! The server under the hostile probes of issue 23: clients stuck in their request head, clients
//! that leave before their answer, floods of searches. Each test fails on a server without the
//! bound it checks (a hang is turned into a failure by a generous deadline, never a timing claim).

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use odqa_serve::{App, ServeOptions};
use support::{exchange, gated, info, pipeline, start, tiny_app, HUNG};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

async fn post(app: &App, path: &str, body: &str) -> (u16, String) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.router().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_is_not_held_by_a_client_stuck_in_its_request_head() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, server) = start(tiny_app(dir.path(), ServeOptions::default())).await;
    // A client that sends half a request head and then nothing.
    let mut stuck = tokio::net::TcpStream::connect(addr).await.unwrap();
    stuck
        .write_all(b"POST /v1/ask HTTP/1.1\r\nhost: localhost\r\n")
        .await
        .unwrap();
    // A full request on another connection proves the server accepted both before the signal.
    let mut probe = tokio::net::TcpStream::connect(addr).await.unwrap();
    probe
        .write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut health = String::new();
    probe.read_to_string(&mut health).await.unwrap();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    stop.send(()).unwrap();
    let finished = tokio::time::timeout(HUNG, server).await;
    assert!(
        finished.is_ok(),
        "the server was still running {HUNG:?} after the signal, held by a half-sent request"
    );
    finished.unwrap().unwrap().unwrap();
    // The stuck client sees its connection closed.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(HUNG, stuck.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the stuck connection was left open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn questions_whose_clients_left_are_not_read_and_free_their_place_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, gates) = gated(dir.path());
    let mut options = ServeOptions::default();
    options.request_timeout = Duration::from_secs(1);
    options.queue = 3;
    let app = Arc::new(App::new(engine.clone(), info(), options).unwrap());
    let ask = |question: String| {
        let app = app.clone();
        tokio::spawn(async move {
            let body = serde_json::json!({ "question": question }).to_string();
            post(&app, "/v1/ask", &body).await
        })
    };
    // The first question holds the worker at the gate; it times out (504) meanwhile.
    let first = ask("임종석은 누구인가?".into());
    while engine.asked.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Three more fill the queue and time out: their clients have their 504 and are gone.
    let waiting: Vec<_> = (0..3).map(|i| ask(format!("민중가요 {i}"))).collect();
    for task in waiting {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 504, "{body}");
    }
    assert_eq!(first.await.unwrap().0, 504);
    // The queue holds three abandoned questions: a live one still gets in, and is read as soon
    // as the worker is free (in far less than its timeout: the tiny model reads in milliseconds).
    let last = ask("노래동아리".into());
    gates.answer.send(()).unwrap();
    gates.answer.send(()).unwrap();
    let (status, body) = last.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        *engine.asked.lock().unwrap(),
        vec![1, 1],
        "only the first question and the last were read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn searches_run_a_bounded_number_at_once_and_the_rest_wait_in_a_bounded_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, gates) = gated(dir.path());
    let mut options = ServeOptions::default();
    options.queue = 3;
    let app = Arc::new(App::new(engine.clone(), info(), options).unwrap());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let searches: Vec<_> = (0..cores + 10)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                post(
                    &app,
                    "/v1/retrieve",
                    r#"{"question": "임종석", "top_k": 2}"#,
                )
                .await
            })
        })
        .collect();
    // Wait until every request is running its search or answered, but for the `queue` that may
    // wait for a free search.
    let total = cores + 10;
    let mut answered = Vec::new();
    let mut pending = searches;
    let deadline = tokio::time::Instant::now() + HUNG;
    loop {
        let (done, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|t| t.is_finished());
        for task in done {
            answered.push(task.await.unwrap());
        }
        pending = rest;
        let running = engine.searching.load(Ordering::SeqCst);
        if running + answered.len() >= total - 3 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..total {
        let _ = gates.search.send(());
    }
    for task in pending {
        answered.push(task.await.unwrap());
    }
    let most = engine.most_searching.load(Ordering::SeqCst);
    assert!(
        most <= cores,
        "{most} searches ran at once on {cores} cores"
    );
    let refused = answered.iter().filter(|(s, _)| *s == 503).count();
    assert!(
        refused >= 10 - 3,
        "{refused} of {total} refused: {answered:?}"
    );
    assert!(
        answered.iter().all(|(s, _)| *s == 200 || *s == 503),
        "{answered:?}"
    );
}

fn short_timeouts() -> ServeOptions {
    let mut options = ServeOptions::default();
    options.connections.header_timeout = Duration::from_millis(300);
    options.connections.body_timeout = Duration::from_millis(300);
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_slow_and_stalled_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, server) = start(tiny_app(dir.path(), short_timeouts())).await;
    // Nothing sent, half a head, and a keep-alive connection idle after its answer: all closed.
    assert_eq!(exchange(addr, "").await, "");
    assert_eq!(
        exchange(addr, "GET /health HTTP/1.1\r\nhost: loc").await,
        ""
    );
    let kept = exchange(addr, "GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n").await;
    assert!(kept.starts_with("HTTP/1.1 200"), "{kept}");
    // A body that stops arriving: 408.
    let stalled = "POST /v1/ask HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
                   content-length: 100\r\n\r\n{\"question\":";
    let answer = exchange(addr, stalled).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_the_connection_bound_idle_connections_make_room() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = ServeOptions::default();
    options.connections.max_connections = 4;
    // Only shedding can free a slot: the header timeout is far away.
    options.connections.header_timeout = Duration::from_secs(600);
    let (addr, stop, server) = start(tiny_app(dir.path(), options)).await;
    let mut idle = Vec::new();
    for _ in 0..12 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let health = exchange(
        addr,
        "GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let body: serde_json::Value =
        serde_json::from_str(health.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let open = body["connections"].as_u64().unwrap();
    assert!((1..=4).contains(&open), "{open} connections open: {body}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_loopback_server_answers_only_its_own_host_names() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop, server) = start(tiny_app(dir.path(), ServeOptions::default())).await;
    let get =
        |host: String| format!("GET /health HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    let rebound = exchange(addr, &get(format!("attacker.example:{}", addr.port()))).await;
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    assert!(rebound.contains("host_not_allowed"), "{rebound}");
    for host in [format!("localhost:{}", addr.port()), addr.to_string()] {
        let ok = exchange(addr, &get(host)).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_when_the_index_directory_was_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let pipeline = pipeline(&index);
    let mut info = info();
    info.index_dir = Some(index.clone());
    let app = App::new(Arc::new(pipeline), info, ServeOptions::default()).unwrap();
    let health = |app: &App| {
        let request = Request::get("/health").body(Body::empty()).unwrap();
        let router = app.router();
        async move {
            let response = router.oneshot(request).await.unwrap();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        }
    };
    assert_eq!(health(&app).await["status"], "ok");
    std::fs::rename(&index, dir.path().join("index.old")).unwrap();
    std::fs::create_dir(&index).unwrap();
    let stale = health(&app).await;
    assert_eq!(stale["status"], "stale", "{stale}");
    assert!(
        stale["warning"].as_str().unwrap().contains("replaced"),
        "{stale}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_closes_what_is_still_answering_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, gates) = gated(dir.path());
    let mut options = ServeOptions::default();
    options.connections.shutdown_grace = Duration::from_millis(300);
    let app = App::new(engine.clone(), info(), options).unwrap();
    let (addr, stop, server) = start(app).await;
    // A question held at the gate for longer than the grace period.
    let body = r#"{"question": "임종석은 누구인가?"}"#;
    let request = format!(
        "POST /v1/ask HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let asking = tokio::spawn(async move { exchange(addr, &request).await });
    while engine.asked.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).unwrap();
    // The grace period ends with the question unanswered: its connection is closed, the server
    // says so; then the gate opens and the worker, whose client is gone, stops.
    let answer = asking.await.unwrap();
    assert_eq!(answer, "", "the connection was closed without an answer");
    gates.answer.send(()).unwrap();
    let finished = tokio::time::timeout(HUNG, server).await;
    assert_eq!(finished.expect("the server stopped").unwrap().unwrap(), 1);
}

/// A question that cannot be searched is refused before it takes a place in the queue (the
/// pipeline's own rule), even while the worker is busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unsearchable_question_is_refused_without_queueing() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, gates) = gated(dir.path());
    let mut options = ServeOptions::default();
    options.request_timeout = Duration::from_secs(2);
    let app = Arc::new(App::new(engine.clone(), info(), options).unwrap());
    let first = {
        let app = app.clone();
        tokio::spawn(async move {
            post(&app, "/v1/ask", r#"{"question": "임종석은 누구인가?"}"#).await
        })
    };
    while engine.asked.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (question, code) in [("?!…", "no_searchable_words"), ("   ", "empty_question")] {
        let body = serde_json::json!({ "question": question }).to_string();
        let (status, answer) = post(&app, "/v1/ask", &body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer.contains(code), "{answer}");
    }
    gates.answer.send(()).unwrap();
    assert_eq!(first.await.unwrap().0, 200);
    assert_eq!(
        *engine.asked.lock().unwrap(),
        vec![1],
        "nothing else was queued"
    );
}
