//! Text analysis for Korean and English retrieval.
//!
//! Every analyzer starts the same way: Unicode NFKC, lowercasing, and splitting into word tokens
//! (maximal runs of letters, digits and combining marks). Then, by language:
//!
//! - **ko**: each word, plus the character bigrams of every run of two or more Hangul syllables
//!   inside it (CJK-bigram style: `대한민국의` → `대한민국의`, `대한`, `한민`, `민국`, `국의`), plus, when
//!   [`AnalyzerConfig::strip_josa`] is set, the word with a trailing particle or common
//!   predicate ending removed (`대한민국의` → `대한민국`, `설립되었다` → `설립`) by the rules of
//!   [`odqa_core::josa`] (the particle must fit the syllable before it; nouns such as `고양이`
//!   stay whole). Latin words are kept lowercased. (A dictionary morphological analyser such as
//!   lindera's ko-dic cannot be built offline; this light stemming measured +2.8 points of
//!   answer-recall@1 on the KorQuAD train questions, `scripts/ablation-retrieval.sh`.)
//! - **en**: each word, stemmed with the Snowball English stemmer.
//!
//! Words longer than [`MAX_WORD_CHARS`] characters are dropped (their bigrams are kept), so that a
//! 10 MB document without spaces cannot produce a term tantivy refuses.
//!
//! tantivy does not persist custom analyzers: the configuration is stored in the index's
//! `odqa-index.json` and [`register`] is called again every time an index is opened.

use odqa_core::josa::{self, is_hangul, Strip};
use serde::{Deserialize, Serialize};
use tantivy::tokenizer::{
    Language as StemLanguage, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer,
};
use unicode_normalization::UnicodeNormalization;

/// Name under which the odqa analyzer is registered in a tantivy index.
pub const TOKENIZER_NAME: &str = "odqa";

/// Longest word (in characters) kept as a term.
pub const MAX_WORD_CHARS: usize = 40;

/// Which language rules to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Korean: words + Hangul bigrams (+ optional particle stripping).
    Ko,
    /// English: words, Snowball-stemmed.
    En,
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Language::Ko => "ko",
            Language::En => "en",
        })
    }
}

/// The analyzer configuration recorded in an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzerConfig {
    /// Language rules.
    pub language: Language,
    /// Emit Hangul syllable bigrams (Korean only).
    #[serde(default = "yes")]
    pub hangul_bigrams: bool,
    /// Also emit Korean words with a trailing particle (josa) or common ending removed.
    #[serde(default)]
    pub strip_josa: bool,
}

fn yes() -> bool {
    true
}

impl AnalyzerConfig {
    /// The default configuration for a language.
    pub fn for_language(language: Language) -> Self {
        AnalyzerConfig {
            language,
            hangul_bigrams: true,
            strip_josa: true,
        }
    }

    /// Builds the tantivy analyzer.
    pub fn build(&self) -> TextAnalyzer {
        let tokenizer = OdqaTokenizer {
            config: *self,
            tokens: Vec::new(),
        };
        match self.language {
            Language::Ko => TextAnalyzer::builder(tokenizer).build(),
            Language::En => TextAnalyzer::builder(tokenizer)
                .filter(Stemmer::new(StemLanguage::English))
                .build(),
        }
    }

    /// The terms of `text`, in order (repeats included).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.build();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push(token.text.clone());
        }
        out
    }
}

/// Registers the analyzer of `config` in `index` under [`TOKENIZER_NAME`].
pub fn register(index: &tantivy::Index, config: &AnalyzerConfig) {
    index.tokenizers().register(TOKENIZER_NAME, config.build());
}

/// Guesses the language of a sample: Korean when at least 20 % of its letters are Hangul.
pub fn guess_language<'a>(texts: impl IntoIterator<Item = &'a str>) -> Language {
    let (mut hangul, mut letters) = (0usize, 0usize);
    for c in texts.into_iter().flat_map(str::chars) {
        if c.is_alphabetic() {
            letters += 1;
            if is_hangul(c) {
                hangul += 1;
            }
        }
    }
    if hangul * 5 >= letters && hangul > 0 {
        Language::Ko
    } else {
        Language::En
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
        // Combining marks (accents after NFKC leftovers, Indic and Thai vowel signs) stay in words.
        || matches!(c, '\u{0300}'..='\u{036F}' | '\u{0900}'..='\u{0DFF}' | '\u{0E00}'..='\u{0E7F}')
}

/// The tokenizer behind every odqa analyzer (stemming for English is a filter on top).
#[derive(Clone)]
struct OdqaTokenizer {
    config: AnalyzerConfig,
    tokens: Vec<Token>,
}

/// Tokens are computed eagerly into the tokenizer's buffer; the stream walks them.
struct OdqaTokenStream<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
}

impl TokenStream for OdqaTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl Tokenizer for OdqaTokenizer {
    type TokenStream<'a> = OdqaTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> OdqaTokenStream<'a> {
        self.tokens.clear();
        analyze_into(&self.config, text, &mut self.tokens);
        OdqaTokenStream {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

/// What every analyzer reads: `text` in NFKC, lowercased. Token offsets refer to this string.
pub fn normalize(text: &str) -> String {
    text.nfkc().flat_map(char::to_lowercase).collect()
}

/// Normalises `text` and appends its tokens. Offsets refer to the normalised text.
fn analyze_into(config: &AnalyzerConfig, text: &str, out: &mut Vec<Token>) {
    let normalized = normalize(text);
    let korean = config.language == Language::Ko;
    let mut position = 0;
    let mut push = |out: &mut Vec<Token>, from: usize, to: usize, term: &str| {
        out.push(Token {
            offset_from: from,
            offset_to: to,
            position,
            text: term.to_string(),
            position_length: 1,
        });
        position += 1;
    };
    let mut rest = normalized.as_str();
    let mut base = 0;
    while let Some(start) = rest.find(is_word_char) {
        let end = rest[start..]
            .find(|c| !is_word_char(c))
            .map_or(rest.len(), |e| start + e);
        let word = &rest[start..end];
        let (from, to) = (base + start, base + end);
        if word.chars().count() <= MAX_WORD_CHARS {
            push(out, from, to, word);
            if korean && config.strip_josa {
                if let Some(stem) = josa::strip(word, Strip::ParticlesAndEndings) {
                    push(out, from, from + stem.len(), stem);
                }
            }
        }
        if korean && config.hangul_bigrams {
            let chars: Vec<(usize, char)> = word.char_indices().collect();
            for (i, pair) in chars.windows(2).enumerate() {
                let ((b0, c0), (_, c1)) = (pair[0], pair[1]);
                if is_hangul(c0) && is_hangul(c1) {
                    let b2 = chars.get(i + 2).map_or(word.len(), |&(b, _)| b);
                    push(out, from + b0, from + b2, &word[b0..b2]);
                }
            }
        }
        base += end;
        rest = &rest[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ko() -> AnalyzerConfig {
        AnalyzerConfig::for_language(Language::Ko)
    }

    #[test]
    fn korean_words_bigrams_and_particles() {
        assert_eq!(
            ko().terms("대한민국의 수도"),
            [
                "대한민국의",
                "대한민국",
                "대한",
                "한민",
                "민국",
                "국의",
                "수도",
                "수도"
            ]
        );
        let plain = AnalyzerConfig {
            strip_josa: false,
            ..ko()
        };
        assert_eq!(
            plain.terms("대한민국의"),
            ["대한민국의", "대한", "한민", "민국", "국의"]
        );
    }

    #[test]
    fn particle_stripping_follows_the_josa_rules() {
        let terms = ko().terms("고양이가 민주주의 서울에서 나는 kbs의 음악작곡가");
        for want in ["고양이", "서울", "kbs"] {
            assert!(terms.iter().any(|t| t == want), "{want} in {terms:?}");
        }
        // Nouns that end like a particle, one syllable left, a batchim the particle cannot follow.
        for unwanted in ["민주주", "나", "음악작곡"] {
            assert!(
                !terms.iter().any(|t| t == unwanted),
                "{unwanted} in {terms:?}"
            );
        }
    }

    #[test]
    fn nfkc_lowercase_and_query_syntax_characters() {
        // Full-width letters fold, punctuation and operators split words, nothing panics.
        assert_eq!(
            ko().terms("ＡＢＣ \"Seoul\": (AND) -x^2~ *"),
            ["abc", "seoul", "and", "x", "2"]
        );
        assert!(ko().terms("  \t ").is_empty());
    }

    #[test]
    fn mixed_tokens_get_bigrams_of_their_hangul_runs() {
        assert_eq!(ko().terms("1980년대"), ["1980년대", "년대"]);
    }

    #[test]
    fn english_is_stemmed() {
        let en = AnalyzerConfig::for_language(Language::En);
        assert_eq!(en.terms("Running Cities"), ["run", "citi"]);
    }

    #[test]
    fn long_words_are_dropped_but_bigrams_kept() {
        let word = "가".repeat(MAX_WORD_CHARS + 1);
        let terms = ko().terms(&word);
        assert_eq!(terms.len(), MAX_WORD_CHARS);
        assert!(terms.iter().all(|t| t == "가가"));
        let latin = "a".repeat(100);
        assert!(ko().terms(&latin).is_empty());
    }

    #[test]
    fn guesses_language() {
        assert_eq!(
            guess_language(["이것은 한국어 문장입니다 with some English"]),
            Language::Ko
        );
        assert_eq!(guess_language(["This is English"]), Language::En);
        assert_eq!(guess_language([""]), Language::En);
    }
}
