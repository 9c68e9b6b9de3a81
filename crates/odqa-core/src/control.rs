//! Progress and cancellation of long calls, as the caller wants them shown: the libraries draw
//! nothing and install no signal handler. One style for every crate: work that can be stopped
//! takes an [`Observer`] (a batch of questions, a retrieval evaluation) or a [`CancelToken`] (an
//! index build, a training run, which report richer progress of their own).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Watches long work (a batch of questions, an evaluation): told how far it got, asked whether to
/// stop. Both methods may be called from worker threads, between units of work; the defaults do
/// nothing and never stop.
pub trait Observer: Sync {
    /// `done` of `total` units (questions) are finished.
    fn progress(&self, done: usize, total: usize) {
        let _ = (done, total);
    }

    /// `done` of `total` units were finished by an earlier, interrupted run that this one resumes:
    /// they count as done but not as work of this run (rates and time-left estimates leave them
    /// out). Called once, before the first [`Observer::progress`] of the run.
    fn resumed(&self, done: usize, total: usize) {
        let _ = (done, total);
    }

    /// True to stop the work early: the call then returns its crate's `Interrupted` error (e.g.
    /// `odqa_pipeline::PipelineError::Interrupted`).
    fn should_stop(&self) -> bool {
        false
    }
}

/// Watches nothing and never stops.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {}

/// A cancellation flag shared between the code that runs long work and the code that stops it (a
/// Ctrl-C handler, a closed connection). Clones share the flag; as an [`Observer`] it reports
/// nothing and stops once cancelled.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Asks every holder to stop; returns true when it had already been asked.
    pub fn cancel(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    /// True once [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Observer for CancelToken {
    fn should_stop(&self) -> bool {
        self.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let token = CancelToken::new();
        let other = token.clone();
        assert!(!other.should_stop());
        assert!(!token.cancel());
        assert!(other.should_stop());
        assert!(other.cancel());
    }
}
