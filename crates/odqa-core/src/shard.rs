//! Sharded prediction: shard `I` of `N` answers every N-th question (those at positions `p` with
//! `p % N == I`, zero-based as Slurm array and Kubernetes indexed-job numbers are); the partial
//! files are joined with [`merge_shards`], which checks that every question is answered exactly
//! once and writes the ids in the question file's order, so the merged file is the unsharded one
//! byte for byte.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::CoreError;

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl Shard {
    /// True for the questions at `position` this shard answers.
    pub fn holds(&self, position: usize) -> bool {
        position % self.count == self.index
    }

    /// The shard's name in file names: `1-of-3`, the index zero-padded to the width of the
    /// largest (`03-of-12`) so that the files sort in shard order.
    pub fn name(&self) -> String {
        let width = (self.count - 1).max(1).to_string().len();
        format!("{:0width$}-of-{}", self.index, self.count)
    }

    /// The items of this shard, in their order.
    pub fn select<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.holds(*i))
            .map(|(_, item)| item)
            .collect()
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N`, e.g. `0/4` … `3/4`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("expected I/N with 0 <= I < N (e.g. 0/4), not {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The entries of a JSON object document as (key, the value's text exactly as written). The text
/// must be a valid JSON object (checked by the caller): the scan only tracks strings and nesting.
fn raw_entries(text: &str) -> Vec<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut entries = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut key, mut key_start, mut value_start) = (None, 0, None);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    in_string = false;
                    if depth == 1 && value_start.is_none() && key.is_none() {
                        key = Some(&text[key_start..=i]);
                    }
                }
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                if depth == 1 && value_start.is_none() && key.is_none() {
                    key_start = i;
                }
            }
            b':' if depth == 1 && value_start.is_none() => value_start = Some(i + 1),
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 1 => depth -= 1,
            b',' | b'}' if depth == 1 => {
                if let (Some(k), Some(v)) = (key.take(), value_start.take()) {
                    entries.push((k, text[v..i].trim()));
                }
                if b == b'}' {
                    depth = 0;
                }
            }
            _ => {}
        }
    }
    entries
}

/// The entries of a partial file: (id, the value's text as written).
fn read_part(path: &Path, text: &str) -> Result<Vec<(String, String)>, CoreError> {
    let checked: serde_json::Value =
        serde_json::from_str(text).map_err(|e| CoreError::json(path, &e))?;
    if !checked.is_object() {
        return Err(CoreError::UnknownFormat {
            path: path.to_path_buf(),
            message: "expected a JSON object {\"question id\": …} (a predictions or n-best file)"
                .into(),
        });
    }
    raw_entries(text)
        .into_iter()
        .map(|(key, value)| {
            let id: String = serde_json::from_str(key).map_err(|e| CoreError::json(path, &e))?;
            Ok((id, value.to_string()))
        })
        .collect()
}

/// Joins the partial files `parts` of the questions `ids` (in the question file's order) into one
/// pretty-printed `{id: value}` document (as `odqa predict` writes it), values copied byte for
/// byte. Refuses an id found in two parts, an id no question has, and a question no part answers,
/// naming the files.
pub fn merge_shards(ids: &[String], parts: &[PathBuf]) -> Result<Vec<u8>, CoreError> {
    let bad = |path: &Path, message: String| CoreError::UnknownFormat {
        path: path.to_path_buf(),
        message,
    };
    let known: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut values: Vec<Option<(String, usize)>> = vec![None; ids.len()];
    for (p, path) in parts.iter().enumerate() {
        let text = std::fs::read_to_string(path).map_err(|e| CoreError::io(path, e))?;
        for (id, value) in read_part(path, &text)? {
            let Some(&i) = known.get(id.as_str()) else {
                return Err(bad(
                    path,
                    format!("{id:?} is not a question of the question file"),
                ));
            };
            if let Some((_, first)) = &values[i] {
                return Err(bad(
                    path,
                    format!(
                        "{id:?} is answered twice: also in {}",
                        parts[*first].display()
                    ),
                ));
            }
            values[i] = Some((value, p));
        }
    }
    let missing: Vec<&str> = ids
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(id, _)| id.as_str())
        .collect();
    if let Some(first) = missing.first() {
        return Err(CoreError::Incomplete(format!(
            "{} of {} questions are in no part (first: {first:?}); is a shard missing?",
            missing.len(),
            ids.len()
        )));
    }
    // serde_json's pretty layout: `{`, one `  "id": value` per line, `}`; `{}` when empty.
    let lines: Vec<String> = ids
        .iter()
        .zip(values.iter().flatten())
        .map(|(id, (value, _))| {
            let key = serde_json::to_string(id).unwrap_or_default();
            format!("  {key}: {value}")
        })
        .collect();
    let merged = if lines.is_empty() {
        "{}".to_string()
    } else {
        format!("{{\n{}\n}}", lines.join(",\n"))
    };
    Ok(merged.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_parts_are_the_whole_document_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mut whole = serde_json::Map::new();
        for i in 0..7 {
            let value = serde_json::json!([{"text": format!("답 \\\"{i}\\\" }}, ]"), "p": 0.1 + 1e-7 * i as f64,
                "logit": -3.4e-25, "nested": {"a": [1, {"b": "}"}]}}]);
            whole.insert(format!("q{i}, \\\"x\\\": {{"), value);
        }
        let ids: Vec<String> = whole.keys().cloned().collect();
        let shard_of = |n: usize| -> Vec<PathBuf> {
            (0..n)
                .map(|s| {
                    let part: serde_json::Map<_, _> = whole
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % n == s)
                        .map(|(_, (k, v))| (k.clone(), v.clone()))
                        .collect();
                    let path = dir.path().join(format!("{n}-{s}.json"));
                    std::fs::write(&path, serde_json::to_vec_pretty(&part).unwrap()).unwrap();
                    path
                })
                .collect()
        };
        let expected = serde_json::to_vec_pretty(&whole).unwrap();
        for n in [1, 3, 7, 9] {
            let merged = merge_shards(&ids, &shard_of(n)).unwrap();
            assert_eq!(
                String::from_utf8(merged).unwrap(),
                String::from_utf8(expected.clone()).unwrap(),
                "{n} shards"
            );
        }
        assert_eq!(merge_shards(&[], &[]).unwrap(), b"{}");
    }

    #[test]
    fn shards_parse_and_partition() {
        let shard: Shard = "1/3".parse().unwrap();
        assert_eq!(shard.select((0..8).collect()), vec![1, 4, 7]);
        assert_eq!(shard.to_string(), "1/3");
        for bad in ["3/3", "0/0", "1", "a/2", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad:?}");
        }
        let all: Vec<usize> = (0..3)
            .flat_map(|i| Shard { index: i, count: 3 }.select((0..10).collect()))
            .collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..10).collect::<Vec<_>>(),
            "every item in exactly one shard"
        );
    }
}
