//! Distinct answers over a question's passages: [`odqa_reader::distinct`]'s rule (a span
//! overlapping a better kept span of the same passage is folded into it, probabilities added, the
//! kept spans ranked by their sums) applied to pooled answers.

use crate::aggregate::Answer;

/// `answers` (best first) with the spans overlapping a better one of the same passage folded into
/// it, ranked by the summed probabilities.
pub fn fold(answers: &[Answer]) -> Vec<Answer> {
    let spans: Vec<((usize, &str), usize, usize)> = answers
        .iter()
        .map(|a| ((a.rank, a.passage_id.as_str()), a.start, a.end))
        .collect();
    let probabilities: Vec<f32> = answers.iter().map(|a| a.probability).collect();
    let groups = odqa_reader::distinct::groups(&spans);
    odqa_reader::distinct::folded(&groups, &probabilities)
        .into_iter()
        .map(|(i, probability)| Answer {
            probability,
            ..answers[i].clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(rank: usize, text: &str, start: usize, probability: f32) -> Answer {
        Answer {
            text: text.into(),
            probability,
            start_logit: 0.0,
            end_logit: 0.0,
            passage_id: format!("p{rank}"),
            title: String::new(),
            start,
            end: start + text.chars().count(),
            rank,
            retriever_score: 0.0,
        }
    }

    #[test]
    fn fragments_of_a_better_span_fold_into_it_across_passages_they_do_not() {
        let got = fold(&[
            answer(1, "10월 9일", 27, 0.30),
            answer(2, "1446년", 0, 0.28),
            answer(1, "10월", 27, 0.20),
            answer(2, "1446년 음력 9월", 0, 0.10),
            answer(3, "10월 9일", 27, 0.07),
            answer(1, "한글날", 35, 0.05),
        ]);
        let got: Vec<(usize, &str, f32)> = got
            .iter()
            .map(|a| (a.rank, a.text.as_str(), (a.probability * 100.0).round()))
            .collect();
        assert_eq!(
            got,
            [
                (1, "10월 9일", 50.0),
                (2, "1446년", 38.0),
                (3, "10월 9일", 7.0),
                (1, "한글날", 5.0)
            ]
        );
    }
}
