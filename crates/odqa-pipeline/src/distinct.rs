//! Distinct answers: the answers shown after the best one are other answers, not fragments of it
//! (asked when Hangul Day is, `10월 9일` and then `10월`, `10월 9일을 한글날`, `날인 10월 9일` …
//! are one answer).
//!
//! Going down the ranked spans, a span whose character range overlaps that of a span already kept
//! from the same passage is a fragment or an extension of it and is not shown. The kept spans keep
//! the strategy's order and their own probabilities, so the first answer is always the best span
//! (as `odqa read` answers) and a shown probability stays the probability of that exact span.
//! Adding the hidden spans' probabilities to the kept one and re-ranking by the sums was measured
//! and rejected (README, "Distinct answers").

use crate::aggregate::Answer;

/// For spans `(text key, start, end)` (character offsets, end exclusive) ranked best first, whether
/// each is kept: it overlaps no earlier kept span of the same key. An empty range overlaps nothing.
fn kept<K: PartialEq>(spans: &[(K, usize, usize)]) -> Vec<bool> {
    // The kept ranges of each key (a handful of passages), so a span is compared with its own
    // passage's kept spans only.
    let mut ranges: Vec<(&K, Vec<(usize, usize)>)> = Vec::new();
    spans
        .iter()
        .map(|(key, start, end)| {
            let slot = match ranges.iter().position(|(k, _)| *k == key) {
                Some(slot) => slot,
                None => {
                    ranges.push((key, Vec::new()));
                    ranges.len() - 1
                }
            };
            let overlaps = ranges[slot]
                .1
                .iter()
                .any(|&(s, e)| start < end && s < e && *start < e && s < *end);
            if !overlaps {
                ranges[slot].1.push((*start, *end));
            }
            !overlaps
        })
        .collect()
}

/// `answers` (best first) without the spans that overlap a better one of the same passage.
pub fn distinct(answers: &[Answer]) -> Vec<Answer> {
    let spans: Vec<((usize, &str), usize, usize)> = answers
        .iter()
        .map(|a| ((a.rank, a.passage_id.as_str()), a.start, a.end))
        .collect();
    answers
        .iter()
        .zip(kept(&spans))
        .filter(|(_, kept)| *kept)
        .map(|(a, _)| a.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_of_a_kept_span_are_not_kept() {
        // "대한민국에서는 … 날인 10월 9일을 한글날로": 10월 9일 at 27..33 of passage 1.
        let spans = [
            (1, 27, 33), // 10월 9일
            (1, 27, 30), // 10월: hidden
            (2, 27, 33), // the same range in another passage: kept
            (1, 24, 33), // 날인 10월 9일: hidden
            (1, 35, 38), // 한글날: kept
            (1, 31, 36), // 9일을 한: overlaps 10월 9일 and 한글날: hidden
            (1, 33, 35), // "을 ": touches both, overlaps neither: kept
            (1, 30, 30), // empty, inside 10월 9일: overlaps nothing: kept
            (1, 29, 32), // 월 9: hidden by 10월 9일
            (1, 40, 40), // empty: kept
            (1, 38, 42), // overlaps only the empty 40..40, which overlaps nothing: kept
        ];
        assert_eq!(
            kept(&spans),
            [true, false, true, false, true, false, true, true, false, true, true]
        );
    }

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
    fn fragments_of_a_better_span_are_hidden_across_passages_they_are_not() {
        let got = distinct(&[
            answer(1, "10월 9일", 27, 0.30),
            answer(2, "1446년", 0, 0.28),
            answer(1, "10월", 27, 0.20),
            answer(2, "1446년 음력 9월", 0, 0.10),
            answer(3, "10월 9일", 27, 0.07),
            answer(1, "한글날", 35, 0.05),
        ]);
        let got: Vec<(usize, &str, f32)> = got
            .iter()
            .map(|a| (a.rank, a.text.as_str(), a.probability))
            .collect();
        assert_eq!(
            got,
            [
                (1, "10월 9일", 0.30),
                (2, "1446년", 0.28),
                (3, "10월 9일", 0.07),
                (1, "한글날", 0.05)
            ]
        );
    }
}
