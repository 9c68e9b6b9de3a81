//! Batching concurrent questions into the reader: a bounded queue and worker threads. A worker
//! takes every question waiting (up to `max_batch`) and reads them in one call, so the windows of
//! several questions share forward passes; a full queue refuses new questions instead of growing.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use odqa_pipeline::{AskOptions, Observer, QuestionAnswers, Timings};
use tokio::sync::oneshot;

use crate::{ApiError, Engine};

/// One question waiting to be read.
pub(crate) struct Job {
    pub question: String,
    pub options: AskOptions,
    pub enqueued: Instant,
    pub reply: oneshot::Sender<Done>,
}

/// What a worker sends back for a job.
pub(crate) struct Done {
    pub result: Result<QuestionAnswers, ApiError>,
    /// The timings of the batch the question was read in.
    pub timings: Timings,
    /// Questions in that batch.
    pub batch: usize,
    /// Milliseconds the job waited before its batch started.
    pub queue_ms: f64,
}

/// Why a job was not queued.
pub(crate) enum Refused {
    /// The queue holds `capacity` jobs already.
    Full,
    /// The workers are gone (shutting down).
    Closed,
}

/// The queue's sending side (cloned into every request handler); when the last clone is dropped
/// the workers answer what is queued and exit.
#[derive(Clone)]
pub(crate) struct Queue {
    sender: SyncSender<Job>,
    counts: Arc<Counts>,
    capacity: usize,
}

/// What the queue and the workers count.
#[derive(Default)]
struct Counts {
    /// Jobs waiting for a worker.
    queued: AtomicUsize,
    /// Jobs dropped unread because their clients had left.
    abandoned: AtomicUsize,
}

/// The worker threads.
pub(crate) struct Workers(Vec<JoinHandle<()>>);

/// Starts `workers` threads reading at most `max_batch` questions per call from a queue of
/// `capacity`.
pub(crate) fn start(
    engine: Arc<dyn Engine>,
    workers: usize,
    max_batch: usize,
    capacity: usize,
) -> std::io::Result<(Queue, Workers)> {
    let (sender, receiver) = mpsc::sync_channel::<Job>(capacity);
    let receiver = Arc::new(Mutex::new(receiver));
    let counts = Arc::new(Counts::default());
    let handles = (0..workers.max(1))
        .map(|i| {
            let (engine, receiver, counts) = (engine.clone(), receiver.clone(), counts.clone());
            std::thread::Builder::new()
                .name(format!("odqa-reader-{i}"))
                .spawn(move || work(&*engine, &receiver, &counts, max_batch.max(1)))
        })
        .collect::<std::io::Result<_>>()?;
    let queue = Queue {
        sender,
        counts,
        capacity,
    };
    Ok((queue, Workers(handles)))
}

impl Queue {
    /// Queues a job without waiting.
    pub fn submit(&self, job: Job) -> Result<(), Refused> {
        self.counts.queued.fetch_add(1, Ordering::SeqCst);
        let sent = self.sender.try_send(job);
        if sent.is_err() {
            self.counts.queued.fetch_sub(1, Ordering::SeqCst);
        }
        sent.map_err(|e| match e {
            TrySendError::Full(_) => Refused::Full,
            TrySendError::Disconnected(_) => Refused::Closed,
        })
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.counts.queued.load(Ordering::SeqCst)
    }

    /// Jobs dropped unread so far because their clients had left.
    pub fn abandoned(&self) -> usize {
        self.counts.abandoned.load(Ordering::SeqCst)
    }

    /// Most jobs waiting.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Workers {
    /// Waits for the workers (they exit once every [`Queue`] clone is dropped and the queue is
    /// empty).
    pub fn join(self) {
        for worker in self.0 {
            let _ = worker.join();
        }
    }
}

/// A worker: takes a batch, reads it, replies, until the queue is closed and empty. Questions
/// whose clients have left (disconnected, or answered 504) are dropped unread, and a batch stops
/// early once nobody waits for any of its answers.
fn work(engine: &dyn Engine, receiver: &Mutex<Receiver<Job>>, counts: &Counts, max_batch: usize) {
    while let Some(jobs) = next_batch(receiver, max_batch) {
        counts.queued.fetch_sub(jobs.len(), Ordering::SeqCst);
        let jobs = still_awaited(jobs, counts);
        if jobs.is_empty() {
            continue;
        }
        let started = Instant::now();
        let queries: Vec<(&str, &AskOptions)> = jobs
            .iter()
            .map(|j| (j.question.as_str(), &j.options))
            .collect();
        match answer(engine, &queries, &Abandoned(&jobs)) {
            Ok((answers, timings)) => {
                let batch = jobs.len();
                for (job, answer) in jobs.into_iter().zip(answers) {
                    reply(job, Ok(answer), timings, batch, started);
                }
            }
            // One question's failure must not fail the others: read them one by one.
            Err(_) if jobs.len() > 1 => {
                for job in still_awaited(jobs, counts) {
                    let started = Instant::now();
                    let one = [(job.question.as_str(), &job.options)];
                    let only = std::slice::from_ref(&job);
                    let (result, timings) = match answer(engine, &one, &Abandoned(only)) {
                        Ok((answers, timings)) => match answers.into_iter().next() {
                            Some(answer) => (Ok(answer), timings),
                            None => (Err(ApiError::internal("no answer".into())), timings),
                        },
                        Err(e) => (Err(e), Timings::default()),
                    };
                    reply(job, result, timings, 1, started);
                }
            }
            Err(e) => {
                if let Some(job) = jobs.into_iter().next() {
                    reply(job, Err(e), Timings::default(), 1, started);
                }
            }
        }
    }
}

/// The jobs someone still waits for; the others are counted as abandoned.
fn still_awaited(jobs: Vec<Job>, counts: &Counts) -> Vec<Job> {
    let before = jobs.len();
    let kept: Vec<Job> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
    counts.abandoned.fetch_add(before - kept.len(), Ordering::SeqCst);
    kept
}

/// Stops a batch once every one of its clients has left.
struct Abandoned<'a>(&'a [Job]);

impl Observer for Abandoned<'_> {
    fn should_stop(&self) -> bool {
        self.0.iter().all(|j| j.reply.is_closed())
    }
}

/// [`Engine::answer`], a panic turned into an error (the worker lives on, the clients get a 500).
fn answer(
    engine: &dyn Engine,
    queries: &[(&str, &AskOptions)],
    observer: &dyn Observer,
) -> Result<(Vec<QuestionAnswers>, Timings), ApiError> {
    match catch_unwind(AssertUnwindSafe(|| engine.answer(queries, observer))) {
        Ok(answered) => answered.map_err(ApiError::from),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(ApiError::internal(format!("the reader failed: {message}")))
        }
    }
}

/// Blocks for the first job, then takes the others already waiting, up to `max_batch`. `None`
/// once the queue is closed and empty.
fn next_batch(receiver: &Mutex<Receiver<Job>>, max_batch: usize) -> Option<Vec<Job>> {
    let receiver = receiver.lock().ok()?;
    let first = receiver.recv().ok()?;
    let mut jobs = vec![first];
    while jobs.len() < max_batch {
        match receiver.try_recv() {
            Ok(job) => jobs.push(job),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    Some(jobs)
}

fn reply(
    job: Job,
    result: Result<QuestionAnswers, ApiError>,
    timings: Timings,
    batch: usize,
    started: Instant,
) {
    let queue_ms = started.duration_since(job.enqueued).as_secs_f64() * 1e3;
    // The client may have gone away; its answer is dropped.
    let _ = job.reply.send(Done {
        result,
        timings,
        batch,
        queue_ms,
    });
}
