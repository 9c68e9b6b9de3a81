//! Training and dev data: examples from SQuAD JSON or `save_to_disk` folders, answer checks, and
//! labelled windows built exactly as transformers' `run_qa.py` `prepare_train_features`.

use std::path::{Path, PathBuf};

use odqa_core::squad::{read_examples, QaExample};
use odqa_reader::features::{Feature, FeatureTokenizer, WindowInput};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::{Result, TrainError};

/// A training example left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skipped {
    /// Question id.
    pub id: String,
    /// Why it was left out.
    pub reason: String,
}

/// Labelled windows ready for training.
#[derive(Debug)]
pub struct TrainingSet {
    /// Every window of every kept example, labelled (CLS when the answer is outside the window).
    pub features: Vec<Feature>,
    /// Examples kept.
    pub examples: usize,
    /// Examples left out (answer not at `answer_start`, no answer, untokenizable question).
    pub skipped: Vec<Skipped>,
    /// Kept examples whose answer ends inside a token (`비블로스` in `▁비블로스는`): their end label
    /// is that whole token, and decoding cuts the particle there (`decode::inner_particle`).
    pub inside_token_ends: usize,
}

/// How many examples one training source gave to the mixture.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceCount {
    /// The file or folder.
    pub path: PathBuf,
    /// Its sampling rate.
    pub rate: f64,
    /// Examples read from it.
    pub examples: usize,
    /// Examples it put in the mixture (`round(rate × examples)`; repeats counted).
    pub used: usize,
}

/// Reads every file or folder in `paths`, in order, each sampled at its rate (`rates[i]`, 1 when
/// `rates` is empty): `round(rate × n)` of its `n` examples, i.e. every example `⌊rate⌋` times
/// plus a seeded draw without replacement for the fraction.
pub fn read_mixture(
    paths: &[PathBuf],
    rates: &[f64],
    seed: u64,
) -> Result<(Vec<QaExample>, Vec<SourceCount>)> {
    let mut all = Vec::new();
    let mut counts = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let rate = rates.get(i).copied().unwrap_or(1.0);
        let examples = read_examples(path)?;
        let sampled = sample_at_rate(examples.clone(), rate, seed ^ (i as u64 + 1));
        counts.push(SourceCount {
            path: path.clone(),
            rate,
            examples: examples.len(),
            used: sampled.len(),
        });
        all.extend(sampled);
    }
    Ok((all, counts))
}

/// `round(rate × n)` of `examples`: each one `⌊rate × n⌋ / n` times, then the rest drawn with
/// `seed` without replacement; in order when the rate is 1.
fn sample_at_rate(examples: Vec<QaExample>, rate: f64, seed: u64) -> Vec<QaExample> {
    let n = examples.len();
    let wanted = (rate * n as f64).round() as usize;
    if n == 0 || wanted == n {
        return examples;
    }
    let mut out = Vec::with_capacity(wanted);
    for _ in 0..wanted / n {
        out.extend(examples.iter().cloned());
    }
    out.extend(subset(examples, Some(wanted % n), seed));
    out
}

/// `max` examples drawn without replacement with `seed` (all of them, in order, when `max` is
/// `None` or not smaller).
pub fn subset(mut examples: Vec<QaExample>, max: Option<usize>, seed: u64) -> Vec<QaExample> {
    if let Some(max) = max.filter(|m| *m < examples.len()) {
        examples.shuffle(&mut StdRng::seed_from_u64(seed));
        examples.truncate(max);
    }
    examples
}

/// Checks the first answer of `example` against its context: the text must be found at
/// `answer_start` (in characters). Returns `(answer_start, text)` or why not.
pub fn checked_answer(example: &QaExample) -> std::result::Result<(usize, &str), String> {
    let Some(answer) = example.answers.first() else {
        return Err("no answer".into());
    };
    if answer.text.is_empty() {
        return Err("empty answer text".into());
    }
    let len = answer.text.chars().count();
    let found: String = example
        .context
        .chars()
        .skip(answer.answer_start)
        .take(len)
        .collect();
    if found == answer.text {
        Ok((answer.answer_start, &answer.text))
    } else {
        Err(format!(
            "answer {:?} is not at character {} of the context (found {:?})",
            answer.text, answer.answer_start, found
        ))
    }
}

/// Labelled windows of every example whose answer checks out; the others are skipped with a reason.
pub fn training_set(tokenizer: &FeatureTokenizer, examples: &[QaExample]) -> TrainingSet {
    let mut skipped = Vec::new();
    let mut kept = Vec::new();
    for example in examples {
        match checked_answer(example) {
            Ok(answer) => kept.push((example, answer)),
            Err(reason) => skipped.push(Skipped {
                id: example.id.clone(),
                reason,
            }),
        }
    }
    let inputs: Vec<WindowInput<'_>> = kept
        .iter()
        .map(|(e, a)| (e.question.as_str(), e.context.as_str(), Some(*a)))
        .collect();
    let mut features = Vec::new();
    let mut examples_kept = 0;
    let mut inside_token_ends = 0;
    for ((example, (start, text)), windows) in kept.iter().zip(tokenizer.features_batch(&inputs)) {
        match windows {
            Ok(windows) => {
                examples_kept += 1;
                let end = start + text.chars().count();
                inside_token_ends += usize::from(windows.iter().any(|w| ends_inside(w, end)));
                features.extend(windows);
            }
            Err(e) => skipped.push(Skipped {
                id: example.id.clone(),
                reason: e.to_string(),
            }),
        }
    }
    TrainingSet {
        features,
        examples: examples_kept,
        skipped,
        inside_token_ends,
    }
}

/// Whether the answer ending at character `end` ends strictly inside the token `window` labels
/// as its end.
fn ends_inside(window: &Feature, end: usize) -> bool {
    match window.end_position {
        Some(e) if e > 0 => {
            let (token_start, token_end) = window.offsets[e];
            token_start < end && end < token_end
        }
        _ => false,
    }
}

/// Dev examples that have at least one answer; an error when none has (nothing to score).
pub fn dev_examples(path: &Path, max: Option<usize>) -> Result<Vec<QaExample>> {
    let mut examples: Vec<QaExample> = read_examples(path)?
        .into_iter()
        .filter(|e| !e.answers.is_empty())
        .collect();
    if examples.is_empty() {
        return Err(TrainError::BadInput(format!(
            "{}: the dev set has no answers to score predictions against \
             (a test split? give a dev set with answers, or leave --dev out)",
            path.display()
        )));
    }
    if let Some(max) = max {
        examples.truncate(max);
    }
    Ok(examples)
}

#[cfg(test)]
mod tests {
    use odqa_core::squad::Answer;

    use super::*;

    #[test]
    fn an_answer_end_inside_its_end_token_is_told_apart() {
        // Context `▁비블로스는 ▁도시` as tokens: [CLS] q [SEP] `▁비블로스는` (0..6) `▁도시` (6..9).
        let window = Feature {
            example_index: 0,
            input_ids: vec![0; 6],
            token_type_ids: vec![0; 6],
            attention_mask: vec![1; 6],
            offsets: vec![(0, 0), (0, 2), (0, 0), (0, 6), (6, 9), (0, 0)],
            sequence_ids: vec![None, Some(0), None, Some(1), Some(1), None],
            start_position: Some(3),
            end_position: Some(3),
        };
        assert!(ends_inside(&window, 5), "비블로스 ends before 는");
        assert!(!ends_inside(&window, 6), "비블로스는 ends with its token");
        let outside = Feature {
            end_position: Some(0),
            ..window
        };
        assert!(
            !ends_inside(&outside, 5),
            "a window labelled CLS does not hold it"
        );
    }

    fn example(id: &str, context: &str, text: &str, start: usize) -> QaExample {
        QaExample {
            id: id.into(),
            question: "무엇?".into(),
            title: String::new(),
            context: context.into(),
            answers: vec![Answer {
                text: text.into(),
                answer_start: start,
            }],
        }
    }

    #[test]
    fn answers_are_checked_in_characters() {
        let ok = example("a", "서울은 한국의 수도이다.", "한국", 4);
        assert_eq!(checked_answer(&ok).unwrap(), (4, "한국"));
        let off = example("b", "서울은 한국의 수도이다.", "한국", 5);
        let err = checked_answer(&off).unwrap_err();
        assert!(err.contains("character 5") && err.contains("국의"), "{err}");
        let mut none = ok.clone();
        none.answers.clear();
        assert_eq!(checked_answer(&none).unwrap_err(), "no answer");
    }

    #[test]
    fn sources_are_sampled_at_their_rates() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, n: usize| {
            let qas: Vec<serde_json::Value> = (0..n)
                .map(|i| {
                    serde_json::json!({"id": format!("{name}{i}"), "question": "q",
                        "answers": [{"text": "a", "answer_start": 0}]})
                })
                .collect();
            let squad = serde_json::json!({"data": [{"title": "t",
                "paragraphs": [{"context": "a b", "qas": qas}]}]});
            let path = dir.path().join(format!("{name}.json"));
            std::fs::write(&path, squad.to_string()).unwrap();
            path
        };
        let (a, b) = (write("a", 10), write("b", 4));
        let (mix, counts) = read_mixture(&[a.clone(), b.clone()], &[0.5, 2.5], 3).unwrap();
        assert_eq!((counts[0].examples, counts[0].used), (10, 5));
        assert_eq!((counts[1].examples, counts[1].used), (4, 10));
        assert_eq!(mix.len(), 15);
        let from_b = mix.iter().filter(|e| e.id.starts_with('b')).count();
        assert_eq!(from_b, 10);
        // Every example of b at least twice; a's half drawn without repeats, seeded.
        for i in 0..4 {
            let id = format!("b{i}");
            assert!(mix.iter().filter(|e| e.id == id).count() >= 2);
        }
        let mut a_ids: Vec<&str> = mix
            .iter()
            .filter(|e| e.id.starts_with('a'))
            .map(|e| e.id.as_str())
            .collect();
        a_ids.sort_unstable();
        a_ids.dedup();
        assert_eq!(a_ids.len(), 5);
        let (again, _) = read_mixture(&[a.clone(), b.clone()], &[0.5, 2.5], 3).unwrap();
        assert_eq!(again, mix);
        // No rates: everything once, in order.
        let (plain, counts) = read_mixture(&[a, b], &[], 3).unwrap();
        assert_eq!(plain.len(), 14);
        assert!(counts.iter().all(|c| c.used == c.examples && c.rate == 1.0));
    }

    #[test]
    fn subset_is_seeded_and_bounded() {
        let all: Vec<QaExample> = (0..50)
            .map(|i| example(&i.to_string(), "x", "x", 0))
            .collect();
        let a = subset(all.clone(), Some(10), 7);
        let b = subset(all.clone(), Some(10), 7);
        let c = subset(all.clone(), Some(10), 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 10);
        assert_eq!(subset(all.clone(), None, 7), all);
    }
}
