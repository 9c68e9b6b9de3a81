//! `odqa predict --shard auto` through the real binary, under each scheduler's variables: every
//! task of a Slurm array or a Kubernetes Indexed Job writes its own `{shard}` files, and the merged
//! files are the unsharded ones byte for byte; missing and inconsistent variables are refused.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::sample::{index, index_into, model, questions, WINDOW};
use common::{assert_exit_2, odqa, path_str, stderr, stdout};

/// Every scheduler variable `--shard auto` reads, removed from each run unless set by the test.
const VARS: [&str; 7] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "JOB_COMPLETION_INDEX",
    "ODQA_SHARDS",
];

/// `odqa predict` on the sample questions into `out` (and `out`'s n-best twin), with `vars` as
/// its only scheduler variables.
fn predict(out: &str, vars: &[(&str, String)], extra: &[&str]) -> Output {
    let model = model();
    let q = questions();
    let nbest = out.replace(".json", ".nbest.json");
    let mut args = vec!["predict", "--index", path_str(index()), "--model", &model];
    args.extend(WINDOW);
    args.extend(["--questions", path_str(&q), "--top-k", "3"]);
    args.extend(["--out", out, "--nbest-out", &nbest]);
    args.extend(extra);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_odqa"));
    for var in VARS {
        command.env_remove(var);
    }
    command.envs(vars.iter().map(|(k, v)| (k, v)));
    command.args(&args).output().unwrap()
}

/// Merges `parts` into `out`.
fn merge(out: &Path, parts: &[PathBuf]) {
    let q = questions();
    let mut args = vec!["merge-predictions", "--questions", path_str(&q)];
    args.extend(["--out", path_str(out)]);
    args.extend(parts.iter().map(|p| path_str(p)));
    let o = odqa(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The files of `dir` whose names end with `suffix`, sorted.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

/// Runs every task of a sharded run (`task(i)` gives task i's variables and extra arguments),
/// merges their files and checks them against the unsharded ones.
fn check_sharded(
    tasks: usize,
    task: &dyn Fn(usize) -> (Vec<(&'static str, String)>, Vec<&'static str>),
) {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.json");
    let o = predict(path_str(&whole), &[], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    let pattern = parts.join("predictions.{shard}.json");
    for i in 0..tasks {
        let (vars, extra) = task(i);
        let mut args = vec!["--shard", "auto"];
        args.extend(extra);
        let o = predict(path_str(&pattern), &vars, &args);
        assert!(o.status.success(), "task {i}: {}", stderr(&o));
    }
    let names: Vec<String> = files_ending(&parts, "")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut expected: Vec<String> = (0..tasks)
        .flat_map(|i| {
            [
                format!("predictions.{i}-of-{tasks}.json"),
                format!("predictions.{i}-of-{tasks}.nbest.json"),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    let merged = dir.path().join("merged.json");
    let predictions: Vec<PathBuf> = (0..tasks)
        .map(|i| parts.join(format!("predictions.{i}-of-{tasks}.json")))
        .collect();
    merge(&merged, &predictions);
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&whole).unwrap()
    );
    let merged_nbest = dir.path().join("merged.nbest.json");
    merge(&merged_nbest, &files_ending(&parts, ".nbest.json"));
    assert_eq!(
        std::fs::read(&merged_nbest).unwrap(),
        std::fs::read(dir.path().join("whole.nbest.json")).unwrap()
    );
}

#[test]
fn slurm_array_tasks_write_their_shards_and_merge_into_the_unsharded_files() {
    // --array=1-3: ids from 1, as Slurm sets them
    check_sharded(3, &|i| {
        let vars = vec![
            ("SLURM_ARRAY_TASK_ID", (i + 1).to_string()),
            ("SLURM_ARRAY_TASK_MIN", "1".to_string()),
            ("SLURM_ARRAY_TASK_MAX", "3".to_string()),
            ("SLURM_ARRAY_TASK_COUNT", "3".to_string()),
        ];
        (vars, vec![])
    });
}

#[test]
fn kubernetes_indexed_pods_write_their_shards_with_the_count_given() {
    // Half the pods have the count as a flag, half as ODQA_SHARDS.
    check_sharded(4, &|i| {
        let mut vars = vec![("JOB_COMPLETION_INDEX", i.to_string())];
        if i % 2 == 0 {
            (vars, vec!["--shards", "4"])
        } else {
            vars.push(("ODQA_SHARDS", "4".to_string()));
            (vars, vec![])
        }
    });
}

#[test]
fn shard_auto_refuses_missing_and_inconsistent_variables() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("p.{shard}.json");
    let out = path_str(&pattern);
    let auto = ["--shard", "auto"];
    let slurm = |id: &str, count: &str| {
        vec![
            ("SLURM_ARRAY_TASK_ID", id.to_string()),
            ("SLURM_ARRAY_TASK_COUNT", count.to_string()),
        ]
    };
    // None set
    let o = predict(out, &[], &auto);
    assert_exit_2(&o, &["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "I/N"]);
    // Kubernetes without a count
    let o = predict(out, &[("JOB_COMPLETION_INDEX", "1".into())], &auto);
    assert_exit_2(&o, &["JOB_COMPLETION_INDEX=1", "ODQA_SHARDS"]);
    // Slurm's count against --shards; Slurm against Kubernetes; an id beyond the array
    let o = predict(out, &slurm("1", "3"), &["--shard", "auto", "--shards", "2"]);
    assert_exit_2(&o, &["3 tasks but 2 shards"]);
    let mut both = slurm("1", "3");
    both.push(("JOB_COMPLETION_INDEX", "0".into()));
    assert_exit_2(
        &predict(out, &both, &auto),
        &["Slurm gives shard 1/3", "0/3"],
    );
    assert_exit_2(
        &predict(out, &slurm("3", "3"), &auto),
        &["not one of the array's 3"],
    );
    // auto where every task would write the same file; {shard} without a shard; I/N against --shards
    let plain = dir.path().join("p.json");
    let o = predict(path_str(&plain), &slurm("0", "3"), &auto);
    assert_exit_2(&o, &["every task would write", "{shard}"]);
    assert_exit_2(&predict(out, &[], &[]), &["{shard}", "no --shard"]);
    let o = predict(out, &[], &["--shard", "1/3", "--shards", "4"]);
    assert_exit_2(&o, &["shard 1/3 is not one of 4 shards"]);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
    // A given shard names its files too.
    let o = predict(out, &[], &["--shard", "1/3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.path().join("p.1-of-3.json").exists());
    assert!(dir.path().join("p.1-of-3.nbest.json").exists());
}

/// `odqa index-dense` on `index` with the tiny encoder, `vars` as its only scheduler variables.
fn index_dense(index: &Path, vars: &[(&str, String)], extra: &[&str]) -> Output {
    let model = model();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_odqa"));
    for var in VARS {
        command.env_remove(var);
    }
    command.envs(vars.iter().map(|(k, v)| (k, v)));
    command.args(["index-dense", "--index", path_str(index), "--model", &model]);
    command.args(["--dense-max-len", "128", "--dense-chunk", "5"]);
    command.args(extra).output().unwrap()
}

#[test]
fn dense_vectors_computed_by_array_tasks_merge_into_the_unsharded_ones() {
    let dir = tempfile::tempdir().unwrap();
    // Two copies of one index: one embedded whole, one by shards.
    let whole = index_into(&dir.path().join("whole"));
    let sharded = index_into(&dir.path().join("sharded"));
    let o = index_dense(&whole, &[], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    let p = path_str(&parts);
    // Merging before every shard is done is refused and installs nothing.
    let o = index_dense(&sharded, &[], &["--merge", "--parts", p, "--shards", "3"]);
    assert_exit_2(&o, &["shard 0/3 is not finished"]);
    for task in 0..3 {
        let vars = vec![
            ("SLURM_ARRAY_TASK_ID", task.to_string()),
            ("SLURM_ARRAY_TASK_COUNT", "3".to_string()),
        ];
        let o = index_dense(&sharded, &vars, &["--shard", "auto", "--parts", p]);
        assert!(o.status.success(), "task {task}: {}", stderr(&o));
        assert!(
            stdout(&o).contains(&format!("shard {task}/3: embedded")),
            "{}",
            stdout(&o)
        );
        if task == 1 {
            let early = index_dense(&sharded, &[], &["--merge", "--parts", p, "--shards", "3"]);
            assert_exit_2(&early, &["shard 2/3 is not finished"]);
        }
    }
    assert!(
        !sharded.join("dense").exists(),
        "the shards went to --parts"
    );
    let o = index_dense(&sharded, &[], &["--merge", "--parts", p, "--shards", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let vectors = |index: &Path| std::fs::read(index.join("dense/vectors.f16")).unwrap();
    assert_eq!(vectors(&sharded), vectors(&whole));
    // Both answer a dense retrieval alike.
    let retrieve = |index: &Path| {
        let o = odqa(&[
            "retrieve",
            "--index",
            path_str(index),
            "--retriever",
            "dense",
            "-k",
            "5",
            "--json",
            "임종석이 지명수배된 연도는?",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(retrieve(&sharded), retrieve(&whole));
    // --shard needs --parts; auto without a scheduler is refused.
    let o = index_dense(&sharded, &[], &["--shard", "0/2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = index_dense(&sharded, &[], &["--shard", "auto", "--parts", p]);
    assert_exit_2(&o, &["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]);
}
