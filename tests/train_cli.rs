//! `odqa train` through the real binary on the tiny fixtures: configs and flags, answers that do
//! not match their context, empty training sets, dev sets without answers, foreign resumes.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{eval_answers, odqa, path_str, read_json, read_short, repo, stderr, write};
use odqa_testkit::dir_names as names;

const TINY_QA: &str = "tests/fixtures/reader-parity/tiny-bert-qa";
const TINY_ROBERTA: &str = "tests/fixtures/reader-parity/tiny-roberta-qa";

/// A SQuAD file with one paragraph and `(id, answer text, answer_start)` questions.
fn squad(dir: &Path, name: &str, qas: &[(&str, &str, Option<usize>)]) -> PathBuf {
    let context = "서울은 대한민국의 수도이며 가장 큰 도시이다. 한강이 도시를 가로질러 흐른다.";
    let qas: Vec<serde_json::Value> = qas
        .iter()
        .map(|(id, text, start)| {
            let answers = match start {
                Some(s) => serde_json::json!([{"text": text, "answer_start": s}]),
                None => serde_json::json!([]),
            };
            serde_json::json!({"id": id, "question": "대한민국의 수도는 어디인가?", "answers": answers})
        })
        .collect();
    let doc = serde_json::json!({"version": "test", "data": [{"title": "서울", "paragraphs": [
        {"context": context, "qas": qas}
    ]}]});
    write(dir, name, serde_json::to_string(&doc).unwrap().as_bytes())
}

/// `odqa train --quiet` with short windows and 2 steps (unless `extra` sets --max-steps), plus
/// `extra`.
fn train(model: &str, data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    train_with_progress(model, data, out, &[extra, &["--quiet"]].concat())
}

/// As [`train`], without `--quiet`.
fn train_with_progress(
    model: &str,
    data: &Path,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let steps = if extra.contains(&"--max-steps") {
        None
    } else {
        Some("2")
    };
    let model = repo().join(model);
    let mut args = vec![
        "train",
        "--model",
        path_str(&model),
        "--train",
        path_str(data),
        "--out",
        path_str(out),
        "--max-seq-len",
        "64",
        "--doc-stride",
        "16",
        "--batch-size",
        "2",
        "--gradient-accumulation-steps",
        "1",
    ];
    if let Some(steps) = steps {
        args.extend(["--max-steps", steps]);
    }
    args.extend(extra);
    odqa(&args)
}

#[test]
fn mismatched_answers_are_reported_by_id_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let data = squad(
        dir.path(),
        "train.json",
        &[
            ("good-1", "서울", Some(0)),
            ("shifted-2", "서울", Some(3)),
            ("good-3", "한강", Some(26)),
        ],
    );
    let out = dir.path().join("model");
    let run = train(TINY_QA, &data, &out, &[]);
    let err = stderr(&run);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("skipped 1 training example"), "{err}");
    assert!(
        err.contains("shifted-2") && err.contains("character 3"),
        "{err}"
    );
    let summary = read_json(&out.join("training.json"));
    assert_eq!(summary["train_examples"], 2);
    assert_eq!(summary["skipped"][0]["id"], "shifted-2");
    assert_eq!(summary["step"], 2);
    // The output loads in `odqa read`.
    let preds = dir.path().join("predictions.json");
    let read = read_short(&out, &data, &preds, &[]);
    assert!(read.status.success(), "{}", stderr(&read));
    let answers = read_json(&preds);
    assert_eq!(answers.as_object().unwrap().len(), 3);
}

#[test]
fn training_sets_are_mixed_at_their_rates_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let four: Vec<(String, &str, Option<usize>)> =
        (0..4).map(|i| (format!("a{i}"), "서울", Some(0))).collect();
    let four: Vec<(&str, &str, Option<usize>)> =
        four.iter().map(|(i, t, s)| (i.as_str(), *t, *s)).collect();
    let a = squad(dir.path(), "a.json", &four);
    let b = squad(
        dir.path(),
        "b.json",
        &[("b0", "한강", Some(26)), ("b1", "서울", Some(0))],
    );
    let out = dir.path().join("model");
    let run = train(
        TINY_QA,
        &a,
        &out,
        &["--train", path_str(&b), "--train-rate", "0.5", "3"],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let summary = read_json(&out.join("training.json"));
    let sources = summary["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2, "{summary:#}");
    assert_eq!(
        (&sources[0]["examples"], &sources[0]["used"]),
        (&4.into(), &2.into())
    );
    assert_eq!(
        (&sources[1]["examples"], &sources[1]["used"]),
        (&2.into(), &6.into())
    );
    assert_eq!(summary["train_examples"], 8);
    // One rate for two sets is refused before any work.
    let bad = train(
        TINY_QA,
        &a,
        &dir.path().join("bad"),
        &["--train", path_str(&b), "--train-rate", "0.5"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("one --train-rate per --train"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn empty_training_set_and_answerless_dev_set_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = squad(
        dir.path(),
        "bad.json",
        &[("off-1", "서울", Some(5)), ("none-2", "", None)],
    );
    let run = train(TINY_QA, &bad, &dir.path().join("a"), &[]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("empty training set") && err.contains("off-1"),
        "{err}"
    );
    assert!(!dir.path().join("a").join("model.safetensors").exists());

    let good = squad(dir.path(), "good.json", &[("good-1", "서울", Some(0))]);
    let test_set = squad(dir.path(), "test.json", &[("q-1", "", None)]);
    let run = train(
        TINY_QA,
        &good,
        &dir.path().join("b"),
        &["--dev", path_str(&test_set)],
    );
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no answers") && err.contains("test.json"),
        "{err}"
    );
}

#[test]
fn resuming_with_another_model_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = squad(dir.path(), "train.json", &[("good-1", "서울", Some(0))]);
    let out = dir.path().join("run");
    let first = train(TINY_QA, &data, &out, &["--save-steps", "1"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(out
        .join("checkpoint-2")
        .join("trainer_state.json")
        .is_file());

    let foreign = train(
        TINY_ROBERTA,
        &data,
        &out,
        &[
            "--head",
            "linear",
            "--resume",
            path_str(&out),
            "--max-steps",
            "4",
        ],
    );
    let err = stderr(&foreign);
    assert_eq!(foreign.status.code(), Some(2), "{err}");
    assert!(
        err.contains("different model") && err.contains("checkpoint-2"),
        "{err}"
    );

    // The same model resumes and continues to step 4.
    let resumed = train(
        TINY_QA,
        &data,
        &out,
        &[
            "--resume",
            path_str(&out),
            "--max-steps",
            "4",
            "--save-steps",
            "1",
        ],
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(out.join("checkpoint-4").is_dir() && !out.join("checkpoint-2").exists());
}

#[test]
fn keep_checkpoints_keeps_the_newest_ones_and_refuses_zero() {
    let dir = tempfile::tempdir().unwrap();
    let data = squad(dir.path(), "train.json", &[("good-1", "서울", Some(0))]);
    let out = dir.path().join("run");
    let args = [
        "--max-steps",
        "4",
        "--save-steps",
        "1",
        "--keep-checkpoints",
    ];
    let run = train(TINY_QA, &data, &out, &[&args[..], &["3"]].concat());
    assert!(run.status.success(), "{}", stderr(&run));
    let checkpoints: Vec<String> = names(&out)
        .into_iter()
        .filter(|n| n.starts_with("checkpoint-"))
        .collect();
    assert_eq!(
        checkpoints,
        ["checkpoint-2", "checkpoint-3", "checkpoint-4"]
    );

    let zero = train(
        TINY_QA,
        &data,
        &dir.path().join("zero"),
        &[&args[..], &["0"]].concat(),
    );
    let err = stderr(&zero);
    assert_eq!(zero.status.code(), Some(2), "{err}");
    assert!(err.contains("keep_checkpoints"), "{err}");
}

#[test]
fn config_file_is_read_flags_override_it_and_unknown_keys_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = squad(dir.path(), "train.json", &[("good-1", "서울", Some(0))]);
    let config = write(
        dir.path(),
        "train.toml",
        format!(
            "model = {:?}\nhead = \"linear\"\nlearning_rate = 1e-3\nmax_steps = 5\nseed = 7\n",
            repo().join(TINY_QA).display()
        )
        .as_bytes(),
    );
    let out = dir.path().join("out");
    let run = odqa(&[
        "train",
        "--config",
        path_str(&config),
        "--train",
        path_str(&data),
        "--out",
        path_str(&out),
        "--max-seq-len",
        "64",
        "--doc-stride",
        "16",
        "--max-steps",
        "1",
        "--head-learning-rate",
        "3e-3",
        "--quiet",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let summary = read_json(&out.join("training.json"));
    assert_eq!(summary["settings"]["max_steps"], 1, "the flag wins");
    assert_eq!(summary["settings"]["learning_rate"], 1e-3, "from the file");
    assert_eq!(summary["settings"]["seed"], 7);
    assert_eq!(
        summary["settings"]["head_learning_rate"], 3e-3,
        "every flag is applied"
    );

    let typo = write(dir.path(), "typo.toml", b"learning_rat = 1e-3\n");
    let run = odqa(&["train", "--config", path_str(&typo)]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("learning_rat") && err.contains("typo.toml"),
        "{err}"
    );

    let run = odqa(&["train", "--train", path_str(&data)]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("--model"), "{}", stderr(&run));
}

/// Ctrl-C: the step in progress finishes, a checkpoint is saved, exit status 130 with the
/// `--resume` hint; resuming from it completes the run.
#[test]
fn ctrl_c_saves_a_checkpoint_that_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = squad(dir.path(), "train.json", &[("good-1", "서울", Some(0))]);
    let out = dir.path().join("run");
    let model = repo().join(TINY_QA);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_odqa"))
        .args([
            "train",
            "--model",
            path_str(&model),
            "--train",
            path_str(&data),
        ])
        .args([
            "--out",
            path_str(&out),
            "--max-seq-len",
            "64",
            "--doc-stride",
            "16",
        ])
        .args(["--batch-size", "2", "--gradient-accumulation-steps", "1"])
        .args([
            "--max-steps",
            "1000000",
            "--save-steps",
            "1000000",
            "--quiet",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The output directory appears once the model is loaded (the handler is installed before).
    let started = std::time::Instant::now();
    while !out.is_dir() {
        assert!(started.elapsed().as_secs() < 60, "training did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    common::send_signal(&child, "INT");
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert!(
        err.contains("--resume") && err.contains("checkpoint-"),
        "{err}"
    );
    let checkpoint = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("checkpoint-")
        })
        .expect("a checkpoint");
    let step: usize = checkpoint.file_name().unwrap().to_string_lossy()["checkpoint-".len()..]
        .parse()
        .unwrap();
    assert!(checkpoint.join("optimizer.safetensors").is_file());
    let steps = (step + 2).to_string();
    let resumed = train(
        TINY_QA,
        &data,
        &out,
        &["--resume", path_str(&out), "--max-steps", &steps],
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let summary = read_json(&out.join("training.json"));
    assert_eq!(summary["step"], step + 2);
}

/// Without a terminal the progress comes as lines (the plan, a step line every 5 %, every
/// evaluation); an evaluation that does not beat the best stops the run with
/// --early-stopping-patience 1, keeping the best model.
#[test]
fn progress_lines_without_a_terminal_and_early_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let data = squad(
        dir.path(),
        "train.json",
        &[("a", "서울", Some(0)), ("b", "한강", Some(26))],
    );
    let out = dir.path().join("model");
    // A learning rate too small to change any answer: the second evaluation ties the first.
    let run = train_with_progress(
        TINY_QA,
        &data,
        &out,
        &[
            "--dev",
            path_str(&data),
            "--max-steps",
            "20",
            "--eval-steps",
            "1",
            "--early-stopping-patience",
            "1",
            "--learning-rate",
            "1e-12",
        ],
    );
    let err = stderr(&run);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("training a linear head on"), "{err}");
    assert!(err.contains("step 1/20: epoch 1 loss"), "{err}");
    assert_eq!(err.matches("dev EM").count(), 2, "{err}");
    assert!(err.contains("best so far, saved"), "{err}");
    assert!(
        err.contains("stopping early: 1 evaluation(s) in a row without a better dev F1"),
        "{err}"
    );
    let summary = read_json(&out.join("training.json"));
    assert_eq!(summary["step"], 2, "{summary:#}");
    assert_eq!(summary["best"]["step"], 1);
    // --quiet prints none of it.
    let quiet = train(TINY_QA, &data, &dir.path().join("quiet"), &[]);
    assert!(quiet.status.success());
    assert!(!stderr(&quiet).contains("step 1/"), "{}", stderr(&quiet));
}

/// Every file under `dir` (relative path → bytes), to tell whether a directory was touched.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

/// A second `train --out` onto a finished run (no --resume) is refused with exit 2 naming
/// --resume and --overwrite, and leaves the run as it was; with --overwrite the new run replaces
/// it and nothing is left beside it.
#[test]
fn train_onto_a_finished_run_is_refused_unless_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let data = squad(dir.path(), "train.json", &[("good-1", "서울", Some(0))]);
    let out = dir.path().join("run");
    let first = train(
        TINY_QA,
        &data,
        &out,
        &["--max-steps", "50", "--save-steps", "10"],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(out
        .join("checkpoint-50")
        .join("trainer_state.json")
        .is_file());
    let before = snapshot(&out);

    let again = train(TINY_QA, &data, &out, &["--max-steps", "1"]);
    let err = stderr(&again);
    assert_eq!(again.status.code(), Some(2), "{err}");
    assert!(
        err.contains(path_str(&out)) && err.contains("--resume") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(snapshot(&out), before, "the finished run was changed");

    let replaced = train(TINY_QA, &data, &out, &["--max-steps", "1", "--overwrite"]);
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    assert_eq!(read_json(&out.join("training.json"))["step"], 1);
    assert!(out.join("checkpoint-1").is_dir() && !out.join("checkpoint-50").exists());
    assert_eq!(
        names(dir.path()),
        ["run", "train.json"],
        "a staging or old copy was left"
    );
}

/// `--out` that is the `--model` directory (under any spelling), or that holds it, is refused with
/// exit 2 even with --overwrite, and the model is untouched.
#[test]
fn train_out_onto_its_own_model_is_refused_even_with_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let data = squad(dir.path(), "train.json", &[("good-1", "서울", Some(0))]);
    let base = dir.path().join("base");
    std::fs::create_dir(&base).unwrap();
    for name in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(repo().join(TINY_QA).join(name), base.join(name)).unwrap();
    }
    let before = snapshot(&base);
    let base_str = path_str(&base).to_string();
    let same = dir.path().join("base/../base");
    for extra in [&[][..], &["--overwrite"][..]] {
        let run = train(&base_str, &data, &same, extra);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.contains("--model") && err.contains("another --out"),
            "{extra:?}: {err}"
        );
        assert_eq!(snapshot(&base), before, "{extra:?}: the model was changed");
    }
    // A new run started from a checkpoint of an old one, into that old run's directory: the
    // checkpoint would be deleted when the first new one is saved.
    let out = dir.path().join("run");
    let first = train(&base_str, &data, &out, &["--save-steps", "1"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let checkpoint = out.join("checkpoint-2");
    let before = snapshot(&out);
    let run = train(
        path_str(&checkpoint),
        &data,
        &out,
        &["--overwrite", "--max-steps", "1"],
    );
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("checkpoint-2"), "{err}");
    assert_eq!(snapshot(&out), before);
}

/// `odqa train --lora-rank` writes a PEFT adapter; `odqa read --model ADAPTER` answers with it;
/// `odqa model merge` writes a full model that answers byte for byte the same; LoRA flags without
/// a rank, and a merge onto an existing directory, exit 2.
#[test]
fn a_lora_adapter_trains_reads_and_merges_to_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("corpus/korquad-sample.json");
    let adapter = dir.path().join("adapter");
    let out = train(
        TINY_QA,
        &data,
        &adapter,
        &[
            "--lora-rank",
            "2",
            "--lora-targets",
            "query,value",
            "--learning-rate",
            "1e-3",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let config = read_json(&adapter.join("adapter_config.json"));
    assert_eq!(config["r"], 2);
    assert_eq!(
        config["target_modules"],
        serde_json::json!(["query", "value"])
    );
    assert!(!adapter.join("model.safetensors").exists());

    let merged = dir.path().join("merged");
    let out = odqa(&[
        "model",
        "merge",
        path_str(&adapter),
        "--out",
        path_str(&merged),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = odqa(&[
        "model",
        "merge",
        path_str(&adapter),
        "--out",
        path_str(&merged),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let read_both = |model: &Path, name: &str| {
        let predictions = dir.path().join(format!("{name}.json"));
        let nbest = dir.path().join(format!("{name}-nbest.json"));
        let out = read_short(
            model,
            &data,
            &predictions,
            &["--nbest-out", path_str(&nbest)],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        (
            std::fs::read(predictions).unwrap(),
            std::fs::read(nbest).unwrap(),
        )
    };
    assert_eq!(read_both(&adapter, "adapter"), read_both(&merged, "merged"));

    // Continuing the adapter on another base (its merged model: another sha256): refused, then
    // accepted with a warning.
    let other = dir.path().join("other-base");
    let out = odqa(&[
        "model",
        "merge",
        path_str(&adapter),
        "--out",
        path_str(&other),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let more = dir.path().join("more");
    let continued = |extra: &[&str]| {
        let args = [&["--base", path_str(&other), "--lora-rank", "2"][..], extra].concat();
        train(path_str(&adapter), &data, &more, &args)
    };
    let out = continued(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not the one the adapter was trained on"),
        "{}",
        stderr(&out)
    );
    let out = continued(&["--base-mismatch-ok"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning:"), "{}", stderr(&out));

    let out = train(
        TINY_QA,
        &data,
        &dir.path().join("x"),
        &["--lora-alpha", "4"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("lora_rank"), "{}", stderr(&out));
}

/// The evaluation `odqa train` runs on `--dev` is `odqa read` on that set scored by
/// `odqa eval answers` (and by the official KorQuAD script when `../shared` holds it): the
/// same answers, the same EM and F1.
#[test]
fn training_evaluation_equals_odqa_read_and_the_official_script() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("corpus/korquad-sample.json");
    let out_dir = dir.path().join("run");
    let out = train(
        TINY_QA,
        &data,
        &out_dir,
        &["--dev", path_str(&data), "--learning-rate", "1e-3"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let best = &read_json(&out_dir.join("training.json"))["best"]["scores"];
    let predictions = dir.path().join("predictions.json");
    let out = read_short(&out_dir, &data, &predictions, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = eval_answers(&data, &predictions, &["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let scored: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let close = |a: &serde_json::Value, b: &serde_json::Value| {
        (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9
    };
    assert!(
        close(&best["korquad_em"], &scored["exact_match"]),
        "{best} vs {scored}"
    );
    assert!(
        close(&best["korquad_f1"], &scored["f1"]),
        "{best} vs {scored}"
    );

    let official = repo().join("../shared/data/korquad/evaluate-v1.0.py");
    if !official.exists() {
        eprintln!(
            "skipped the official script: {} not found",
            official.display()
        );
        return;
    }
    let run = std::process::Command::new("python3")
        .arg(&official)
        .arg(&data)
        .arg(&predictions)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let official: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(
        close(&best["korquad_em"], &official["exact_match"]),
        "{best} vs {official}"
    );
    assert!(
        close(&best["korquad_f1"], &official["f1"]),
        "{best} vs {official}"
    );
}
