//! Answer metrics, exactly as the official scripts compute them.
//!
//! - **KorQuAD v1.0** (`evaluate-v1.0.py`): quotes, `《》〈〉<>()‘’` → spaces, lowercase, ASCII
//!   punctuation removed, whitespace collapsed; EM on the normalised strings; F1 over the
//!   *characters* of the normalised tokens (multiset overlap).
//! - **SQuAD v1.1**: lowercase, ASCII punctuation removed, `a`/`an`/`the` words removed, whitespace
//!   collapsed; EM; F1 over whitespace tokens.
//!
//! Both take the maximum over the ground truths. Python's `str.lower`/`str.split` and `re`'s `\b`
//! are Unicode-aware, as are Rust's `to_lowercase`, `split_whitespace` and `regex`'s `\b`.

use std::collections::HashMap;
use std::sync::OnceLock;

/// KorQuAD v1.0 normalisation.
pub fn normalize_korquad(s: &str) -> String {
    let replaced: String = s
        .chars()
        .map(|c| {
            if matches!(
                c,
                '\'' | '"' | '《' | '》' | '<' | '>' | '〈' | '〉' | '(' | ')' | '‘' | '’'
            ) {
                ' '
            } else {
                c
            }
        })
        .collect();
    let lowered = replaced.to_lowercase();
    let no_punct: String = lowered
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    no_punct.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// SQuAD v1.1 normalisation.
pub fn normalize_squad(s: &str) -> String {
    static ARTICLES: OnceLock<regex::Regex> = OnceLock::new();
    let articles =
        ARTICLES.get_or_init(|| regex::Regex::new(r"\b(a|an|the)\b").expect("valid regex"));
    let no_punct: String = s
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    let no_articles = articles.replace_all(&no_punct, " ");
    no_articles.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// F1 of two multisets given as sequences.
fn overlap_f1<T: std::hash::Hash + Eq>(prediction: Vec<T>, truth: Vec<T>) -> f64 {
    let mut counts: HashMap<&T, (usize, usize)> = HashMap::new();
    for t in &prediction {
        counts.entry(t).or_default().0 += 1;
    }
    for t in &truth {
        counts.entry(t).or_default().1 += 1;
    }
    let same: usize = counts.values().map(|&(p, g)| p.min(g)).sum();
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / prediction.len() as f64;
    let recall = same as f64 / truth.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// KorQuAD v1.0 exact match of one pair.
pub fn korquad_em(prediction: &str, truth: &str) -> f64 {
    f64::from(u8::from(
        normalize_korquad(prediction) == normalize_korquad(truth),
    ))
}

/// KorQuAD v1.0 character F1 of one pair.
pub fn korquad_f1(prediction: &str, truth: &str) -> f64 {
    let chars = |s: &str| {
        normalize_korquad(s)
            .split_whitespace()
            .flat_map(str::chars)
            .collect::<Vec<char>>()
    };
    overlap_f1(chars(prediction), chars(truth))
}

/// SQuAD v1.1 exact match of one pair.
pub fn squad_em(prediction: &str, truth: &str) -> f64 {
    f64::from(u8::from(
        normalize_squad(prediction) == normalize_squad(truth),
    ))
}

/// SQuAD v1.1 token F1 of one pair.
pub fn squad_f1(prediction: &str, truth: &str) -> f64 {
    let tokens = |s: &str| {
        normalize_squad(s)
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<String>>()
    };
    overlap_f1(tokens(prediction), tokens(truth))
}

/// The best score of `prediction` against any of `truths` (0 when there is none).
pub fn max_over(metric: fn(&str, &str) -> f64, prediction: &str, truths: &[String]) -> f64 {
    truths
        .iter()
        .map(|t| metric(prediction, t))
        .fold(0.0, f64::max)
}

/// EM and F1 (both ×100) of both metrics over a set of questions.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnswerScores {
    /// KorQuAD v1.0 exact match, percent.
    pub korquad_em: f64,
    /// KorQuAD v1.0 character F1, percent.
    pub korquad_f1: f64,
    /// SQuAD v1.1 exact match, percent.
    pub squad_em: f64,
    /// SQuAD v1.1 token F1, percent.
    pub squad_f1: f64,
    /// Questions scored.
    pub questions: usize,
}

/// Scores `(prediction, ground truths)` pairs; a missing prediction (`None`) scores 0 and still
/// counts, as in the official scripts.
pub fn score<'a>(pairs: impl IntoIterator<Item = (Option<&'a str>, &'a [String])>) -> AnswerScores {
    let mut s = AnswerScores::default();
    for (prediction, truths) in pairs {
        s.questions += 1;
        let Some(prediction) = prediction else {
            continue;
        };
        s.korquad_em += max_over(korquad_em, prediction, truths);
        s.korquad_f1 += max_over(korquad_f1, prediction, truths);
        s.squad_em += max_over(squad_em, prediction, truths);
        s.squad_f1 += max_over(squad_f1, prediction, truths);
    }
    let n = s.questions.max(1) as f64;
    for v in [
        &mut s.korquad_em,
        &mut s.korquad_f1,
        &mut s.squad_em,
        &mut s.squad_f1,
    ] {
        *v *= 100.0 / n;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case of the reference file (official scripts' outputs), normalised strings included.
    #[test]
    fn matches_the_official_scripts_on_the_reference_cases() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/reader-parity/metrics-cases.json"
        );
        let cases: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let mut pairs = Vec::new();
        for case in cases["cases"].as_array().unwrap() {
            let id = case["id"].as_str().unwrap();
            let prediction = case["prediction"].as_str().unwrap();
            let truths: Vec<String> = case["ground_truths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            let k = &case["korquad"];
            assert_eq!(
                normalize_korquad(prediction),
                k["normalized_prediction"].as_str().unwrap(),
                "{id}"
            );
            let q = &case["squad"];
            assert_eq!(
                normalize_squad(prediction),
                q["normalized_prediction"].as_str().unwrap(),
                "{id}"
            );
            for (got, want) in [
                (
                    max_over(korquad_em, prediction, &truths),
                    k["em"].as_f64().unwrap(),
                ),
                (
                    max_over(korquad_f1, prediction, &truths),
                    k["f1"].as_f64().unwrap(),
                ),
                (
                    max_over(squad_em, prediction, &truths),
                    q["em"].as_f64().unwrap(),
                ),
                (
                    max_over(squad_f1, prediction, &truths),
                    q["f1"].as_f64().unwrap(),
                ),
            ] {
                assert!((got - want).abs() < 1e-9, "{id}: {got} vs {want}");
            }
            pairs.push((prediction.to_string(), truths));
        }
        let scores = score(pairs.iter().map(|(p, t)| (Some(p.as_str()), t.as_slice())));
        let aggregate = &cases["aggregate"];
        let official = &aggregate["korquad_official_evaluate"];
        assert!((scores.korquad_em - official["exact_match"].as_f64().unwrap()).abs() < 1e-9);
        assert!((scores.korquad_f1 - official["f1"].as_f64().unwrap()).abs() < 1e-9);
        assert!(
            (scores.squad_em
                - aggregate["squad_mean_x100"]["exact_match"]
                    .as_f64()
                    .unwrap())
            .abs()
                < 1e-9
        );
        assert!(
            (scores.squad_f1 - aggregate["squad_mean_x100"]["f1"].as_f64().unwrap()).abs() < 1e-9
        );
        assert_eq!(scores.questions, 52);
    }

    #[test]
    fn korquad_f1_is_by_character() {
        assert!(
            (korquad_f1("서울특별시", "서울") - 2.0 * (2.0 / 5.0) / (2.0 / 5.0 + 1.0)).abs()
                < 1e-12
        );
        assert_eq!(squad_f1("서울특별시", "서울"), 0.0);
        assert_eq!(max_over(korquad_em, "x", &[]), 0.0);
    }
}
