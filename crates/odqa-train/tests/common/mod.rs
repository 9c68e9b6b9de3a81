//! Helpers of the training tests: the repository's fixtures, one run at a time, the sample's
//! labelled windows.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use odqa_reader::features::{Feature, FeatureTokenizer, WindowSettings};
use odqa_reader::ReaderConfig;
use odqa_train::data::{read_mixture, training_set};
use odqa_train::{CancelToken, TrainOptions};

/// The CPU backend's random generator (dropout) is global to the process: runs in parallel
/// threads would draw from it in turn, so the tests of a file train one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the one-run-at-a-time lock.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A path of the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// Labelled training windows (128 tokens, stride 48) of the sample, as the trainer builds them.
pub fn windows(model_dir: &Path) -> (Vec<Feature>, ReaderConfig) {
    let config = ReaderConfig::read(&model_dir.join("config.json")).unwrap();
    let tokenizer = FeatureTokenizer::open(
        &odqa_reader::TokenizerFiles::in_dir(model_dir),
        &config,
        WindowSettings {
            max_seq_len: 128,
            doc_stride: 48,
        },
    )
    .unwrap();
    let (examples, _) = read_mixture(&[repo("corpus/korquad-sample.json")], &[], 0).unwrap();
    (training_set(&tokenizer, &examples).features, config)
}

/// Options that stop a run after its first step (a checkpoint is saved).
pub fn stopped_at_once() -> TrainOptions {
    let cancelled = CancelToken::new();
    cancelled.cancel();
    TrainOptions {
        stop: cancelled,
        ..TrainOptions::default()
    }
}

/// Options that resume the run of `dir`.
pub fn resuming(dir: &Path) -> TrainOptions {
    TrainOptions {
        resume: Some(dir.to_path_buf()),
        ..TrainOptions::default()
    }
}
