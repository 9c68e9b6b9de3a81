//! Property tests of the training settings TOML (`odqa train --config`): any edit of a committed
//! recipe either reads or fails with an error naming the file; never a panic.
//!
//! `scripts/fuzz-long.sh` is the long run (100,000 cases per target, in release).

#![allow(clippy::unwrap_used)]

use odqa_train::TrainSettings;
use proptest::prelude::*;

const FULL: &[u8] = include_bytes!("../../../configs/train-e5-small-cnn-full.toml");
const FROZEN: &[u8] = include_bytes!("../../../configs/train-e5-small-cnn-full-frozen6.toml");

proptest! {
    #![proptest_config(odqa_testkit::config())]

    #[test]
    fn training_settings_read_or_fail_naming_the_file(bytes in odqa_testkit::mutated(&[FULL, FROZEN])) {
        let (_dir, path) = odqa_testkit::temp_file("train.toml", &bytes);
        match TrainSettings::from_toml_file(&path) {
            // What reads is then checked by `validate` (which must not panic either).
            Ok(settings) => {
                let _ = settings.validate();
            }
            Err(e) => odqa_testkit::names_file(&e.to_string(), &path)?,
        }
    }
}

#[test]
fn the_committed_recipes_read() {
    for bytes in [FULL, FROZEN] {
        let (_dir, path) = odqa_testkit::temp_file("t.toml", bytes);
        TrainSettings::from_toml_file(&path).unwrap();
    }
}
