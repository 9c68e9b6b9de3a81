//! Heavy calls with the GIL released, stoppable with Ctrl-C, with an optional progress callback.
//!
//! The work runs on a scoped thread while the calling thread, detached from the interpreter,
//! waits for it in steps of [`POLL`]: between steps (and once more when it is done) it briefly
//! attaches and runs the signal handlers (only the main thread can), so Ctrl-C cancels the work's
//! token and the call raises `KeyboardInterrupt` once the work has stopped at its next check.

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use odqa_pipeline::{CancelToken, Observer};
use pyo3::prelude::*;

/// How often a waiting call looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(10);

/// The progress callback `callback(done, total)` (if any) and the cancellation of one call.
pub struct Watch {
    callback: Option<Py<PyAny>>,
    cancel: CancelToken,
    /// The first exception the callback or a signal handler raised.
    error: Mutex<Option<PyErr>>,
}

impl Watch {
    /// A watch calling `callback` on progress.
    pub fn new(callback: Option<Py<PyAny>>) -> Watch {
        Watch {
            callback,
            cancel: CancelToken::new(),
            error: Mutex::new(None),
        }
    }

    /// Records `error` (the first one wins) and stops the work.
    fn fail(&self, error: PyErr) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(error);
        }
        self.cancel.cancel();
    }

    /// The token Ctrl-C cancels, for work that takes one rather than an observer.
    pub fn token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// The exception that stopped the work, if one did.
    pub fn take_error(&self) -> Option<PyErr> {
        self.error.lock().ok().and_then(|mut slot| slot.take())
    }
}

impl Observer for Watch {
    fn progress(&self, done: usize, total: usize) {
        if let Some(callback) = &self.callback {
            let result = Python::attach(|py| callback.call1(py, (done, total)).map(|_| ()));
            if let Err(error) = result {
                self.fail(error);
            }
        }
    }

    fn should_stop(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// Runs `work` with the GIL released, watching for Ctrl-C (see the module documentation). An
/// exception raised meanwhile (Ctrl-C's `KeyboardInterrupt`, or the progress callback's) is
/// returned in place of the work's own result.
pub fn detached<T: Send>(
    py: Python<'_>,
    watch: &Watch,
    work: impl FnOnce() -> T + Send,
) -> Result<T, PyErr> {
    let result = py.detach(|| {
        std::thread::scope(|scope| {
            let (done, finished) = mpsc::channel();
            let worker = scope.spawn(move || {
                let out = work();
                let _ = done.send(());
                out
            });
            while let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(POLL) {
                if let Err(error) = Python::attach(|py| py.check_signals()) {
                    watch.fail(error);
                }
            }
            worker.join()
        })
    });
    // A Ctrl-C that came in after the last look (or while the work was too short to be looked
    // at) still interrupts the call, as it would any Python code.
    py.check_signals()?;
    if let Some(error) = watch.take_error() {
        return Err(error);
    }
    result.map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("odqa panicked"))
}
