//! Splitting long documents into overlapping passages.
//!
//! Windows are measured in characters or in whitespace-separated words. Character windows end at
//! a whitespace when one lies in the window's second half, so words are not cut in two; every
//! window records its character offset in the source document.

use serde::{Deserialize, Serialize};

/// How to split documents into passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "unit")]
pub enum SplitMode {
    /// Windows of at most `size` characters, consecutive windows sharing about `overlap`.
    Chars {
        /// Window size in characters.
        size: usize,
        /// Overlap in characters.
        overlap: usize,
    },
    /// Windows of `size` whitespace-separated words, consecutive windows sharing `overlap` words.
    Words {
        /// Window size in words.
        size: usize,
        /// Overlap in words.
        overlap: usize,
    },
}

impl SplitMode {
    /// Checks that the window is positive and larger than the overlap.
    pub fn validate(&self) -> Result<(), String> {
        let (size, overlap, unit) = match *self {
            SplitMode::Chars { size, overlap } => (size, overlap, "characters"),
            SplitMode::Words { size, overlap } => (size, overlap, "words"),
        };
        if size == 0 {
            return Err(format!("split size must be at least 1 {unit}"));
        }
        if overlap >= size {
            return Err(format!(
                "split overlap ({overlap}) must be smaller than the size ({size} {unit})"
            ));
        }
        Ok(())
    }
}

/// A window of a document: character offset and the text slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window<'a> {
    /// Offset of the window's first character in the document, in characters.
    pub char_offset: usize,
    /// The window's text.
    pub text: &'a str,
}

/// Splits `text` into windows. A text that fits one window comes back whole.
pub fn split(text: &str, mode: SplitMode) -> Vec<Window<'_>> {
    match mode {
        SplitMode::Chars { size, overlap } => split_chars(text, size, overlap),
        SplitMode::Words { size, overlap } => split_words(text, size, overlap),
    }
}

fn split_chars(text: &str, size: usize, overlap: usize) -> Vec<Window<'_>> {
    let size = size.max(1);
    // Byte offset of every character, plus the end.
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(b, _)| b)
        .chain([text.len()])
        .collect();
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let mut end = (start + size).min(n);
        if end < n {
            // End after the last whitespace in the window's second half, if any.
            let floor = start + size / 2;
            if let Some(ws) = (floor..end).rev().find(|&i| chars[i].is_whitespace()) {
                end = ws + 1;
            }
        }
        out.push(Window {
            char_offset: start,
            text: text[bounds[start]..bounds[end]].trim_end(),
        });
        if end >= n {
            break;
        }
        // Next window starts `overlap` characters back, moved forward to the start of a word.
        let mut next = end.saturating_sub(overlap).max(start + 1);
        if next > 0 && !chars[next - 1].is_whitespace() {
            if let Some(ws) = (next..end).find(|&i| chars[i].is_whitespace()) {
                next = ws + 1;
            }
        }
        while next < end && chars[next].is_whitespace() {
            next += 1;
        }
        start = next;
    }
    out
}

fn split_words(text: &str, size: usize, overlap: usize) -> Vec<Window<'_>> {
    let size = size.max(1);
    // (char offset, byte start, byte end) of every word.
    let mut words = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for (char_idx, (b, c)) in text.char_indices().enumerate() {
        if c.is_whitespace() {
            if let Some((ci, bs)) = current.take() {
                words.push((ci, bs, b));
            }
        } else if current.is_none() {
            current = Some((char_idx, b));
        }
    }
    if let Some((ci, bs)) = current {
        words.push((ci, bs, text.len()));
    }
    if words.len() <= size {
        return vec![Window {
            char_offset: 0,
            text,
        }];
    }
    let step = size - overlap.min(size - 1);
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let last = (i + size).min(words.len()) - 1;
        out.push(Window {
            char_offset: words[i].0,
            text: &text[words[i].1..words[last].2],
        });
        if last + 1 >= words.len() {
            break;
        }
        i += step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(size: usize, overlap: usize) -> SplitMode {
        SplitMode::Chars { size, overlap }
    }

    #[test]
    fn short_text_is_one_window() {
        assert_eq!(
            split("짧은 글", chars(100, 10)),
            vec![Window {
                char_offset: 0,
                text: "짧은 글"
            }]
        );
        let words = SplitMode::Words {
            size: 5,
            overlap: 1,
        };
        assert_eq!(split("a b c", words).len(), 1);
    }

    #[test]
    fn char_windows_cover_text_overlap_and_keep_offsets() {
        let text = "가나다 라마바 사아자 차카타 파하 가나다 라마바 사아자 차카타 파하";
        let windows = split(text, chars(12, 4));
        assert!(windows.len() > 2);
        let all: Vec<char> = text.chars().collect();
        for w in &windows {
            assert!(w.text.chars().count() <= 12, "{w:?}");
            // The offset points at the window's text in the original.
            let at: String = all[w.char_offset..w.char_offset + w.text.chars().count()]
                .iter()
                .collect();
            assert_eq!(at, w.text);
            // Windows start at word starts.
            assert!(w.char_offset == 0 || all[w.char_offset - 1] == ' ');
        }
        // Consecutive windows overlap or touch, and together reach the end.
        for pair in windows.windows(2) {
            let end = pair[0].char_offset + pair[0].text.chars().count();
            assert!(pair[1].char_offset <= end + 1 && pair[1].char_offset > pair[0].char_offset);
        }
        let last = windows.last().unwrap();
        assert_eq!(last.char_offset + last.text.chars().count(), all.len());
    }

    #[test]
    fn text_without_spaces_is_cut_at_the_size() {
        let text = "가".repeat(25);
        let windows = split(&text, chars(10, 2));
        let offsets: Vec<usize> = windows.iter().map(|w| w.char_offset).collect();
        assert_eq!(offsets, vec![0, 8, 16]);
        assert_eq!(windows[2].text.chars().count(), 9);
    }

    #[test]
    fn word_windows() {
        let text = "w0 w1 w2 w3 w4 w5 w6";
        let windows = split(
            text,
            SplitMode::Words {
                size: 3,
                overlap: 1,
            },
        );
        let texts: Vec<&str> = windows.iter().map(|w| w.text).collect();
        assert_eq!(texts, vec!["w0 w1 w2", "w2 w3 w4", "w4 w5 w6"]);
        assert_eq!(windows[1].char_offset, 6);
    }

    #[test]
    fn validate_rejects_overlap_not_smaller_than_size() {
        assert!(chars(10, 10).validate().is_err());
        assert!(chars(0, 0).validate().is_err());
        assert!(chars(10, 9).validate().is_ok());
    }
}
