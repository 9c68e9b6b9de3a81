//! Question files for `odqa predict` / `odqa tune`: the competition's `test_dataset` (a
//! `save_to_disk` folder with `id` + `question`), SQuAD JSON, or JSONL with one
//! `{"id", "question"}` per line (`.jsonl`, `.ndjson`, or `.json` with one object per line) (optional `answers`: a list of strings or SQuAD answer objects).
//!
//! Every question must have a non-empty id, a question with some non-space character, and an id no
//! other question has: a file breaking any of these is refused with where it happened, because a
//! leaderboard file with a missing or ambiguous id would be scored wrong without anyone noticing.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use crate::corpus::CorpusFormat;
use crate::squad::{read_examples, Answer, QaExample};
use crate::{CoreError, Location};

/// Reads and checks a question file; see the module documentation for the formats. JSONL is told
/// apart as for corpora ([`CorpusFormat::detect`]: `.jsonl`, `.ndjson`, or a `.json` file whose
/// first line is a complete object).
pub fn read_questions(path: &Path) -> Result<Vec<QaExample>, CoreError> {
    let is_jsonl = path.is_file() && matches!(CorpusFormat::detect(path), Ok(CorpusFormat::Jsonl));
    if is_jsonl {
        let (questions, lines) = read_jsonl(path)?;
        check(path, &questions, |i| {
            (Location::line(path, lines[i]), String::new())
        })?;
        Ok(questions)
    } else {
        let path = &single_split(path).unwrap_or_else(|| path.to_path_buf());
        let questions = read_examples(path)?;
        check_questions(path, &questions)?;
        Ok(questions)
    }
}

/// The split folder of a `DatasetDict` folder that has exactly one split (the competition's
/// `test_dataset/` holds only `validation`).
fn single_split(path: &Path) -> Option<std::path::PathBuf> {
    let bytes = std::fs::read(path.join("dataset_dict.json")).ok()?;
    let dict: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match dict["splits"].as_array()?.as_slice() {
        [only] => Some(path.join(only.as_str()?)),
        _ => None,
    }
}

/// Refuses empty ids, empty questions and repeated ids; errors name the question's number.
pub fn check_questions(path: &Path, questions: &[QaExample]) -> Result<(), CoreError> {
    check(path, questions, |i| {
        (Location::line(path, 0), format!("question #{}", i + 1))
    })
}

/// The checks; `at(i)` = where question `i` is: a file position and/or a description.
fn check(
    path: &Path,
    questions: &[QaExample],
    at: impl Fn(usize) -> (Location, String),
) -> Result<(), CoreError> {
    let describe = |i: usize| {
        let (location, what) = at(i);
        let prefix = if what.is_empty() {
            String::new()
        } else {
            format!("{what}: ")
        };
        (location, prefix, what)
    };
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(questions.len());
    for (i, q) in questions.iter().enumerate() {
        let (at, prefix, _) = describe(i);
        if q.id.trim().is_empty() {
            return Err(CoreError::BadRecord {
                at,
                message: format!("{prefix}the question has no id ({:?})", q.question),
            });
        }
        if q.question.trim().is_empty() {
            return Err(CoreError::BadRecord {
                at,
                message: format!("{prefix}question {:?} is empty", q.id),
            });
        }
        if let Some(first) = seen.insert(q.id.as_str(), i) {
            let (first_at, _, first_what) = describe(first);
            let first = if first_what.is_empty() {
                first_at.to_string()
            } else {
                first_what
            };
            return Err(CoreError::BadRecord {
                at,
                message: format!(
                    "{prefix}duplicate question id {:?} (first at {first})",
                    q.id
                ),
            });
        }
    }
    if questions.is_empty() {
        return Err(CoreError::UnknownFormat {
            path: path.to_path_buf(),
            message: "no questions in the file".into(),
        });
    }
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum JsonlAnswer {
    Text(String),
    Squad(Answer),
}

#[derive(serde::Deserialize)]
struct JsonlQuestion {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    question: Option<String>,
    #[serde(default)]
    answers: Vec<JsonlAnswer>,
}

/// The questions of a JSONL file and the (1-based) line of each.
fn read_jsonl(path: &Path) -> Result<(Vec<QaExample>, Vec<usize>), CoreError> {
    let file = std::fs::File::open(path).map_err(|e| CoreError::io(path, e))?;
    let mut out = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| CoreError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = Location::line(path, i + 1);
        let record: JsonlQuestion =
            serde_json::from_str(&line).map_err(|e| match e.classify() {
                serde_json::error::Category::Data => CoreError::BadRecord {
                    at: at.clone(),
                    message: format!("expected {{\"id\", \"question\"}}: {e}"),
                },
                _ => CoreError::Json {
                    at: Location {
                        column: e.column(),
                        ..at.clone()
                    },
                    message: crate::error::json_message(&e),
                },
            })?;
        let id = match record.id {
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            None | Some(serde_json::Value::Null) => String::new(),
            Some(other) => {
                return Err(CoreError::BadRecord {
                    at,
                    message: format!("`id` must be a string or a number, not {other}"),
                })
            }
        };
        out.push(QaExample {
            id,
            question: record.question.unwrap_or_default(),
            title: String::new(),
            context: String::new(),
            answers: record
                .answers
                .into_iter()
                .map(|a| match a {
                    JsonlAnswer::Text(text) => Answer {
                        text,
                        answer_start: 0,
                    },
                    JsonlAnswer::Squad(a) => a,
                })
                .collect(),
        });
        lines.push(i + 1);
    }
    Ok((out, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jsonl(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.jsonl");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_jsonl_with_string_and_number_ids_and_answers() {
        let (_d, path) = jsonl(
            "{\"id\": \"a\", \"question\": \"수도는?\", \"answers\": [\"서울\"]}\n{\"id\": 7, \"question\": \"x?\"}\n",
        );
        let q = read_questions(&path).unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(
            (q[0].id.as_str(), q[0].answers[0].text.as_str()),
            ("a", "서울")
        );
        assert_eq!(q[1].id, "7");
        assert!(q[1].answers.is_empty());
    }

    #[test]
    fn a_json_file_with_one_question_per_line_is_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.json");
        std::fs::write(
            &path,
            "{\"id\": \"a\", \"question\": \"x?\"}\n{\"id\": \"a\", \"question\": \"y?\"}\n",
        )
        .unwrap();
        let err = read_questions(&path).unwrap_err().to_string();
        assert!(err.contains("q.json:2: duplicate question id"), "{err}");
    }

    #[test]
    fn refuses_missing_ids_empty_questions_and_duplicates() {
        let cases = [
            (
                "{\"question\": \"x?\"}\n",
                "q.jsonl:1: the question has no id",
            ),
            (
                "{\"id\": \"a\", \"question\": \"x?\"}\n{\"id\": \"b\", \"question\": \"  \"}\n",
                "q.jsonl:2: question \"b\" is empty",
            ),
            (
                "{\"id\": \"a\", \"question\": \"x?\"}\n{\"id\": \"a\", \"question\": \"y?\"}\n",
                "q.jsonl:2: duplicate question id \"a\" (first at ",
            ),
            (
                "{\"id\": [1], \"question\": \"x?\"}\n",
                "`id` must be a string",
            ),
            ("{\"id\": \"a\", \"question\": ", "q.jsonl:1:"),
            ("", "no questions in the file"),
        ];
        for (text, expected) in cases {
            let (_d, path) = jsonl(text);
            let err = read_questions(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_dataset_dict_with_one_split_is_read_as_that_split() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/competition-test-dataset");
        let q = read_questions(&dir).unwrap();
        assert_eq!(q.len(), 473);
        assert_eq!(q[0].id, "mrc-1-000000");
    }

    #[test]
    fn squad_duplicates_name_both_questions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"data":[{"title":"T","paragraphs":[{"context":"c","qas":[
            {"id":"q1","question":"a?","answers":[]},{"id":"q1","question":"b?","answers":[]}]}]}]}"#,
        )
        .unwrap();
        let err = read_questions(&path).unwrap_err().to_string();
        assert!(
            err.contains("question #2: duplicate question id \"q1\"")
                && err.contains("question #1"),
            "{err}"
        );
    }
}
