//! Scoring a predictions file (`{id: answer}`, as `predictions.json`) against a question set, as
//! the official KorQuAD v1.0 / SQuAD v1.1 scripts do: every question with gold answers counts, a
//! question without a prediction scores 0, predictions for unknown ids are ignored (and counted).

use std::collections::HashMap;
use std::path::Path;

use crate::metrics::{score, AnswerScores};
use crate::squad::QaExample;
use crate::CoreError;

/// Scores of a predictions file, with the ids that did not match.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PredictionScores {
    /// EM/F1 over every question that has gold answers.
    pub scores: AnswerScores,
    /// Questions (with gold answers) that have no prediction, in question-set order.
    pub missing: Vec<String>,
    /// Predicted ids that are not in the question set, sorted.
    pub extra: Vec<String>,
    /// Questions of the set without gold answers (not scored).
    pub without_gold: usize,
}

/// Reads `{id: answer}`; any other shape is an error naming the file (and the id).
pub fn read_predictions(path: &Path) -> Result<HashMap<String, String>, CoreError> {
    let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| CoreError::json(path, &e))?;
    let bad = |message: String| CoreError::UnknownFormat {
        path: path.to_path_buf(),
        message,
    };
    let serde_json::Value::Object(map) = value else {
        return Err(bad(
            "expected a JSON object {\"question id\": \"answer\", …}".into(),
        ));
    };
    map.into_iter()
        .map(|(id, v)| match v {
            serde_json::Value::String(answer) => Ok((id, answer)),
            other => Err(bad(format!(
                "the prediction for {id:?} is not a string: {other}"
            ))),
        })
        .collect()
}

/// Scores `predictions` on the questions of `examples` that have gold answers.
pub fn score_predictions(
    examples: &[QaExample],
    predictions: &HashMap<String, String>,
) -> PredictionScores {
    let truths: Vec<Vec<String>> = examples
        .iter()
        .map(|e| e.answers.iter().map(|a| a.text.clone()).collect())
        .collect();
    let gold = || examples.iter().zip(&truths).filter(|(_, t)| !t.is_empty());
    let scores =
        score(gold().map(|(e, t)| (predictions.get(&e.id).map(String::as_str), t.as_slice())));
    let missing: Vec<String> = gold()
        .filter(|(e, _)| !predictions.contains_key(&e.id))
        .map(|(e, _)| e.id.clone())
        .collect();
    let without_gold = examples.len() - scores.questions;
    let known: std::collections::HashSet<&str> = examples.iter().map(|e| e.id.as_str()).collect();
    let mut extra: Vec<String> = predictions
        .keys()
        .filter(|id| !known.contains(id.as_str()))
        .cloned()
        .collect();
    extra.sort();
    PredictionScores {
        scores,
        missing,
        extra,
        without_gold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::squad::Answer;

    fn example(id: &str, answers: &[&str]) -> QaExample {
        QaExample {
            id: id.into(),
            question: "q".into(),
            title: String::new(),
            context: "c".into(),
            answers: answers
                .iter()
                .map(|t| Answer {
                    text: (*t).into(),
                    answer_start: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn missing_score_zero_extra_are_ignored_and_counted() {
        let examples = vec![
            example("a", &["서울특별시"]),
            example("b", &["한강", "한강 유역"]),
            example("c", &["1945년"]),
            example("test-only", &[]),
        ];
        let predictions: HashMap<String, String> =
            [("a", "서울특별시"), ("b", "한강의"), ("zzz", "x")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let r = score_predictions(&examples, &predictions);
        assert_eq!(r.scores.questions, 3);
        assert_eq!(r.missing, vec!["c".to_string()]);
        assert_eq!(r.extra, vec!["zzz".to_string()]);
        assert_eq!(r.without_gold, 1);
        // a: exact; b: "한강의" vs "한강" → char F1 = 2·(2/3·1)/(2/3+1) = 0.8; c: 0.
        assert!((r.scores.korquad_em - 100.0 / 3.0).abs() < 1e-9);
        assert!((r.scores.korquad_f1 - (100.0 + 80.0) / 3.0).abs() < 1e-9);
    }

    #[test]
    fn predictions_must_be_an_object_of_strings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, r#"{"a": "x", "b": 3}"#).unwrap();
        let err = read_predictions(&path).unwrap_err().to_string();
        assert!(err.contains("\"b\"") && err.contains("p.json"), "{err}");
        std::fs::write(&path, r#"["x"]"#).unwrap();
        assert!(read_predictions(&path).unwrap_err().is_bad_input());
        std::fs::write(&path, r#"{"a": "x", "#).unwrap();
        assert!(read_predictions(&path)
            .unwrap_err()
            .to_string()
            .contains("p.json"));
    }
}
