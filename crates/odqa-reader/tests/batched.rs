//! [`Reader::logits`], the batched path of `odqa read` and the open-domain pipeline: windows of
//! many lengths come back in their own order whatever the batching, progress counts every window
//! once, and a hook that stops skips the batches not started yet.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use burn::backend::Flex;
use odqa_reader::features::{Feature, WindowSettings};
use odqa_reader::read::{BatchHook, Progress, Reader, WindowLogits};

/// The tiny BERT reader with 128-token windows, and the windows of the first 12 sample questions
/// (many lengths: short contexts, long ones cut into several windows).
fn reader_and_windows() -> (Reader<Flex>, Vec<Feature>) {
    let windows = WindowSettings {
        max_seq_len: 128,
        doc_stride: 32,
    };
    let reader = Reader::<Flex>::load(
        &common::fixture("tiny-bert-qa"),
        windows,
        &Default::default(),
    )
    .unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/korquad-sample.json");
    let examples = odqa_core::squad::read_examples(&data).unwrap();
    let mut features = Vec::new();
    for (i, e) in examples.iter().take(12).enumerate() {
        features.extend(
            reader
                .tokenizer()
                .features(i, &e.question, &e.context, None)
                .unwrap(),
        );
    }
    (reader, features)
}

fn logits(reader: &Reader<Flex>, windows: &[&Feature], batch: usize) -> Vec<WindowLogits> {
    let Ok(logits) = reader.logits(windows, batch, &Progress(&|_, _| {}));
    logits
}

#[test]
fn logits_come_back_in_the_windows_order_whatever_the_batching() {
    let (reader, features) = reader_and_windows();
    let windows: Vec<&Feature> = features.iter().collect();
    let lengths: Vec<usize> = windows
        .iter()
        .map(|f| odqa_reader::read::real_len(f))
        .collect();
    assert!(
        lengths.windows(2).any(|w| w[0] > w[1]),
        "not sorted already: {lengths:?}"
    );
    let alone: Vec<WindowLogits> = windows
        .iter()
        .map(|w| logits(&reader, &[*w], 1).remove(0))
        .collect();
    for (l, real) in alone.iter().zip(&lengths) {
        assert_eq!((l.0.len(), l.1.len()), (*real, *real));
    }
    for batch in [1, 4, 7, windows.len()] {
        assert!(logits(&reader, &windows, batch) == alone, "batch {batch}");
    }
    let reversed: Vec<&Feature> = windows.iter().rev().copied().collect();
    let mut got = logits(&reader, &reversed, 5);
    got.reverse();
    assert!(got == alone, "reversed windows");
    assert!(logits(&reader, &[], 4).is_empty());
}

#[test]
fn progress_counts_every_window_once() {
    let (reader, features) = reader_and_windows();
    let windows: Vec<&Feature> = features.iter().collect();
    let calls = Mutex::new(Vec::new());
    let record = |done: usize, total: usize| calls.lock().unwrap().push((done, total));
    let Ok(_) = reader.logits(&windows, 4, &Progress(&record));
    let mut calls = calls.into_inner().unwrap();
    calls.sort();
    let n = windows.len();
    assert_eq!(calls.len(), n.div_ceil(4), "one call per batch");
    assert_eq!(calls.last(), Some(&(n, n)));
    assert!(calls.iter().all(|&(done, total)| total == n && done > 0));
}

/// Stops once `after` batches were started; counts the batches computed.
struct StopAfter {
    after: usize,
    started: AtomicUsize,
    computed: AtomicUsize,
}

impl BatchHook for StopAfter {
    type Stop = &'static str;

    fn proceed(&self) -> Result<(), &'static str> {
        if self.started.fetch_add(1, Ordering::SeqCst) >= self.after {
            return Err("stopped");
        }
        Ok(())
    }

    fn progress(&self, _: usize, _: usize) {
        self.computed.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_hook_that_stops_skips_the_batches_not_started() {
    let (reader, features) = reader_and_windows();
    let windows: Vec<&Feature> = features.iter().collect();
    let batches = windows.len().div_ceil(2);
    for after in [0, 2] {
        let hook = StopAfter {
            after,
            started: AtomicUsize::new(0),
            computed: AtomicUsize::new(0),
        };
        assert_eq!(reader.logits(&windows, 2, &hook).err(), Some("stopped"));
        let computed = hook.computed.load(Ordering::SeqCst);
        assert!(
            computed <= after && computed < batches,
            "{computed} of {batches} batches"
        );
    }
}

/// `Reader::read` takes the shared `Observer`: a cancelled token stops it before any batch
/// (`ReaderError::Interrupted`), and an observer that never stops reads everything.
#[test]
fn read_stops_when_its_observer_says_so() {
    let (reader, _) = reader_and_windows();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/korquad-sample.json");
    let examples = odqa_core::squad::read_examples(&data).unwrap();
    let examples = &examples[..4];
    let decode = odqa_reader::decode::DecodeSettings::default();
    let cancelled = odqa_core::control::CancelToken::new();
    cancelled.cancel();
    match reader.read(examples, decode, 4, &cancelled) {
        Err(odqa_reader::ReaderError::Interrupted) => {}
        other => panic!("expected Interrupted, got {:?}", other.map(|p| p.len())),
    }
    let read = reader.read(examples, decode, 4, &odqa_core::control::Unobserved);
    assert_eq!(read.unwrap().len(), 4);
}
