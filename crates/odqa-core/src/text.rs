//! Text helpers shared by the crates.

/// Number of Unicode scalar values in `s` (Python's `len(s)`).
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Byte offset of the `char_idx`-th character of `s` (or `s.len()` past the end).
pub fn char_to_byte(s: &str, char_idx: usize) -> usize {
    s.char_indices().nth(char_idx).map_or(s.len(), |(b, _)| b)
}

/// A short single-line preview of `text`: whitespace collapsed, at most `max_chars` characters,
/// with an ellipsis when cut.
pub fn snippet(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    for word in text.split_whitespace() {
        if n > 0 {
            out.push(' ');
            n += 1;
        }
        for c in word.chars() {
            if n >= max_chars {
                out.push('…');
                return out;
            }
            out.push(c);
            n += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters_not_bytes() {
        let s = "대한민국 abc";
        assert_eq!(char_len(s), 8);
        assert_eq!(char_to_byte(s, 2), 6);
        assert_eq!(char_to_byte(s, 100), s.len());
    }

    #[test]
    fn snippet_collapses_whitespace_and_cuts() {
        assert_eq!(snippet("a  b\n\nc", 10), "a b c");
        assert_eq!(snippet("가나다라마바", 3), "가나다…");
    }
}
