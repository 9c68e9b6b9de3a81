//! What the HTTP tests share: the tiny pipeline, and an engine that holds its calls at gates.

#![allow(dead_code)]

#[path = "../../../odqa-pipeline/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use odqa_pipeline::{AskOptions, Pipeline, PipelineError, PipelineSettings, QuestionAnswers};
use odqa_pipeline::{DefaultBackend, Hit, Observer, Timings};
use odqa_serve::{App, Engine, ServeOptions, ServerInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Long enough for any of these servers to do what the test waits for; reaching it means hung.
pub const HUNG: Duration = Duration::from_secs(20);

/// The tiny pipeline (top 4 passages) over an index built in `index`.
pub fn pipeline(index: &Path) -> Pipeline<DefaultBackend> {
    let mut settings = PipelineSettings::default();
    settings.top_k = 4;
    common::tiny_pipeline(index, settings)
}

/// What `/health` shows of the tiny pipeline.
pub fn info() -> ServerInfo {
    ServerInfo {
        index: "tiny-index".into(),
        model: "tiny-bert-qa".into(),
        index_dir: None,
    }
}

/// The real pipeline; `answer` records the questions it is given and waits at a gate, `retrieve`
/// counts the searches running at once and waits at another (every search waits: use it for
/// tests of searches or of questions, not both).
pub struct Gated {
    pub inner: Pipeline<DefaultBackend>,
    pub asked: Mutex<Vec<usize>>,
    answer_gate: Mutex<mpsc::Receiver<()>>,
    pub searching: AtomicUsize,
    pub most_searching: AtomicUsize,
    search_gate: Mutex<mpsc::Receiver<()>>,
}

impl Engine for Gated {
    fn answer(
        &self,
        queries: &[(&str, &AskOptions)],
        observer: &dyn Observer,
    ) -> Result<(Vec<QuestionAnswers>, Timings), PipelineError> {
        self.asked.lock().unwrap().push(queries.len());
        let _ = self.answer_gate.lock().unwrap().recv();
        self.inner.answer_with(queries, observer)
    }

    fn retrieve(
        &self,
        question: &str,
        k: usize,
        retriever: Option<odqa_retriever::RetrieverMode>,
    ) -> Result<Vec<Hit>, PipelineError> {
        let now = self.searching.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_searching.fetch_max(now, Ordering::SeqCst);
        let _ = self.search_gate.lock().unwrap().recv_timeout(HUNG);
        self.searching.fetch_sub(1, Ordering::SeqCst);
        Engine::retrieve(&self.inner, question, k, retriever)
    }

    fn check_question(&self, question: &str) -> Result<(), PipelineError> {
        self.inner.check_question(question)
    }

    fn settings(&self) -> &PipelineSettings {
        self.inner.settings()
    }

    fn has_vectors(&self) -> bool {
        Engine::has_vectors(&self.inner)
    }

    fn passages(&self) -> u64 {
        Engine::passages(&self.inner)
    }
}

/// The senders that open the gates, one call each.
pub struct Gates {
    pub answer: mpsc::Sender<()>,
    pub search: mpsc::Sender<()>,
}

/// A [`Gated`] engine over the tiny pipeline, and its gates.
pub fn gated(index: &Path) -> (Arc<Gated>, Gates) {
    let (answer, answer_gate) = mpsc::channel();
    let (search, search_gate) = mpsc::channel();
    let engine = Gated {
        inner: pipeline(index),
        asked: Mutex::new(Vec::new()),
        answer_gate: Mutex::new(answer_gate),
        searching: AtomicUsize::new(0),
        most_searching: AtomicUsize::new(0),
        search_gate: Mutex::new(search_gate),
    };
    (Arc::new(engine), Gates { answer, search })
}

/// The tiny pipeline served with `options`.
pub fn tiny_app(index: &Path, options: ServeOptions) -> App {
    App::new(Arc::new(pipeline(index)), info(), options).unwrap()
}

/// `app` serving on a loopback port: its address, the sender that stops it, and its task.
pub async fn start(
    app: App,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<usize, odqa_serve::ServeError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

/// Sends `request` on a fresh connection and reads until the server closes it (or `HUNG`).
pub async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(HUNG, stream.read_to_end(&mut response)).await;
    assert!(
        read.is_ok(),
        "the connection was never closed after {request:?}"
    );
    String::from_utf8_lossy(&response).into_owned()
}
