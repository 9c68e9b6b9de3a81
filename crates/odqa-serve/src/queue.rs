//! The bounded queue of questions between the request handlers and the reading workers. A full
//! queue first drops the questions whose clients have left (disconnected, or answered 504), so
//! abandoned requests never make others wait or fail; only live questions count against the bound.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use odqa_pipeline::{AskOptions, QuestionAnswers, Timings};
use tokio::sync::oneshot;

use crate::ApiError;

/// One question waiting to be read.
pub(crate) struct Job {
    pub question: String,
    pub options: AskOptions,
    pub enqueued: Instant,
    pub reply: oneshot::Sender<Done>,
}

impl Job {
    /// True once nobody waits for the answer.
    pub fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }
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
    /// The queue holds `capacity` jobs whose clients still wait.
    Full,
    /// The workers are gone (shutting down).
    Closed,
}

/// The queue's state, behind one lock.
struct State {
    jobs: VecDeque<Job>,
    /// Live [`Queue`] handles; none left (and no job) tells the workers to exit.
    handles: usize,
    /// Jobs dropped unread because their clients had left.
    abandoned: usize,
}

struct Inner {
    state: Mutex<State>,
    /// Signalled on every new job and when the last handle goes.
    ready: Condvar,
    capacity: usize,
}

/// The queue's sending side (one per request handler's state); when the last one is dropped the
/// workers answer what is queued and exit.
pub(crate) struct Queue(Arc<Inner>);

/// The queue's receiving side, shared by the workers.
#[derive(Clone)]
pub(crate) struct Jobs(Arc<Inner>);

/// A queue of `capacity` jobs.
pub(crate) fn bounded(capacity: usize) -> (Queue, Jobs) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            jobs: VecDeque::new(),
            handles: 1,
            abandoned: 0,
        }),
        ready: Condvar::new(),
        capacity,
    });
    (Queue(inner.clone()), Jobs(inner))
}

impl Inner {
    /// The state; a worker that panicked while holding the lock leaves it usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// Drops the jobs nobody waits for; returns how many.
    fn drop_abandoned(&mut self) -> usize {
        let before = self.jobs.len();
        self.jobs.retain(|j| !j.abandoned());
        let dropped = before - self.jobs.len();
        self.abandoned += dropped;
        dropped
    }
}

impl Queue {
    /// Queues a job without waiting.
    pub fn submit(&self, job: Job) -> Result<(), Refused> {
        let mut state = self.0.lock();
        if state.handles == 0 {
            return Err(Refused::Closed);
        }
        if state.jobs.len() >= self.0.capacity {
            state.drop_abandoned();
        }
        if state.jobs.len() >= self.0.capacity {
            return Err(Refused::Full);
        }
        state.jobs.push_back(job);
        drop(state);
        self.0.ready.notify_one();
        Ok(())
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.0.lock().jobs.len()
    }

    /// Jobs dropped unread so far because their clients had left.
    pub fn abandoned(&self) -> usize {
        self.0.lock().abandoned
    }

    /// Most jobs waiting.
    pub fn capacity(&self) -> usize {
        self.0.capacity
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.0.lock().handles -= 1;
        self.0.ready.notify_all();
    }
}

impl Jobs {
    /// Blocks for the first job, then takes the others already waiting, up to `max_batch`; jobs
    /// whose clients have left are dropped on the way. `None` once every [`Queue`] is gone and
    /// nothing is left.
    pub fn next_batch(&self, max_batch: usize) -> Option<Vec<Job>> {
        let mut state = self.0.lock();
        loop {
            state.drop_abandoned();
            if !state.jobs.is_empty() {
                let n = state.jobs.len().min(max_batch);
                return Some(state.jobs.drain(..n).collect());
            }
            if state.handles == 0 {
                return None;
            }
            // Woken by a new job or the last handle's drop; nothing else ends an idle worker.
            state = self.0.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Counts `n` jobs dropped unread by a worker.
    pub fn count_abandoned(&self, n: usize) {
        self.0.lock().abandoned += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(question: &str) -> (Job, oneshot::Receiver<Done>) {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            question: question.into(),
            options: AskOptions::new(),
            enqueued: Instant::now(),
            reply,
        };
        (job, answer)
    }

    #[test]
    fn a_full_queue_makes_room_by_dropping_the_abandoned_jobs() {
        let (queue, jobs) = bounded(2);
        let (a, gone) = job("a");
        let (b, _waits_b) = job("b");
        assert!(queue.submit(a).is_ok() && queue.submit(b).is_ok());
        let (c, _waits_c) = job("c");
        assert!(matches!(queue.submit(c), Err(Refused::Full)));
        drop(gone);
        let (c, _waits_c) = job("c");
        assert!(queue.submit(c).is_ok(), "a's client left: room for c");
        assert_eq!((queue.queued(), queue.abandoned()), (2, 1));
        let batch = jobs.next_batch(8).unwrap();
        let questions: Vec<&str> = batch.iter().map(|j| j.question.as_str()).collect();
        assert_eq!(questions, ["b", "c"]);
        drop(queue);
        assert!(
            jobs.next_batch(8).is_none(),
            "no handle and no job: the workers stop"
        );
    }
}
