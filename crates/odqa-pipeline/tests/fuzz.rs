//! Property tests of the settings TOML (`--config`, as `odqa tune` writes it): any edit of a real
//! settings file either loads — then its values pass the range checks and `to_toml` reads back to
//! the same settings — or fails with an error naming the file. Never a panic.
//!
//! `scripts/fuzz-long.sh` is the long run (100,000 cases per target, in release).

#![allow(clippy::unwrap_used)]

use odqa_pipeline::PipelineSettings;
use proptest::prelude::*;

const TUNED: &[u8] =
    include_bytes!("../../../configs/pipeline-e5-small-cnn-full-stage2-kowiki.toml");
const DEFAULT: &[u8] = include_bytes!("../../../configs/pipeline-default.toml");

proptest! {
    #![proptest_config(odqa_testkit::config())]

    #[test]
    fn settings_files_load_valid_or_fail_naming_the_file(bytes in odqa_testkit::mutated(&[TUNED, DEFAULT])) {
        let (dir, path) = odqa_testkit::temp_file("settings.toml", &bytes);
        match PipelineSettings::load(&path) {
            Ok(settings) => {
                prop_assert!(settings.validate().is_ok());
                let again = dir.path().join("again.toml");
                std::fs::write(&again, settings.to_toml()).unwrap();
                prop_assert_eq!(PipelineSettings::load(&again).unwrap(), settings);
            }
            Err(e) => odqa_testkit::names_file(&e.to_string(), &path)?,
        }
    }
}

#[test]
fn the_committed_settings_files_load() {
    for bytes in [TUNED, DEFAULT] {
        let (_dir, path) = odqa_testkit::temp_file("s.toml", bytes);
        PipelineSettings::load(&path).unwrap();
    }
}
