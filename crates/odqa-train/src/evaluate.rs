//! Dev-set evaluation during training: read every question from its own context and score the
//! answers with the shared metrics module (KorQuAD v1.0 and SQuAD v1.1 EM/F1).

use odqa_core::control::Unobserved;
use odqa_core::metrics::{score, AnswerScores};
use odqa_core::squad::QaExample;
use odqa_reader::decode::DecodeSettings;
use odqa_reader::read::{ExamplePrediction, Reader};
use odqa_reader::{ReaderBackend, ReaderError};

/// Reads `examples` with `reader` and scores the best answers against the gold answers.
pub fn evaluate<B: ReaderBackend>(
    reader: &Reader<B>,
    examples: &[QaExample],
    batch_size: usize,
) -> Result<(AnswerScores, Vec<ExamplePrediction>), ReaderError> {
    let predictions = reader.read(examples, DecodeSettings::default(), batch_size, &Unobserved)?;
    let truths: Vec<Vec<String>> = examples
        .iter()
        .map(|e| e.answers.iter().map(|a| a.text.clone()).collect())
        .collect();
    let scores = score(
        predictions
            .iter()
            .zip(&truths)
            .map(|(p, t)| (Some(p.answer.as_str()), t.as_slice())),
    );
    Ok((scores, predictions))
}
