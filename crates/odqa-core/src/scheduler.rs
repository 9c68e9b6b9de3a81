//! The shard of a task from the environment its scheduler gives it: a Slurm array task
//! (`SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT` or `SLURM_ARRAY_TASK_MIN`/`MAX`/`STEP`) or
//! a pod of a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, the count given by the caller or
//! `ODQA_SHARDS`). Every task of one array or Job gets a different shard of the same count, so
//! `predict` run unchanged in each of them answers every question exactly once.

use std::fmt;
use std::str::FromStr;

use crate::shard::Shard;
use crate::CoreError;

/// The variable a Slurm array task's number is in.
pub const SLURM_TASK_ID: &str = "SLURM_ARRAY_TASK_ID";
/// The variable a Kubernetes Indexed Job's pod number is in.
pub const K8S_INDEX: &str = "JOB_COMPLETION_INDEX";
/// The variable that gives the number of shards where the scheduler does not (Kubernetes).
pub const SHARDS_VAR: &str = "ODQA_SHARDS";

/// A shard as asked for: given (`I/N`) or `auto`, read from the scheduler's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSpec {
    /// This shard.
    Given(Shard),
    /// The shard the scheduler's variables give ([`shard_from_env`]).
    Auto,
}

impl ShardSpec {
    /// The shard asked for: the given one (whose count must be `count`, if that is given) or the
    /// one the scheduler's variables give ([`shard_from_env`]).
    pub fn resolve(
        self,
        var: &dyn Fn(&str) -> Option<String>,
        count: Option<usize>,
    ) -> Result<Shard, CoreError> {
        match self {
            ShardSpec::Given(shard) => match count {
                Some(n) if n != shard.count => {
                    Err(refuse(format!("shard {shard} is not one of {n} shards")))
                }
                _ => Ok(shard),
            },
            ShardSpec::Auto => shard_from_env(var, count),
        }
    }
}

impl FromStr for ShardSpec {
    type Err = String;

    /// `auto` or `I/N`.
    fn from_str(s: &str) -> Result<ShardSpec, String> {
        if s.trim() == "auto" {
            return Ok(ShardSpec::Auto);
        }
        s.parse()
            .map(ShardSpec::Given)
            .map_err(|e| format!("{e}, or auto"))
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardSpec::Given(shard) => shard.fmt(f),
            ShardSpec::Auto => f.write_str("auto"),
        }
    }
}

/// A refusal: the scheduler's variables are missing, malformed or disagree.
fn refuse(message: String) -> CoreError {
    CoreError::Shard(message)
}

/// The number in variable `name`, if it is set.
fn number(var: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<usize>, CoreError> {
    match var(name) {
        None => Ok(None),
        Some(value) => value
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| refuse(format!("{name}={value:?} is not a number"))),
    }
}

/// The shard of a Slurm array task, if `SLURM_ARRAY_TASK_ID` is set: its position among the
/// array's task ids, which must be a range (`--array=0-3`, `1-8`, `0-9:3`; a `%` limit is fine).
fn slurm_shard(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<Shard>, CoreError> {
    let Some(id) = number(var, SLURM_TASK_ID)? else {
        return Ok(None);
    };
    let min = number(var, "SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
    let step = number(var, "SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
    let max = number(var, "SLURM_ARRAY_TASK_MAX")?;
    let count = number(var, "SLURM_ARRAY_TASK_COUNT")?;
    let range = max.map(|max| max.saturating_sub(min) / step + 1);
    let count = match (count, range) {
        (Some(count), Some(range)) if count != range => {
            return Err(refuse(format!(
                "the Slurm array's task ids are not one range: SLURM_ARRAY_TASK_COUNT={count} but \
                 SLURM_ARRAY_TASK_MIN..MAX ({min}..{}, step {step}) holds {range} ids; submit \
                 the array as a range (e.g. --array=0-{})",
                max.unwrap_or(0),
                count - 1
            )))
        }
        (Some(count), _) | (None, Some(count)) => count,
        (None, None) => {
            return Err(refuse(format!(
                "{SLURM_TASK_ID} is set but neither SLURM_ARRAY_TASK_COUNT nor \
                 SLURM_ARRAY_TASK_MAX is: the number of tasks is unknown"
            )))
        }
    };
    if id < min || (id - min) % step != 0 || (id - min) / step >= count {
        return Err(refuse(format!(
            "{SLURM_TASK_ID}={id} is not one of the array's {count} task ids ({min}, {}, …)",
            min + step
        )));
    }
    Ok(Some(Shard {
        index: (id - min) / step,
        count,
    }))
}

/// The shard of a Kubernetes Indexed Job's pod, if `JOB_COMPLETION_INDEX` is set; `count` is the
/// Job's `completions`.
fn kubernetes_shard(
    var: &dyn Fn(&str) -> Option<String>,
    count: Option<usize>,
) -> Result<Option<Shard>, CoreError> {
    let Some(index) = number(var, K8S_INDEX)? else {
        return Ok(None);
    };
    let count = count.ok_or_else(|| {
        refuse(format!(
            "{K8S_INDEX}={index} (a Kubernetes Indexed Job) gives this pod's shard but not the \
             number of shards: give the Job's completions ({SHARDS_VAR} or the shard count)"
        ))
    })?;
    if index >= count {
        return Err(refuse(format!(
            "{K8S_INDEX}={index} is not below the number of shards {count}"
        )));
    }
    Ok(Some(Shard { index, count }))
}

/// The shard this task answers, from the scheduler's variables as `var` reads them
/// (`|name| std::env::var(name).ok()` in a real task). `count` is the number of shards if the
/// caller gives it; `ODQA_SHARDS` gives it otherwise. Refused, naming the variables: none set, a
/// value that is not a number or out of range, and any two sources that disagree (Slurm's count
/// against the given one, Slurm's shard against Kubernetes').
pub fn shard_from_env(
    var: &dyn Fn(&str) -> Option<String>,
    count: Option<usize>,
) -> Result<Shard, CoreError> {
    let from_var = number(var, SHARDS_VAR)?;
    let count = match (count, from_var) {
        (Some(given), Some(set)) if given != set => {
            return Err(refuse(format!(
                "{given} shards asked for but {SHARDS_VAR}={set}"
            )))
        }
        (Some(0), _) | (None, Some(0)) => return Err(refuse("0 shards asked for".into())),
        (given, set) => given.or(set),
    };
    let slurm = slurm_shard(var)?;
    let kubernetes = kubernetes_shard(var, count.or(slurm.map(|s| s.count)))?;
    match (slurm, kubernetes) {
        (Some(s), Some(k)) if s != k => Err(refuse(format!(
            "Slurm gives shard {s} ({SLURM_TASK_ID}) but Kubernetes gives {k} ({K8S_INDEX})"
        ))),
        (Some(s), _) if count.is_some_and(|n| n != s.count) => Err(refuse(format!(
            "the Slurm array has {} tasks but {} shards are asked for",
            s.count,
            count.unwrap_or_default()
        ))),
        (Some(shard), _) | (None, Some(shard)) => Ok(shard),
        (None, None) => Err(refuse(format!(
            "no scheduler gives this task a shard: {SLURM_TASK_ID} (a Slurm array task, with \
             SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MIN/MAX) and {K8S_INDEX} (a Kubernetes \
             Indexed Job) are both unset; give the shard as I/N instead"
        ))),
    }
}

/// `path` with every `{shard}` replaced by the shard's name ([`Shard::name`]), so each task of a
/// sharded run writes its own file and the merge step finds them all (`*-of-N`).
pub fn shard_path(path: &str, shard: Shard) -> String {
    path.replace("{shard}", &shard.name())
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
