//! Trimming Korean particles (josa) that a reader left at the end of an answer span
//! (`서울에서` → `서울`, `1948년에` → `1948년`).
//!
//! A particle is removed only when what remains ends in a Hangul syllable that the particle can
//! follow: `이/은/을/과/으로…` need a final consonant (batchim) before them, `가/는/를/와/로…` need
//! none (`로` also follows ㄹ). This keeps nouns that end like a particle, such as `작곡가`
//! (곡 has a batchim, so `가` is not a particle there) or `세종로`. At least two characters stay.

/// Particles, longest first (so `에서는` wins over `는`), with the batchim they require of the
/// preceding syllable.
const PARTICLES: &[(&str, Batchim)] = &[
    ("에서부터", Batchim::Any),
    ("으로부터", Batchim::Final),
    ("에서는", Batchim::Any),
    ("에서도", Batchim::Any),
    ("으로는", Batchim::Final),
    ("으로서", Batchim::Final),
    ("으로써", Batchim::Final),
    ("이라는", Batchim::Final),
    ("이라고", Batchim::Final),
    ("에게서", Batchim::Any),
    ("까지는", Batchim::Any),
    ("에서", Batchim::Any),
    ("에게", Batchim::Any),
    ("께서", Batchim::Any),
    ("으로", Batchim::Final),
    ("로는", Batchim::NoneOrRieul),
    ("로서", Batchim::NoneOrRieul),
    ("로써", Batchim::NoneOrRieul),
    ("라는", Batchim::None),
    ("라고", Batchim::None),
    ("까지", Batchim::Any),
    ("부터", Batchim::Any),
    ("에는", Batchim::Any),
    ("에도", Batchim::Any),
    ("와는", Batchim::None),
    ("과는", Batchim::Final),
    ("이다", Batchim::Final),
    ("은", Batchim::Final),
    ("는", Batchim::None),
    ("이", Batchim::Final),
    ("가", Batchim::None),
    ("을", Batchim::Final),
    ("를", Batchim::None),
    ("과", Batchim::Final),
    ("와", Batchim::None),
    ("로", Batchim::NoneOrRieul),
    ("의", Batchim::Any),
    ("에", Batchim::Any),
];

/// What a particle requires of the syllable before it.
#[derive(Clone, Copy)]
enum Batchim {
    /// Any Hangul syllable (or a digit or Latin letter: `1948년에`, `KBS의`).
    Any,
    /// A syllable with a final consonant.
    Final,
    /// A syllable without a final consonant.
    None,
    /// Without a final consonant, or with ㄹ.
    NoneOrRieul,
}

/// The final consonant index of a Hangul syllable (0 = none, 8 = ㄹ), `None` for other characters.
fn final_consonant(c: char) -> Option<u32> {
    let code = c as u32;
    (0xAC00..=0xD7A3)
        .contains(&code)
        .then(|| (code - 0xAC00) % 28)
}

fn allowed(before: char, rule: Batchim) -> bool {
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

/// `text` without one trailing particle, when it has one (see the module documentation);
/// otherwise `text` itself. Trailing spaces and punctuation are left alone.
pub fn trim_josa(text: &str) -> &str {
    for &(particle, rule) in PARTICLES {
        let Some(stem) = text.strip_suffix(particle) else {
            continue;
        };
        let mut chars = stem.chars().rev();
        let Some(before) = chars.next() else {
            continue;
        };
        if chars.next().is_none() || !allowed(before, rule) {
            continue;
        }
        return stem;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_particles_that_fit_the_syllable_before() {
        for (text, want) in [
            ("서울에서", "서울"),
            ("1948년에", "1948년"),
            ("이순신이", "이순신"),
            ("대한민국의", "대한민국"),
            ("고려대학교를", "고려대학교"),
            ("세종대왕은", "세종대왕"),
            ("부산으로", "부산"),
            ("서울로", "서울"),
            ("KBS의", "KBS"),
            ("1919년부터", "1919년"),
            ("서울에서는", "서울"),
        ] {
            assert_eq!(trim_josa(text), want, "{text}");
        }
    }

    #[test]
    fn keeps_nouns_that_only_look_like_they_end_in_a_particle() {
        for text in [
            "작곡가", // 곡 has a batchim: 가 is not a particle after it
            "소설가", // ㄹ batchim, 가 needs none
            "세종로", // 종 has ㅇ: 로 would be 으로
            "국가",   // one character would remain
            "정의",   // idem
            "경기도", // 도 is not trimmed at all
            "서울",
            "Seoul",
            "1948",
            "",
            "의",
        ] {
            assert_eq!(trim_josa(text), text, "{text}");
        }
    }
}
