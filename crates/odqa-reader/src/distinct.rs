//! Distinct answers: the answers shown after the best one are other answers, not fragments of it
//! (asked when Hangul Day is, `10월 9일` and then `10월`, `10월 9일을 한글날`, `날인 10월 9일` …
//! are one answer).
//!
//! Going down spans ranked best first, a span whose character range overlaps that of a span
//! already kept from the same text (passage) is folded into it: its probability is added to the
//! kept span's — as the pipeline's `merge` strategy adds up spans of equal text — and it is not an
//! answer on its own. The kept spans are then ranked by their summed probabilities. `odqa read`,
//! the pipeline (`ask`, `predict`, `tune`, `serve`) and training-time evaluation all answer with
//! the first of these. On one passage the pipeline's probabilities are the reader's for the
//! `logit` strategy and for `fusion` at μ = 1 (without josa trimming, which moves span ends), so
//! `read` and `ask`/`predict` with one passage give the same answer; a μ below 1 flattens the
//! reader's distribution (that is what it does) and the sums of a region's fragments can then rank
//! regions otherwise (2 of 611 tuning-split questions at μ 0.9, 3 at 0.8, on their first passage).

use crate::decode::Candidate;

/// For spans `(text key, start, end)` (character offsets, end exclusive) ranked best first, the
/// index of the span each is folded into: itself when it overlaps no earlier kept span of the same
/// key, else the first such kept span. An empty range overlaps nothing.
pub fn groups<K: PartialEq>(spans: &[(K, usize, usize)]) -> Vec<usize> {
    // The kept spans of each key (a handful of passages), so a span is compared with its own
    // passage's kept spans only.
    let mut kept: Vec<(&K, Vec<usize>)> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    for (i, (key, start, end)) in spans.iter().enumerate() {
        let slot = match kept.iter().position(|(k, _)| *k == key) {
            Some(slot) => slot,
            None => {
                kept.push((key, Vec::new()));
                kept.len() - 1
            }
        };
        let into = kept[slot].1.iter().copied().find(|&k| {
            let (_, kept_start, kept_end) = spans[k];
            start < end && kept_start < kept_end && *start < kept_end && kept_start < *end
        });
        out.push(into.unwrap_or_else(|| {
            kept[slot].1.push(i);
            i
        }));
    }
    out
}

/// The kept spans of `groups` (from [`groups`]) with their summed `probabilities`, ranked by that
/// sum, best first (equal sums keep the spans' order): `(index of the kept span, probability)`.
pub fn folded(groups: &[usize], probabilities: &[f32]) -> Vec<(usize, f32)> {
    let mut totals = vec![0.0f32; groups.len()];
    for (&g, p) in groups.iter().zip(probabilities) {
        totals[g] += p;
    }
    let mut kept: Vec<(usize, f32)> = groups
        .iter()
        .enumerate()
        .filter(|&(i, &g)| g == i)
        .map(|(i, _)| (i, totals[i]))
        .collect();
    kept.sort_by(|a, b| b.1.total_cmp(&a.1));
    kept
}

/// The answer of one passage's candidates (best first, as [`crate::decode::trimmed`] gives them):
/// the kept span with the highest summed probability; `None` when there is no span (only the
/// `empty` placeholder).
pub fn best_candidate(candidates: &[Candidate]) -> Option<&Candidate> {
    let spans: Vec<((), usize, usize)> = candidates
        .iter()
        .map(|c| ((), c.start.unwrap_or(0), c.end.unwrap_or(0)))
        .collect();
    let probabilities: Vec<f32> = candidates.iter().map(|c| c.probability).collect();
    folded(&groups(&spans), &probabilities)
        .first()
        .map(|&(i, _)| &candidates[i])
        .filter(|c| !c.is_placeholder())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_fold_into_the_first_kept_span_they_overlap() {
        // "대한민국에서는 … 날인 10월 9일을 한글날로": 10월 9일 at 27..33 of passage 1.
        let spans = [
            (1, 27, 33), // 10월 9일
            (1, 27, 30), // 10월: folded
            (2, 27, 33), // the same range in another passage: kept
            (1, 24, 33), // 날인 10월 9일: folded
            (1, 35, 38), // 한글날: kept
            (1, 31, 36), // 9일을 한: overlaps 10월 9일 first
            (1, 33, 35), // 을로: touches both, overlaps neither
            (1, 30, 30), // empty, inside 10월 9일: overlaps nothing
            (1, 29, 32), // 월 9: folded into 10월 9일, not into the empty span
        ];
        assert_eq!(groups(&spans), [0, 0, 2, 0, 4, 0, 6, 7, 0]);
    }

    #[test]
    fn kept_spans_are_ranked_by_their_summed_probability() {
        let groups = [0, 1, 1, 1, 4];
        let probabilities = [0.3, 0.25, 0.2, 0.1, 0.15];
        let got = folded(&groups, &probabilities);
        let got: Vec<(usize, f32)> = got.iter().map(|&(i, p)| (i, (p * 100.0).round())).collect();
        assert_eq!(got, [(1, 55.0), (0, 30.0), (4, 15.0)]);
        assert_eq!(folded(&[], &[]), []);
    }

    #[test]
    fn the_best_candidate_is_the_best_region() {
        let candidate = |text: &str, start: usize, probability: f32| Candidate {
            last_token_start: None,
            text: text.into(),
            start_logit: 0.0,
            end_logit: 0.0,
            score: 0.0,
            probability,
            start: Some(start),
            end: Some(start + text.chars().count()),
            window: None,
        };
        // 1446년 alone (.4) against 10월 9일 with its fragments (.35 + .15 + .1).
        let nbest = [
            candidate("1446년", 0, 0.4),
            candidate("10월 9일", 20, 0.35),
            candidate("10월", 20, 0.15),
            candidate("날인 10월 9일", 17, 0.1),
        ];
        assert_eq!(best_candidate(&nbest).unwrap().text, "10월 9일");
        assert_eq!(best_candidate(&nbest[..2]).unwrap().text, "1446년");
        let mut empty = candidate("empty", 0, 1.0);
        (empty.start, empty.end) = (None, None);
        assert!(best_candidate(&[empty]).is_none());
        assert!(best_candidate(&[]).is_none());
    }
}
