//! Batching concurrent questions into the reader: a bounded queue and worker threads. A worker
//! takes every question waiting (up to `max_batch`) and reads them in one call, so the windows of
//! several questions share forward passes; a full queue refuses new questions instead of growing.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use odqa_pipeline::{AskOptions, Observer, QuestionAnswers, Timings};

use crate::queue::{bounded, Done, Job, Jobs, Queue};
use crate::{ApiError, Engine};

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
    let (queue, jobs) = bounded(capacity);
    let handles = (0..workers.max(1))
        .map(|i| {
            let (engine, jobs) = (engine.clone(), jobs.clone());
            std::thread::Builder::new()
                .name(format!("odqa-reader-{i}"))
                .spawn(move || work(&*engine, &jobs, max_batch.max(1)))
        })
        .collect::<std::io::Result<_>>()?;
    Ok((queue, Workers(handles)))
}

impl Workers {
    /// Waits for the workers (they exit once the [`Queue`] is dropped and empty).
    pub fn join(self) {
        for worker in self.0 {
            let _ = worker.join();
        }
    }
}

/// A worker: takes a batch, reads it, replies, until the queue is closed and empty. Questions
/// whose clients have left (disconnected, or answered 504) are dropped unread, and a batch stops
/// early once nobody waits for any of its answers.
fn work(engine: &dyn Engine, queue: &Jobs, max_batch: usize) {
    while let Some(jobs) = queue.next_batch(max_batch) {
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
                for job in still_awaited(jobs, queue) {
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
fn still_awaited(jobs: Vec<Job>, queue: &Jobs) -> Vec<Job> {
    let before = jobs.len();
    let kept: Vec<Job> = jobs.into_iter().filter(|j| !j.abandoned()).collect();
    queue.count_abandoned(before - kept.len());
    kept
}

/// Stops a batch once every one of its clients has left.
struct Abandoned<'a>(&'a [Job]);

impl Observer for Abandoned<'_> {
    fn should_stop(&self) -> bool {
        self.0.iter().all(Job::abandoned)
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
