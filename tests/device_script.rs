//! The GPU device scripts run end to end on this machine with the CPU binary (their `--cpu` dry
//! run), on the committed tiny model, so that a device session does not discover a typo:
//! scripts/device/pack.sh builds and checks the package, run.sh verifies it, compares the read
//! with the shipped CPU reference, measures, trains and returns the model in hashed parts, and
//! score.sh restores that model bit for bit and scores it. Needs bash, python3, xz, strip, tar.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{path_str, read_json, repo};

/// Runs a script of the repository with `envs`; panics with its output when it fails.
fn script(name: &str, args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = Command::new("bash")
        .arg(repo().join(name))
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run bash");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name} failed:\n{text}");
    text
}

#[test]
fn the_device_scripts_run_end_to_end_in_cpu_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let odqa = env!("CARGO_BIN_EXE_odqa");
    let model = repo().join("tests/fixtures/reader-parity/tiny-bert-cnn");
    let data = repo().join("tests/fixtures/read-cases.json");
    let package = dir.join("package");
    let common_env = [
        ("ODQA_BIN", odqa),
        ("ODQA_CPU", odqa),
        ("ODQA", odqa),
        ("MODEL", path_str(&model)),
        ("BASE", path_str(&model)),
        ("TRAIN", path_str(&data)),
        ("DEV", path_str(&data)),
        ("EVALUATE", "/nonexistent"),
        ("PARITY_QUESTIONS", "3"),
        ("SPEED_QUESTIONS", "4"),
        ("MAX_SEQ_LEN", "96"),
        ("DOC_STRIDE", "32"),
        ("WINDOWS_PYTHON", "/nonexistent"),
    ];

    let packed = script(
        "scripts/device/pack.sh",
        &["--cpu", path_str(&package)],
        &common_env,
    );
    assert!(packed.contains("\"ok\": true"), "{packed}");
    assert!(packed.contains("of 67108864 allowed"), "{packed}");
    let manifest = read_json(&package.join("MANIFEST.json"));
    assert_eq!(manifest["windows"]["max_seq_len"], 96);

    let out = dir.join("out");
    let envs: Vec<(&str, &str)> = common_env
        .iter()
        .copied()
        .chain([("OUT", path_str(&out))])
        .collect();
    script(
        "scripts/device/run.sh",
        &["--cpu", "--package", path_str(&package)],
        &envs,
    );
    let report = read_json(&out.join("report.json"));
    assert_eq!(report["mode"], "cpu");
    assert_eq!(report["verify"]["ok"], true, "{report:#}");
    assert_eq!(report["verify"]["model_sha256"], true);
    // The same binary on the same CPU: the very same logits and answers as the shipped reference.
    let parity = &report["parity"];
    assert_eq!(parity["questions"], 3, "{parity:#}");
    assert_eq!(parity["identical_top_answers"], 3, "{parity:#}");
    assert_eq!(parity["max_abs_logit_diff"], 0.0, "{parity:#}");
    assert!(parity["candidates_matched"].as_u64().unwrap() > 0);
    let speed = report["speed"].as_array().unwrap();
    assert_eq!(speed.len(), 2, "{speed:?}");
    for row in speed {
        assert!(row["odqa_fp32_single_run"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["torch_fp32"]["skipped"].is_string(), "{row}");
    }
    let train = &report["train"];
    assert_eq!(train["steps"], 2, "{train:#}");
    assert!(train["loss_last"].as_f64().unwrap().is_finite());
    let parts = train["bundle"]["parts"].as_array().unwrap();
    assert!(!parts.is_empty());
    for part in parts {
        assert!(out.join(part["file"].as_str().unwrap()).is_file());
    }

    let scored = script(
        "scripts/device/score.sh",
        &[path_str(&out), path_str(&dir.join("scored"))],
        &common_env,
    );
    assert!(scored.contains("sha256 as reported"), "{scored}");
    let restored = dir.join("scored/model.safetensors");
    assert!(Path::new(&restored).is_file());
    // The returned model read here gives what the "device" read: zero difference on the CPU.
    let parity = read_json(&dir.join("scored/parity.json"));
    assert_eq!(parity["max_abs_logit_diff"], 0.0, "{parity:#}");
    assert_eq!(parity["identical_top_answers"], 3, "{parity:#}");
    let eval = read_json(&dir.join("scored/eval.json"));
    assert!(eval["exact_match"].is_number(), "{eval:#}");

    // The comparison sees a difference: one logit moved by 0.5, one top answer changed.
    let mut nbest = read_json(&dir.join("scored/parity-nbest.json"));
    let first = nbest.as_object_mut().unwrap().values_mut().next().unwrap();
    let top = &mut first.as_array_mut().unwrap()[0];
    top["start_logit"] = (top["start_logit"].as_f64().unwrap() + 0.5).into();
    top["text"] = "something else".into();
    let changed = dir.join("changed-nbest.json");
    std::fs::write(&changed, nbest.to_string()).unwrap();
    let compared = Command::new("python3")
        .arg(repo().join("scripts/device/score_parts.py"))
        .args([
            "parity",
            path_str(&out.join("report.json")),
            path_str(&changed),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&compared.stderr);
    assert!(compared.status.success(), "{stderr}");
    let parity: serde_json::Value = serde_json::from_slice(&compared.stdout).unwrap();
    let delta = parity["max_abs_logit_diff"].as_f64().unwrap();
    assert!((delta - 0.5).abs() < 1e-9, "{parity:#}");
    assert_eq!(parity["identical_top_answers"], 2, "{parity:#}");
}
