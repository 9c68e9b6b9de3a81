use std::collections::HashMap;

use super::*;

/// The shard that the variables `vars` (and the count `count`) give.
fn shard(vars: &[(&str, &str)], count: Option<usize>) -> Result<Shard, String> {
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    shard_from_env(&|name| env.get(name).cloned(), count).map_err(|e| e.to_string())
}

fn of(index: usize, count: usize) -> Result<Shard, String> {
    Ok(Shard { index, count })
}

#[test]
fn slurm_array_tasks_get_their_position_in_the_array() {
    let task = |id: &str, min: &str, max: &str, count: &str| {
        vec![
            ("SLURM_ARRAY_TASK_ID", id.to_string()),
            ("SLURM_ARRAY_TASK_MIN", min.to_string()),
            ("SLURM_ARRAY_TASK_MAX", max.to_string()),
            ("SLURM_ARRAY_TASK_COUNT", count.to_string()),
        ]
    };
    let run = |vars: Vec<(&str, String)>, count| {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        shard(&vars, count)
    };
    // --array=0-2
    for id in 0..3 {
        assert_eq!(run(task(&id.to_string(), "0", "2", "3"), None), of(id, 3));
    }
    // --array=1-4: ids from 1
    assert_eq!(run(task("1", "1", "4", "4"), None), of(0, 4));
    assert_eq!(run(task("4", "1", "4", "4"), None), of(3, 4));
    // --array=0-9:3 → ids 0, 3, 6, 9
    let mut stepped = task("6", "0", "9", "4");
    stepped.push(("SLURM_ARRAY_TASK_STEP", "3".into()));
    assert_eq!(run(stepped, None), of(2, 4));
    // Only MIN/MAX (older Slurm) or only COUNT
    assert_eq!(
        shard(
            &[
                ("SLURM_ARRAY_TASK_ID", "2"),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_MAX", "4")
            ],
            None
        ),
        of(2, 5)
    );
    assert_eq!(
        shard(
            &[
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "2")
            ],
            None
        ),
        of(1, 2)
    );
    // The same count given explicitly, or as ODQA_SHARDS, agrees.
    assert_eq!(run(task("2", "0", "2", "3"), Some(3)), of(2, 3));
    let mut with_var = task("2", "0", "2", "3");
    with_var.push(("ODQA_SHARDS", "3".into()));
    assert_eq!(run(with_var, None), of(2, 3));
}

#[test]
fn kubernetes_pods_get_their_completion_index_with_the_count_given() {
    assert_eq!(shard(&[("JOB_COMPLETION_INDEX", "2")], Some(3)), of(2, 3));
    assert_eq!(
        shard(&[("JOB_COMPLETION_INDEX", "0"), ("ODQA_SHARDS", "4")], None),
        of(0, 4)
    );
    let without_count = shard(&[("JOB_COMPLETION_INDEX", "1")], None).unwrap_err();
    assert!(
        without_count.contains("JOB_COMPLETION_INDEX=1") && without_count.contains("ODQA_SHARDS"),
        "{without_count}"
    );
    let beyond = shard(&[("JOB_COMPLETION_INDEX", "3")], Some(3)).unwrap_err();
    assert!(
        beyond.contains("not below the number of shards 3"),
        "{beyond}"
    );
}

#[test]
fn no_scheduler_is_refused_naming_the_variables() {
    for count in [None, Some(3)] {
        let err = shard(&[("SLURM_JOB_ID", "17")], count).unwrap_err();
        assert!(
            err.contains("SLURM_ARRAY_TASK_ID") && err.contains("JOB_COMPLETION_INDEX"),
            "{err}"
        );
    }
}

#[test]
fn inconsistent_variables_are_refused() {
    let refused = |vars: &[(&str, &str)], count, says: &str| {
        let err = shard(vars, count).unwrap_err();
        assert!(err.contains(says), "{vars:?} {count:?}: {err}");
    };
    // COUNT against MIN..MAX: a list such as --array=1,5,7
    refused(
        &[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
        None,
        "not one range",
    );
    // An id outside the array, or off its step
    let outside = [
        ("SLURM_ARRAY_TASK_ID", "4"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_MAX", "3"),
    ];
    refused(&outside, None, "is not one of the array's 4 task ids");
    let off_step = [
        ("SLURM_ARRAY_TASK_ID", "4"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_MAX", "9"),
        ("SLURM_ARRAY_TASK_STEP", "3"),
    ];
    refused(&off_step, None, "is not one of the array's 4 task ids");
    refused(
        &[("SLURM_ARRAY_TASK_ID", "1")],
        None,
        "the number of tasks is unknown",
    );
    // Slurm's count against the one given, and against ODQA_SHARDS
    let task = [
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ];
    refused(&task, Some(4), "has 3 tasks but 4 shards are asked for");
    refused(
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("ODQA_SHARDS", "2"),
        ],
        None,
        "has 3 tasks but 2 shards",
    );
    refused(
        &[("JOB_COMPLETION_INDEX", "0"), ("ODQA_SHARDS", "2")],
        Some(3),
        "3 shards asked for but ODQA_SHARDS=2",
    );
    // Slurm against Kubernetes
    refused(
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("JOB_COMPLETION_INDEX", "2"),
        ],
        None,
        "Slurm gives shard 1/3 (SLURM_ARRAY_TASK_ID) but Kubernetes gives 2/3",
    );
    // Not numbers, zero shards
    refused(
        &[("JOB_COMPLETION_INDEX", "x")],
        Some(2),
        "JOB_COMPLETION_INDEX=\"x\" is not a number",
    );
    refused(&[("JOB_COMPLETION_INDEX", "0")], Some(0), "0 shards");
}

#[test]
fn shard_specs_parse_and_paths_name_their_shard() {
    assert_eq!("auto".parse::<ShardSpec>(), Ok(ShardSpec::Auto));
    assert_eq!(
        "1/3".parse::<ShardSpec>(),
        Ok(ShardSpec::Given(Shard { index: 1, count: 3 }))
    );
    assert!("automatic"
        .parse::<ShardSpec>()
        .unwrap_err()
        .contains("or auto"));
    let s = |index, count| Shard { index, count };
    assert_eq!(
        shard_path("parts/p.{shard}.json", s(1, 3)),
        "parts/p.1-of-3.json"
    );
    assert_eq!(shard_path("p.{shard}.json", s(3, 12)), "p.03-of-12.json");
    assert_eq!(shard_path("p.{shard}.json", s(0, 1)), "p.0-of-1.json");
    assert_eq!(shard_path("p.{shard}.json", s(7, 10)), "p.7-of-10.json");
    assert_eq!(shard_path("plain.json", s(0, 2)), "plain.json");
}
