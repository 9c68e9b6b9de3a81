//! Span decoding, exactly as Hugging Face's `utils_qa.postprocess_qa_predictions` (SQuAD v1 mode):
//! per window the `n_best` highest start and end logits over all positions; pairs kept when both
//! tokens are context tokens, end ≥ start and the span is at most `max_answer_len` tokens; the
//! candidates of all windows sorted by start + end logit (float32, stable) and the first `n_best`
//! kept; text cut from the context by character offsets; probability = softmax over the kept
//! scores. With no candidate the single entry `empty` (no offsets) is returned, as transformers does.
//! One addition, off by default: a length penalty taken off each span's score per token after its
//! first ([`DecodeSettings::length_penalty`]); another, also off by default: a year question's
//! date answered with its year ([`DecodeSettings::year_answers`]).

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::features::Feature;

mod korean;
mod question;

pub use korean::inner_particle;
use korean::takes_particles_in;
pub use question::{asks_for_year, year_in, year_of_date};

/// Decoding settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeSettings {
    /// Candidates per example (and start/end indices per window).
    pub n_best: usize,
    /// Longest answer in tokens.
    pub max_answer_len: usize,
    /// Taken off a span's score for each token after its first (0 = transformers' ranking): a
    /// reader that tends to answer `2008년 9월` or `박정희 대통령` where the gold answer is
    /// `2008년` or `박정희` gets a prior towards the shorter span. Finite, at least 0.
    pub length_penalty: f32,
    /// A question that asks for a year ([`asks_for_year`]: `설립한 연도는?`, `몇 년도에`) answered
    /// with a full date gets the date's year ([`year_of_date`]: `1993년 11월 23일` → `1993년`):
    /// KorQuAD's convention, not TyDi QA's.
    pub year_answers: bool,
}

impl Default for DecodeSettings {
    fn default() -> Self {
        DecodeSettings {
            n_best: 20,
            max_answer_len: 30,
            length_penalty: 0.0,
            year_answers: false,
        }
    }
}

impl DecodeSettings {
    /// Whether [`trimmed`] cuts `question`'s date answers to their year: the setting is on and
    /// the question asks for a year.
    pub fn year_question(&self, question: &str) -> bool {
        self.year_answers && asks_for_year(question)
    }

    /// What the length penalty takes off the span from token `s` to token `e` (inclusive).
    fn penalty(&self, s: usize, e: usize) -> f32 {
        self.length_penalty * (e - s) as f32
    }

    /// What is wrong with the settings, if anything: `n_best` and `max_answer_len` are at least 1,
    /// `length_penalty` finite and at least 0.
    pub fn problem(&self) -> Option<&'static str> {
        if self.n_best == 0 {
            Some("n_best must be at least 1")
        } else if self.max_answer_len == 0 {
            Some("max_answer_len must be at least 1")
        } else if !length_penalty_ok(self.length_penalty) {
            Some("length_penalty must be a finite number of at least 0")
        } else {
            None
        }
    }
}

/// One answer candidate. Serialized as an entry of `odqa read`'s n-best file: `text` (`""` for
/// the placeholder), `start_logit`, `end_logit`, `score`, `probability`, `start`, `end`.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The answer text (`"empty"` for the no-candidate placeholder).
    pub text: String,
    /// Start logit.
    pub start_logit: f32,
    /// End logit.
    pub end_logit: f32,
    /// start_logit + end_logit − length_penalty ([`ranking_score`]).
    pub score: f32,
    /// What the length penalty took off the score (0 without one).
    pub length_penalty: f32,
    /// Softmax of the score over the example's kept candidates.
    pub probability: f32,
    /// Character offset of the answer in the context (`None` for the placeholder).
    pub start: Option<usize>,
    /// End character offset (exclusive).
    pub end: Option<usize>,
    /// Index of the window (among the example's features) and token positions.
    pub window: Option<(usize, usize, usize)>,
    /// Character offset where the span's last token begins: a particle after it lies inside that
    /// token (`▁비블로스는`), where no token boundary lets the model end the span before it. `None`
    /// when nothing may be cut (no particle, no `간` after a duration: [`inner_particle`]): no
    /// token information, or a last word that the passage shows taking a particle (`실용주의'를`,
    /// the span's own place included), i.e. a noun.
    pub last_token_start: Option<usize>,
}

/// A span's score: start + end logit (transformers' float32 sum) less what the length penalty
/// takes off; the one formula of the reader's and the open-domain pipeline's ranking.
/// (`x − 0` is `x` bit for bit, so without a penalty this is transformers' score.)
pub fn ranking_score(start_logit: f32, end_logit: f32, length_penalty: f32) -> f32 {
    start_logit + end_logit - length_penalty
}

/// Whether `value` can be a length penalty: finite and at least 0.
pub fn length_penalty_ok(value: f32) -> bool {
    value.is_finite() && value >= 0.0
}

impl Candidate {
    /// True for transformers' `empty` placeholder (no span found).
    pub fn is_placeholder(&self) -> bool {
        self.start.is_none()
    }
}

impl Serialize for Candidate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entry = serializer.serialize_struct("Candidate", 7)?;
        let text = if self.is_placeholder() {
            ""
        } else {
            &self.text
        };
        entry.serialize_field("text", text)?;
        entry.serialize_field("start_logit", &self.start_logit)?;
        entry.serialize_field("end_logit", &self.end_logit)?;
        entry.serialize_field("score", &self.score)?;
        entry.serialize_field("probability", &self.probability)?;
        entry.serialize_field("start", &self.start)?;
        entry.serialize_field("end", &self.end)?;
        entry.end()
    }
}

/// Indices of the `n` largest values, largest first, as `np.argsort(x)[-1:-n-1:-1]` (stable
/// ascending sort, read backwards: among equal values the later index comes first).
fn top_indices(values: &[f32], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    order.into_iter().rev().take(n).collect()
}

/// Decodes one example from its windows: `(feature, start_logits, end_logits)`; the window index
/// recorded in candidates is the position in `windows`.
pub fn decode_example(
    context: &str,
    windows: &[(&Feature, &[f32], &[f32])],
    settings: DecodeSettings,
) -> Vec<Candidate> {
    let mut prelim: Vec<Candidate> = Vec::new();
    for (w, (feature, start_logits, end_logits)) in windows.iter().enumerate() {
        let starts = top_indices(start_logits, settings.n_best);
        let ends = top_indices(end_logits, settings.n_best);
        for &s in &starts {
            for &e in &ends {
                let (Some((start_char, _)), Some((last_start, end_char))) =
                    (feature.context_offset(s), feature.context_offset(e))
                else {
                    continue;
                };
                if e < s || e - s + 1 > settings.max_answer_len {
                    continue;
                }
                let length_penalty = settings.penalty(s, e);
                prelim.push(Candidate {
                    text: String::new(),
                    start_logit: start_logits[s],
                    end_logit: end_logits[e],
                    score: ranking_score(start_logits[s], end_logits[e], length_penalty),
                    length_penalty,
                    probability: 0.0,
                    start: Some(start_char),
                    end: Some(end_char),
                    window: Some((w, s, e)),
                    last_token_start: Some(last_start),
                });
            }
        }
    }
    // Stable sort, highest score first (Python's sorted(reverse=True) keeps ties in order).
    prelim.sort_by(|a, b| b.score.total_cmp(&a.score));
    prelim.truncate(settings.n_best);
    if !prelim.is_empty() {
        let chars: Vec<(usize, char)> = context.char_indices().collect();
        let byte_at = |c: usize| chars.get(c).map_or(context.len(), |&(b, _)| b);
        for candidate in &mut prelim {
            let (s, e) = (candidate.start.unwrap_or(0), candidate.end.unwrap_or(0));
            candidate.text = if s < e {
                context[byte_at(s)..byte_at(e)].to_string()
            } else {
                String::new()
            };
            if takes_particles_in(context, &candidate.text) {
                candidate.last_token_start = None;
            }
        }
    }
    if prelim.is_empty() || (prelim.len() == 1 && prelim[0].text.is_empty()) {
        prelim.insert(0, placeholder());
    }
    set_probabilities(&mut prelim);
    prelim
}

/// An example's no-answer score: the smallest start + end logit of the first position ([CLS],
/// `<s>`) over its windows, as transformers' SQuAD 2.0 post-processing takes it. Windows whose
/// answer lies elsewhere are trained towards that position, so a passage's best span score less
/// this says how much the reader prefers a span there to "not in this window". Windows whose
/// first position is a question or context token (a tokenizer without special tokens) have no
/// such score; `None` when no window has one.
pub fn null_score(windows: &[(&Feature, &[f32], &[f32])]) -> Option<f32> {
    windows
        .iter()
        .filter(|(f, _, _)| f.sequence_ids.first() == Some(&None))
        .filter_map(|(_, s, e)| Some(s.first()? + e.first()?))
        .reduce(f32::min)
}

/// transformers' `empty` candidate: no span found.
fn placeholder() -> Candidate {
    Candidate {
        text: "empty".into(),
        start_logit: 0.0,
        end_logit: 0.0,
        score: 0.0,
        length_penalty: 0.0,
        probability: 0.0,
        start: None,
        end: None,
        window: None,
        last_token_start: None,
    }
}

/// Version of the rules that turn logits into span texts ([`decode_example`], [`trimmed`]): saved
/// reads (`odqa tune --cache`) record it and are refused when it differs. 1: the particle cut
/// inside a span's last token; 2: not for a word the passage shows taking a particle; 3: a
/// particle that can follow the word's own is no such evidence, and a duration's `간`/`만` goes;
/// 4: `만` also when spaced (`1년 만`); 5: year answers ([`DecodeSettings::year_answers`]) see
/// through a particle, drop the spans inside a cut date, and know fewer questions and dates.
pub const DECODING_VERSION: u32 = 5;

/// Probability of each candidate: softmax of the scores over the list.
fn set_probabilities(candidates: &mut [Candidate]) {
    let max = candidates
        .iter()
        .map(|c| c.score)
        .fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = candidates.iter().map(|c| (c.score - max).exp()).collect();
    let total: f32 = exp.iter().sum();
    for (candidate, e) in candidates.iter_mut().zip(exp) {
        candidate.probability = e / total;
    }
}

/// The spans as odqa reports them (`odqa read`, `ask`, `predict`, `tune`, `serve`, training-time
/// evaluation): spaces around each text trimmed with its offsets moved accordingly (SentencePiece
/// offsets include the space before a word), a Korean particle cut off where it lies inside the
/// span's last token and a duration's `간` or `만` after it ([`inner_particle`]; neither when
/// [`decode_example`] found the passage showing the last word taking a particle), blank spans
/// dropped, a span that trimming made equal to
/// a better one dropped, and the probabilities recomputed over what is left. With nothing left,
/// the `empty` placeholder alone. For a `year_question` ([`DecodeSettings::year_question`]) a
/// span that is a full date, with or without a particle, keeps its year alone ([`year_in`]), and
/// worse spans inside such a date (`11월 23일`) are dropped: they are not alternatives to it.
pub fn trimmed(candidates: Vec<Candidate>, year_question: bool) -> Vec<Candidate> {
    let mut kept: Vec<Candidate> = Vec::with_capacity(candidates.len());
    // Character ranges of the dates cut to their year.
    let mut dates: Vec<(usize, usize)> = Vec::new();
    for mut c in candidates {
        let Some(start) = c.start else { continue };
        let text = c.text.trim();
        if text.is_empty() {
            continue;
        }
        let start = start + c.text.chars().count() - c.text.trim_start().chars().count();
        let text = inner_particle(text, start, c.last_token_start);
        let date = (start, start + text.chars().count());
        let year = year_question.then(|| year_in(text)).flatten();
        let text = year.unwrap_or(text);
        let end = start + text.chars().count();
        let inside_a_date = dates.iter().any(|&(s, e)| s <= start && end <= e);
        if inside_a_date
            || kept
                .iter()
                .any(|k| (k.start, k.end) == (Some(start), Some(end)))
        {
            continue;
        }
        if year.is_some() {
            dates.push(date);
        }
        c.text = text.to_string();
        (c.start, c.end) = (Some(start), Some(end));
        kept.push(c);
    }
    if kept.is_empty() {
        kept.push(placeholder());
    }
    set_probabilities(&mut kept);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_span_equal_to_a_better_one_is_dropped() {
        let span = |text: &str, score: f32, last: usize| Candidate {
            text: text.into(),
            start_logit: score,
            end_logit: 0.0,
            score,
            length_penalty: 0.0,
            probability: 0.0,
            start: Some(0),
            end: Some(text.chars().count()),
            window: None,
            last_token_start: Some(last),
        };
        let kept = trimmed(vec![span("서울", 2.0, 0), span("서울에서", 1.0, 0)], false);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].text, "서울");
        assert!((kept[0].probability - 1.0).abs() < 1e-6);
    }

    /// A window over `2008년 9월`: [CLS] `2008년` `▁9월` [SEP], the context tokens at characters
    /// 0–5 and 5–8 (a SentencePiece token's offsets include the space before it).
    fn date_window() -> Feature {
        Feature {
            example_index: 0,
            input_ids: vec![0; 4],
            token_type_ids: vec![0; 4],
            attention_mask: vec![1; 4],
            offsets: vec![(0, 0), (0, 5), (5, 8), (0, 0)],
            sequence_ids: vec![None, Some(1), Some(1), None],
            start_position: None,
            end_position: None,
        }
    }

    /// `2008년 9월` decoded from [`date_window`]: starting at `2008년` is likely, and ending at
    /// `9월` a little more likely than ending at `2008년`.
    fn decoded_date(settings: DecodeSettings) -> Vec<Candidate> {
        let feature = date_window();
        let starts = [0.0, 5.0, 1.0, 0.0];
        let ends = [0.0, 4.0, 4.2, 0.0];
        decode_example(
            "2008년 9월",
            &[(&feature, &starts[..], &ends[..])],
            settings,
        )
    }

    #[test]
    fn the_null_score_is_the_smallest_first_position_score_over_the_windows() {
        let feature = date_window();
        let (s1, e1) = ([1.5, 5.0, 1.0, 0.0], [2.0, 4.0, 4.2, 0.0]);
        let (s2, e2) = ([-1.0, 5.0, 1.0, 0.0], [0.5, 4.0, 4.2, 0.0]);
        let one = [(&feature, &s1[..], &e1[..])];
        assert_eq!(null_score(&one), Some(3.5));
        let two = [one[0], (&feature, &s2[..], &e2[..])];
        assert_eq!(null_score(&two), Some(-0.5));
        assert_eq!(null_score(&[]), None);
        let no_cls = Feature {
            sequence_ids: vec![Some(0), Some(1), Some(1), None],
            ..date_window()
        };
        assert_eq!(null_score(&[(&no_cls, &s1[..], &e1[..])]), None);
    }

    #[test]
    fn a_length_penalty_prefers_the_shorter_span_only_when_asked() {
        let best = |length_penalty: f32| {
            let settings = DecodeSettings {
                length_penalty,
                ..DecodeSettings::default()
            };
            let candidates = decoded_date(settings);
            (candidates[0].text.clone(), candidates[0].score)
        };
        assert_eq!(best(0.0), ("2008년 9월".to_string(), 9.2));
        // One token more costs 0.3: `2008년` (score 9.0) wins over 9.2 − 0.3.
        assert_eq!(best(0.3), ("2008년".to_string(), 9.0));
        // 0.1 is not enough to overturn a 0.2 lead.
        assert_eq!(best(0.1).0, "2008년 9월");
    }

    #[test]
    fn a_year_question_keeps_the_year_of_a_date_only_when_asked() {
        let decoded = decoded_date(DecodeSettings::default());
        let texts = |kept: &[Candidate]| -> Vec<(String, Option<usize>, Option<usize>)> {
            kept.iter()
                .map(|c| (c.text.clone(), c.start, c.end))
                .collect()
        };
        let whole = trimmed(decoded.clone(), false);
        assert_eq!(whole[0].text, "2008년 9월");
        assert_eq!(whole.len(), 3, "{:?}", texts(&whole));
        // The date's year takes the date's place; the span `2008년` below it is the same span,
        // and `9월`, inside the date, is no alternative to it.
        let year = trimmed(decoded, true);
        assert_eq!(texts(&year), [("2008년".to_string(), Some(0), Some(5))]);
        let on = DecodeSettings {
            year_answers: true,
            ..DecodeSettings::default()
        };
        assert!(on.year_question("설립한 연도는?"));
        assert!(!on.year_question("설립한 날짜는?"));
        assert!(!DecodeSettings::default().year_question("설립한 연도는?"));
    }
}
