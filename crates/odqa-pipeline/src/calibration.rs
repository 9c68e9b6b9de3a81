//! Calibrated answer probabilities: a temperature fitted on a tuning split, the reliability of the
//! best answers' probabilities (bins of probability vs accuracy) and their expected calibration
//! error.
//!
//! The temperature `T` rescales a question's answer distribution as `p_i^(1/T) / Σ_j p_j^(1/T)`.
//! For the `logit` and `fusion` strategies, whose probabilities are a softmax of scores, that is
//! exactly the softmax of `score / T`. It never changes the order of the answers, so EM and F1
//! stay the same; only what the probabilities claim changes (`T > 1` softens, `T < 1` sharpens).

use serde::Serialize;

/// Applies temperature `t` to one question's answer probabilities (all of them, so that they
/// still sum to their previous total); `t = 1` or a non-positive `t` leaves them unchanged.
pub fn apply_temperature(probabilities: &mut [f32], t: f32) {
    if t == 1.0 || t <= 0.0 || !t.is_finite() || probabilities.is_empty() {
        return;
    }
    let total: f32 = probabilities.iter().sum();
    let logs: Vec<f32> = probabilities.iter().map(|p| p.ln() / t).collect();
    let max = logs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logs.iter().map(|l| (l - max).exp()).collect();
    let z: f32 = exp.iter().sum();
    for (p, e) in probabilities.iter_mut().zip(exp) {
        *p = total * e / z;
    }
}

/// One question for calibration: every answer's probability (best first, at `T = 1`) and whether
/// the best answer is right (KorQuAD exact match).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The answers' probabilities, best first.
    pub probabilities: Vec<f32>,
    /// The best answer matches a gold answer exactly.
    pub correct: bool,
}

impl Outcome {
    /// The best answer's probability at temperature `t`.
    pub fn top_probability(&self, t: f32) -> f32 {
        let mut p = self.probabilities.clone();
        apply_temperature(&mut p, t);
        p.first().copied().unwrap_or(0.0)
    }
}

/// One bin of a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    /// Lower bound of the bin's probabilities (inclusive).
    pub from: f32,
    /// Upper bound (exclusive; the last bin includes 1).
    pub to: f32,
    /// Questions whose best answer's probability falls in the bin.
    pub questions: usize,
    /// Their mean probability.
    pub mean_probability: f64,
    /// The fraction of them answered right.
    pub accuracy: f64,
}

/// The reliability table of `outcomes` at temperature `t`: `bins` equal-width bins over 0..=1.
pub fn reliability(outcomes: &[Outcome], t: f32, bins: usize) -> Vec<Bin> {
    let bins = bins.max(1);
    let mut table: Vec<(usize, f64, usize)> = vec![(0, 0.0, 0); bins];
    for o in outcomes {
        let p = o.top_probability(t).clamp(0.0, 1.0);
        let i = ((p * bins as f32) as usize).min(bins - 1);
        table[i].0 += 1;
        table[i].1 += f64::from(p);
        table[i].2 += usize::from(o.correct);
    }
    table
        .into_iter()
        .enumerate()
        .map(|(i, (n, sum, right))| Bin {
            from: i as f32 / bins as f32,
            to: (i + 1) as f32 / bins as f32,
            questions: n,
            mean_probability: if n == 0 { 0.0 } else { sum / n as f64 },
            accuracy: if n == 0 { 0.0 } else { right as f64 / n as f64 },
        })
        .collect()
}

/// Expected calibration error of a reliability table: the question-weighted mean of
/// |accuracy − mean probability| over the bins.
pub fn expected_calibration_error(table: &[Bin]) -> f64 {
    let total: usize = table.iter().map(|b| b.questions).sum();
    if total == 0 {
        return 0.0;
    }
    table
        .iter()
        .map(|b| b.questions as f64 * (b.accuracy - b.mean_probability).abs())
        .sum::<f64>()
        / total as f64
}

/// Mean negative log-likelihood of "the best answer is right" under its probability at `t`.
fn log_loss(outcomes: &[Outcome], t: f32) -> f64 {
    let eps = 1e-6;
    let sum: f64 = outcomes
        .iter()
        .map(|o| {
            let p = f64::from(o.top_probability(t)).clamp(eps, 1.0 - eps);
            if o.correct {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    sum / outcomes.len().max(1) as f64
}

/// The temperature in 0.05..=20 (a log-spaced grid of 301 points) with the lowest log loss of
/// the best answers' correctness; 1 when there is nothing to fit.
pub fn fit_temperature(outcomes: &[Outcome]) -> f32 {
    if outcomes.is_empty() {
        return 1.0;
    }
    let (lo, hi) = (0.05f64.ln(), 20f64.ln());
    let steps = 300;
    (0..=steps)
        .map(|i| (lo + (hi - lo) * i as f64 / steps as f64).exp() as f32)
        .map(|t| (t, log_loss(outcomes, t)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(1.0, |(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn softmax(scores: &[f32]) -> Vec<f32> {
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
        let z: f32 = e.iter().sum();
        e.iter().map(|x| x / z).collect()
    }

    #[test]
    fn temperature_equals_dividing_the_scores_and_keeps_the_order() {
        let scores = [4.0, 2.5, 1.0, -3.0];
        let mut p = softmax(&scores);
        apply_temperature(&mut p, 2.0);
        let want = softmax(&scores.map(|s| s / 2.0));
        for (a, b) in p.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{p:?} vs {want:?}");
        }
        assert!(p.windows(2).all(|w| w[0] >= w[1]));
        let mut same = softmax(&scores);
        apply_temperature(&mut same, 1.0);
        assert_eq!(same, softmax(&scores));
    }

    #[test]
    fn a_known_temperature_is_recovered() {
        // Questions whose best answer is right with probability softmax(scores / 3)[0]: the fit
        // must find T ≈ 3 from the T = 1 probabilities.
        let mut outcomes = Vec::new();
        for gap in 1..=12 {
            let scores = [gap as f32, 0.0, -1.0];
            let truth = softmax(&scores.map(|s| s / 3.0))[0];
            let n = 200;
            let right = (truth * n as f32).round() as usize;
            for i in 0..n {
                outcomes.push(Outcome {
                    probabilities: softmax(&scores),
                    correct: i < right,
                });
            }
        }
        let t = fit_temperature(&outcomes);
        assert!((t - 3.0).abs() < 0.3, "fitted {t}");
        let before = expected_calibration_error(&reliability(&outcomes, 1.0, 10));
        let after = expected_calibration_error(&reliability(&outcomes, t, 10));
        assert!(after < before / 3.0, "ECE {before} → {after}");
    }

    #[test]
    fn reliability_bins_count_every_question_once() {
        let o = |p: f32, correct| Outcome {
            probabilities: vec![p, 1.0 - p],
            correct,
        };
        let outcomes = [o(0.95, true), o(0.91, false), o(0.55, true), o(1.0, true)];
        let table = reliability(&outcomes, 1.0, 10);
        assert_eq!(table.iter().map(|b| b.questions).sum::<usize>(), 4);
        let top = &table[9];
        assert_eq!(top.questions, 3);
        assert!((top.accuracy - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(table[5].questions, 1);
        let ece = expected_calibration_error(&table);
        let want = (3.0 * (top.mean_probability - 2.0 / 3.0).abs() + (1.0 - 0.55f64).abs()) / 4.0;
        assert!((ece - want).abs() < 1e-6, "{ece} vs {want}");
    }
}
