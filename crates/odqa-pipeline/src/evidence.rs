//! The sentence of a passage that holds an answer, for showing evidence.

use serde::Serialize;

/// An answer's sentence: the text before the answer, the answer, the text after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Sentence text before the answer.
    pub before: String,
    /// The answer as it appears in the passage.
    pub answer: String,
    /// Sentence text after the answer.
    pub after: String,
}

impl Evidence {
    /// The whole sentence.
    pub fn sentence(&self) -> String {
        format!("{}{}{}", self.before, self.answer, self.after)
    }
}

/// True when the character at `i` ends a sentence: `.`, `?`, `!`, `。` followed by whitespace or
/// the end of the text (so `1.5` and `U.S.A` stay whole), or a line break.
fn ends_sentence(chars: &[char], i: usize) -> bool {
    match chars[i] {
        '\n' => true,
        '.' | '?' | '!' | '。' => chars.get(i + 1).is_none_or(|c| c.is_whitespace()),
        _ => false,
    }
}

/// The sentence of `text` around the character span `[start, end)`, split around it. Spans past
/// the text are clamped.
pub fn evidence(text: &str, start: usize, end: usize) -> Evidence {
    let chars: Vec<char> = text.chars().collect();
    let end = end.min(chars.len());
    let start = start.min(end);
    let mut from = start;
    while from > 0 && !ends_sentence(&chars, from - 1) {
        from -= 1;
    }
    while from < start && chars[from].is_whitespace() {
        from += 1;
    }
    let mut to = end;
    let answer_ends_sentence = end > start && ends_sentence(&chars, end - 1);
    while to < chars.len() && !answer_ends_sentence {
        to += 1;
        if ends_sentence(&chars, to - 1) {
            break;
        }
    }
    let collect = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
    Evidence {
        before: collect(from, start),
        answer: collect(start, end),
        after: collect(end, to).trim_end().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_sentence_around_the_answer() {
        let text = "첫 문장이다. 세종은 1.5배 많은 1443년에 훈민정음을 만들었다. 마지막 문장.";
        let start = text[..text.find("1443").unwrap()].chars().count();
        let e = evidence(text, start, start + 4);
        assert_eq!(e.answer, "1443");
        assert_eq!(e.before, "세종은 1.5배 많은 ");
        assert_eq!(e.after, "년에 훈민정음을 만들었다.");
        assert_eq!(
            e.sentence(),
            "세종은 1.5배 많은 1443년에 훈민정음을 만들었다."
        );
    }

    #[test]
    fn handles_passage_edges_and_bad_spans() {
        let e = evidence("서울은 수도", 0, 2);
        assert_eq!(
            (e.before.as_str(), e.answer.as_str(), e.after.as_str()),
            ("", "서울", "은 수도")
        );
        let e = evidence("abc.", 7, 9);
        assert_eq!(e.sentence(), "", "a span past the end holds nothing");
        let e = evidence("one. two\nthree", 5, 8);
        assert_eq!(e.sentence(), "two");
    }
}
