//! Korean particles (josa) and common predicate endings: the one list odqa strips, for answer spans
//! (`서울에서` → `서울`, `1948년에` → `1948년`) and for retrieval terms (`대한민국의` → `대한민국`,
//! `설립되었다` → `설립`).
//!
//! A suffix is removed only when
//! - what remains is at least two characters;
//! - the character before it is one the suffix can follow: `이/은/을/과/으로…` need a final
//!   consonant (batchim) before them, `가/는/를/와/로…` need none (`로` also follows ㄹ). This keeps
//!   nouns such as `작곡가` (곡 has a batchim, so `가` is not a particle there) or `세종로`;
//! - the word is not a noun that merely ends like a particle (`민주주의`, `고양이`, `원숭이`): such
//!   nouns are listed in `josa-nouns.txt`, generated from a Korean Wikipedia corpus by
//!   `cargo run --release -p odqa-core --example josa-lexicon` (a word is listed when it is itself
//!   followed by a subject or object particle, `고양이가`, `민주주의를`, at least three times).
//!   A compound ending in a listed noun (`자유민주주의`) is kept too.

use std::collections::HashSet;
use std::sync::OnceLock;

/// Which suffixes a caller removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strip {
    /// Case particles and the copula, for the end of an answer span (`서울에서` → `서울`). Auxiliary
    /// particles (`도`, `만`, `처럼`…) stay: `경기도` is an answer, not `경기` + `도`.
    Particles,
    /// Every particle and the common predicate endings, for retrieval terms (`설립되었다` → `설립`).
    ParticlesAndEndings,
}

/// What a suffix is, which decides who strips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A case particle or the copula: stripped from answers and retrieval terms.
    Particle,
    /// An auxiliary particle (`도`, `만`, `처럼`…): retrieval terms only.
    Auxiliary,
    /// A predicate ending (`되었다`, `하는`, `인`…): retrieval terms only.
    Ending,
}

/// What a suffix requires of the character before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Batchim {
    /// Any Hangul syllable, digit or letter (`1948년에`, `KBS의`).
    Any,
    /// A syllable with a final consonant (or a digit: pronunciation unknown).
    Final,
    /// A syllable without a final consonant (or a digit).
    None,
    /// Without a final consonant, or with ㄹ (or a digit).
    NoneOrRieul,
}

/// The suffixes, longest first, so that `에서는` wins over `는`; when a suffix does not fit the
/// character before it, the next (shorter) one is tried.
const SUFFIXES: &[(&str, Batchim, Kind)] = &[
    ("에서부터", Batchim::Any, Kind::Particle),
    ("으로부터", Batchim::Final, Kind::Particle),
    ("하였다", Batchim::Any, Kind::Ending),
    ("되었다", Batchim::Any, Kind::Ending),
    ("이었다", Batchim::Final, Kind::Ending),
    ("에서는", Batchim::Any, Kind::Particle),
    ("에서도", Batchim::Any, Kind::Particle),
    ("에서의", Batchim::Any, Kind::Particle),
    ("으로는", Batchim::Final, Kind::Particle),
    ("으로도", Batchim::Final, Kind::Particle),
    ("으로서", Batchim::Final, Kind::Particle),
    ("으로써", Batchim::Final, Kind::Particle),
    ("이라는", Batchim::Final, Kind::Particle),
    ("이라고", Batchim::Final, Kind::Particle),
    ("에게서", Batchim::Any, Kind::Particle),
    ("한테서", Batchim::Any, Kind::Particle),
    ("로부터", Batchim::NoneOrRieul, Kind::Particle),
    ("까지는", Batchim::Any, Kind::Particle),
    ("에서", Batchim::Any, Kind::Particle),
    ("에게", Batchim::Any, Kind::Particle),
    ("한테", Batchim::Any, Kind::Particle),
    ("께서", Batchim::Any, Kind::Particle),
    ("으로", Batchim::Final, Kind::Particle),
    ("로는", Batchim::NoneOrRieul, Kind::Particle),
    ("로서", Batchim::NoneOrRieul, Kind::Particle),
    ("로써", Batchim::NoneOrRieul, Kind::Particle),
    ("라는", Batchim::None, Kind::Particle),
    ("라고", Batchim::None, Kind::Particle),
    ("까지", Batchim::Any, Kind::Particle),
    ("부터", Batchim::Any, Kind::Particle),
    ("에는", Batchim::Any, Kind::Particle),
    ("에도", Batchim::Any, Kind::Particle),
    ("에의", Batchim::Any, Kind::Particle),
    ("와는", Batchim::None, Kind::Particle),
    ("과는", Batchim::Final, Kind::Particle),
    ("와의", Batchim::None, Kind::Particle),
    ("과의", Batchim::Final, Kind::Particle),
    ("이다", Batchim::Final, Kind::Particle),
    ("이나", Batchim::Final, Kind::Auxiliary),
    ("이랑", Batchim::Final, Kind::Auxiliary),
    ("처럼", Batchim::Any, Kind::Auxiliary),
    ("보다", Batchim::Any, Kind::Auxiliary),
    ("마다", Batchim::Any, Kind::Auxiliary),
    ("조차", Batchim::Any, Kind::Auxiliary),
    ("했다", Batchim::Any, Kind::Ending),
    ("한다", Batchim::Any, Kind::Ending),
    ("하는", Batchim::Any, Kind::Ending),
    ("하고", Batchim::Any, Kind::Ending),
    ("하여", Batchim::Any, Kind::Ending),
    ("해서", Batchim::Any, Kind::Ending),
    ("했던", Batchim::Any, Kind::Ending),
    ("되는", Batchim::Any, Kind::Ending),
    ("되어", Batchim::Any, Kind::Ending),
    ("됐다", Batchim::Any, Kind::Ending),
    ("된다", Batchim::Any, Kind::Ending),
    ("였다", Batchim::None, Kind::Ending),
    ("이며", Batchim::Final, Kind::Ending),
    ("이고", Batchim::Final, Kind::Ending),
    ("은", Batchim::Final, Kind::Particle),
    ("는", Batchim::None, Kind::Particle),
    ("이", Batchim::Final, Kind::Particle),
    ("가", Batchim::None, Kind::Particle),
    ("을", Batchim::Final, Kind::Particle),
    ("를", Batchim::None, Kind::Particle),
    ("과", Batchim::Final, Kind::Particle),
    ("와", Batchim::None, Kind::Particle),
    ("로", Batchim::NoneOrRieul, Kind::Particle),
    ("의", Batchim::Any, Kind::Particle),
    ("에", Batchim::Any, Kind::Particle),
    ("도", Batchim::Any, Kind::Auxiliary),
    ("만", Batchim::Any, Kind::Auxiliary),
    ("나", Batchim::None, Kind::Auxiliary),
    ("랑", Batchim::None, Kind::Auxiliary),
    ("한", Batchim::Any, Kind::Ending),
    ("된", Batchim::Any, Kind::Ending),
    ("인", Batchim::Any, Kind::Ending),
];

/// Nouns that end like a particle (see the module documentation), one per line.
const NOUNS: &str = include_str!("josa-nouns.txt");

/// Fewest characters a stem keeps.
const MIN_STEM_CHARS: usize = 2;

/// `word` without its trailing particle (or ending, with [`Strip::ParticlesAndEndings`]), or `None`
/// when it has none by the rules of the module documentation.
pub fn strip(word: &str, which: Strip) -> Option<&str> {
    let (stem, _suffix) = split(word, which)?;
    (!ends_in_listed_noun(word)).then_some(stem)
}

/// The rules alone, without the noun list: `word` split into stem and suffix, when a suffix of the
/// list fits. (The noun list's generator uses this to find the words that look like stem + particle.)
pub fn split(word: &str, which: Strip) -> Option<(&str, &str)> {
    SUFFIXES
        .iter()
        .filter(|(_, _, kind)| which == Strip::ParticlesAndEndings || *kind == Kind::Particle)
        .find_map(|&(suffix, rule, _)| {
            let stem = word.strip_suffix(suffix)?;
            let mut before = stem.chars().rev();
            let last = before.next()?;
            let long_enough = before.take(MIN_STEM_CHARS - 1).count() == MIN_STEM_CHARS - 1;
            (long_enough && fits(last, rule)).then_some((stem, suffix))
        })
}

/// Whether particle `second` (or a word beginning with one) can follow particle `first` in the
/// same word: `부터` + `는`, `에서` + `도`, `와` + `의`. The particles that close a noun phrase
/// (`은/는`, `이/가`, `을/를`, `의`) take none, so `실용주의를` shows that `실용주의` is a noun, not
/// `실용주` + `의`; `2003년부터는` shows nothing about `2003년부터`.
pub fn stacks(first: &str, second: &str) -> bool {
    const CLOSING: &[&str] = &["은", "는", "이", "가", "을", "를", "의", "이다"];
    const FOLLOWERS: &[&str] = &["은", "는", "도", "의", "만", "까지", "부터", "조차", "마저"];
    !CLOSING.contains(&first) && FOLLOWERS.iter().any(|f| second.starts_with(f))
}

/// Whether `word` ends in a noun of the list: the word itself, or its last three or more Hangul
/// syllables (`자유민주주의` ends in `민주주의`).
fn ends_in_listed_noun(word: &str) -> bool {
    let nouns = nouns();
    // Listed nouns have three or more syllables (a two-character stem and the particle-like end).
    word.char_indices()
        .rev()
        .take_while(|&(_, c)| is_hangul(c))
        .skip(MIN_STEM_CHARS)
        .any(|(i, _)| nouns.contains(&word[i..]))
}

fn nouns() -> &'static HashSet<&'static str> {
    static NOUN_SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    NOUN_SET.get_or_init(|| {
        NOUNS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Whether `c` is a precomposed Hangul syllable.
pub fn is_hangul(c: char) -> bool {
    matches!(c, '\u{AC00}'..='\u{D7A3}')
}

/// Whether `c` has a final consonant (batchim); `None` for characters that are not syllables.
pub fn has_batchim(c: char) -> Option<bool> {
    final_consonant(c).map(|f| f != 0)
}

/// The final consonant index of a Hangul syllable (0 = none, 8 = ㄹ), `None` for other characters.
fn final_consonant(c: char) -> Option<u32> {
    is_hangul(c).then(|| (c as u32 - 0xAC00) % 28)
}

fn fits(before: char, rule: Batchim) -> bool {
    match (rule, final_consonant(before)) {
        (Batchim::Any, Some(_)) => true,
        (Batchim::Any, None) => before.is_alphanumeric(),
        (Batchim::Final, Some(f)) => f != 0,
        (Batchim::None, Some(f)) => f == 0,
        (Batchim::NoneOrRieul, Some(f)) => f == 0 || f == 8,
        // Digits or Latin letters before a batchim-sensitive particle: pronunciation unknown.
        (_, None) => before.is_ascii_digit(),
    }
}

#[cfg(test)]
mod tests;
