//! How long commands show their progress on stderr: a bar on a terminal; otherwise (a log file, a
//! pipe) one line every 5 % of the work, so that a run in the background can be followed.
//! [`TrainProgress`] renders `odqa train`'s events, [`CountProgress`] the questions of `predict`
//! and `tune` and the windows of `read`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use odqa_pipeline::{CancelToken, Observer};
use odqa_train::{EventSink, RunPlan, StepReport, TrainEvent};

/// The renderer of one training run's events.
pub struct TrainProgress {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` when stderr is not a terminal (line mode).
    bar: Option<ProgressBar>,
    /// Line mode: a line every this many steps.
    every: AtomicUsize,
    /// Windows per optimizer step (for the line mode's estimate of the time left).
    windows_per_step: AtomicUsize,
}

impl TrainProgress {
    /// A bar when stderr is a terminal, lines otherwise.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} {wide_bar} {pos}/{len} steps ({elapsed}, eta {eta})",
            ) {
                bar.set_style(style);
            }
            bar
        });
        TrainProgress {
            inner: Arc::new(Inner {
                bar,
                every: AtomicUsize::new(1),
                windows_per_step: AtomicUsize::new(1),
            }),
        }
    }

    /// The callback to hand to the trainer.
    pub fn sink(&self) -> EventSink {
        let inner = self.inner.clone();
        Arc::new(move |event| inner.show(event))
    }

    /// Clears the bar (the summary lines come after it).
    pub fn finish(&self) {
        if let Some(bar) = &self.inner.bar {
            bar.finish_and_clear();
        }
    }
}

impl Inner {
    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn show(&self, event: &TrainEvent<'_>) {
        match event {
            TrainEvent::Started(plan) => self.started(plan),
            TrainEvent::Step(report) => self.step(report),
            TrainEvent::Evaluating { questions } => {
                let text = format!("evaluating on {questions} dev questions");
                match &self.bar {
                    Some(bar) => bar.set_message(text),
                    None => eprintln!("{text}"),
                }
            }
            TrainEvent::Evaluated { evaluation, best } => {
                let s = &evaluation.scores;
                self.line(format!(
                    "step {} (epoch {:.2}): dev EM {:.2} F1 {:.2} (KorQuAD v1.0), EM {:.2} F1 {:.2} \
                     (SQuAD v1.1) on {} questions in {:.0} s{}",
                    evaluation.step,
                    evaluation.epoch,
                    s.korquad_em,
                    s.korquad_f1,
                    s.squad_em,
                    s.squad_f1,
                    s.questions,
                    evaluation.seconds,
                    if *best { " — best so far, saved" } else { "" }
                ));
            }
            TrainEvent::Warning(warning) => self.line(format!("warning: {warning}")),
            TrainEvent::EarlyStop { evaluations } => self.line(format!(
                "stopping early: {evaluations} evaluation(s) in a row without a better dev F1"
            )),
        }
    }

    fn started(&self, plan: &RunPlan) {
        let resumed = plan
            .resumed_from
            .as_ref()
            .map(|(path, step)| format!(", resumed from {} at step {step}", path.display()));
        self.line(format!(
            "training a {} head on {} windows of {} examples ({} skipped), {} steps of {} windows \
             ({} per epoch), warm-up {}{}",
            plan.head,
            plan.windows,
            plan.examples,
            plan.skipped,
            plan.total_steps,
            plan.windows_per_step,
            plan.steps_per_epoch,
            plan.warmup_steps,
            resumed.unwrap_or_default()
        ));
        if plan.inside_token_ends > 0 {
            self.line(format!(
                "{} of {} training answers end inside a token (e.g. 비블로스 in ▁비블로스는): their \
                 end label is that whole token, and decoding cuts the particle there",
                plan.inside_token_ends, plan.examples
            ));
        }
        self.every
            .store((plan.total_steps / 20).max(1), Ordering::Relaxed);
        self.windows_per_step
            .store(plan.windows_per_step.max(1), Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(plan.total_steps as u64);
            bar.set_position(plan.resumed_from.as_ref().map_or(0, |(_, s)| *s) as u64);
            bar.reset_eta();
        }
    }

    fn step(&self, r: &StepReport) {
        let message = format!(
            "epoch {} loss {:.4} lr {:.2e} {:.2} windows/s",
            r.epoch, r.smoothed_loss, r.learning_rate, r.windows_per_second
        );
        if let Some(bar) = &self.bar {
            bar.set_position(r.step as u64);
            bar.set_message(message);
            return;
        }
        let every = self.every.load(Ordering::Relaxed);
        if r.step == 1 || r.step.is_multiple_of(every) || r.step == r.total_steps {
            let windows_left =
                (r.total_steps - r.step) * self.windows_per_step.load(Ordering::Relaxed);
            let minutes_left = windows_left as f64 / r.windows_per_second.max(1e-9) / 60.0;
            eprintln!(
                "step {}/{}: {message}, ≈{minutes_left:.0} min of steps left",
                r.step, r.total_steps
            );
        }
    }
}

/// How `predict`, `tune`, `read`, `index` and `eval retrieval` show the work done: a bar on a
/// terminal, otherwise a line every 5 % of it; the total comes with every report. With
/// [`CountProgress::stopping_on`], it stops the work once the token is cancelled (Ctrl-C).
pub struct CountProgress {
    verb: &'static str,
    unit: &'static str,
    bar: Option<ProgressBar>,
    started: std::time::Instant,
    /// Line mode: the count done at the last line.
    shown: AtomicUsize,
    /// The count an earlier run had done (a resumed build), left out of the rate.
    resumed: AtomicUsize,
    /// Cancelled to stop the work (never, unless [`CountProgress::stopping_on`]).
    stop: CancelToken,
}

impl CountProgress {
    /// Progress over questions, labelled `verb` ("answering").
    pub fn questions(verb: &'static str) -> Self {
        CountProgress::new(verb, "questions")
    }

    /// Progress over `unit`s ("windows"), labelled `verb` ("reading").
    pub fn new(verb: &'static str, unit: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let template =
                format!("{verb} {{wide_bar}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            bar
        });
        CountProgress {
            verb,
            unit,
            bar,
            started: std::time::Instant::now(),
            shown: AtomicUsize::new(0),
            resumed: AtomicUsize::new(0),
            stop: CancelToken::new(),
        }
    }

    /// Asks the work to stop once `stop` is cancelled.
    pub fn stopping_on(mut self, stop: CancelToken) -> Self {
        self.stop = stop;
        self
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for CountProgress {
    fn progress(&self, done: usize, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            return;
        }
        let every = (total / 20).max(1);
        let shown = self.shown.load(Ordering::Relaxed);
        // Worker threads report concurrently: one of them wins each line.
        // Work shorter than a second gets only the final line.
        let early = self.started.elapsed() < std::time::Duration::from_secs(1);
        // A count is shown once, however often it is reported.
        let due = done > shown && (done == total || (done >= shown + every && !early));
        if due
            && self
                .shown
                .compare_exchange(shown, done, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let count = Count {
                done,
                total,
                resumed: self.resumed.load(Ordering::Relaxed),
            };
            let seconds = self.started.elapsed().as_secs_f64();
            eprintln!("{}", count.line(self.verb, self.unit, seconds));
        }
    }

    fn resumed(&self, done: usize, total: usize) {
        self.resumed.store(done, Ordering::Relaxed);
        self.shown.store(done, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.reset_eta();
        }
    }

    fn should_stop(&self) -> bool {
        self.stop.is_cancelled()
    }
}

/// A count reported to [`CountProgress`], as its line mode shows it.
struct Count {
    done: usize,
    total: usize,
    /// Done by an earlier run: not work of the `seconds` the line's rate divides by.
    resumed: usize,
}

impl Count {
    /// "embedding: 60000/200832 passages (28.00 passages/s), ≈84 min left".
    fn line(&self, verb: &str, unit: &str, seconds: f64) -> String {
        let rate = self.done.saturating_sub(self.resumed) as f64 / seconds.max(1e-9);
        let left = self.total.saturating_sub(self.done) as f64 / rate.max(1e-9) / 60.0;
        let (done, total) = (self.done, self.total);
        format!("{verb}: {done}/{total} {unit} ({rate:.2} {unit}/s), ≈{left:.0} min left")
    }
}

#[cfg(test)]
mod tests {
    use super::Count;

    #[test]
    fn a_resumed_count_is_left_out_of_the_rate() {
        let count = Count {
            done: 57_376 + 2_800,
            total: 200_832,
            resumed: 57_376,
        };
        assert_eq!(
            count.line("embedding", "passages", 100.0),
            "embedding: 60176/200832 passages (28.00 passages/s), ≈84 min left"
        );
        let fresh = Count {
            resumed: 0,
            ..count
        };
        assert!(fresh
            .line("embedding", "passages", 100.0)
            .contains("(601.76 passages/s), ≈4 min left"));
    }
}
