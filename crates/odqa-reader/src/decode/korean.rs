//! Korean answer boundaries inside a span's last token: the particle cut ([`inner_particle`]), the
//! passage's evidence that a word is a noun ([`takes_particles_in`]), and the bound nouns after a
//! duration (`30일간`, `40분만에`).

use odqa_core::josa::{is_hangul, split, stacks, strip, Strip};

/// `text` (starting at character `start` of the context) without a trailing Korean particle
/// ([`odqa_core::josa::strip`], case particles and the copula) when the cut falls inside the
/// span's last token, which starts at `last_token_start`: tokens that join a noun and its particle
/// (`▁비블로스는`, `▁해양지배력을`) give the model no boundary to end the answer at, so a gold
/// answer that ends inside one (9.7 % of KorQuAD dev with the e5 tokenizer) could never be
/// matched. A particle that is a token of its own is the model's choice and stays. Then a
/// duration's bound noun after a number and a unit of time: `간` on the same condition (`▁30`
/// `일간` → `30일`), `만` ending the span always (`▁40` `분` `만` → `40분`: KorQuAD's answers
/// never keep it).
pub fn inner_particle(text: &str, start: usize, last_token_start: Option<usize>) -> &str {
    let Some(last) = last_token_start else {
        return text;
    };
    let inside = |cut: &str| start + cut.chars().count() > last;
    let text = match strip(text, Strip::Particles) {
        Some(stem) if inside(stem) => stem,
        _ => text,
    };
    match without_duration_tail(text) {
        // `만` after a duration is never part of the answer, a token of its own or not.
        Some(shorter) if text.ends_with('만') || inside(shorter) => shorter,
        _ => text,
    }
}

/// Units of time that a number counts (`3년`, `2개월`, `30일`, `40분`).
const TIME_UNITS: &[&str] = &[
    "년", "개월", "달", "주", "주일", "일", "시간", "분", "초", "세기",
];

/// `text` without the bound noun `간` ("for", `30일간`) or `만` ("after", `40분만`, `1년 만`, left
/// by the cut of `40분만에`) after a number and a unit of time, or `None`. KorQuAD's answers leave
/// them out (the training and tuning splits and TyDi ko: 14 of 14 stop before `만에`, spaced or
/// not; 6 of 8 before `간`).
fn without_duration_tail(text: &str) -> Option<&str> {
    let rest = text
        .strip_suffix('간')
        .or_else(|| text.strip_suffix('만'))?
        .trim_end();
    let number = TIME_UNITS
        .iter()
        .find_map(|unit| rest.strip_suffix(unit))?
        .trim_end();
    number
        .ends_with(|c: char| c.is_ascii_digit())
        .then_some(rest)
}

/// Whether the last word of `text`, which looks like a stem and a particle (`실용주의`),
/// is a noun that `context` itself shows taking a particle, possibly after a closing quote
/// (`실용주의에서`, `실용주의'를`): then the particle cut would damage a name, and the span stays
/// whole. A particle that can follow the word's own two-syllable one (`2003년부터는`: [`stacks`])
/// shows nothing; one-syllable endings (`로`, `과`, `에`) are also how nouns end (`충무로의`,
/// `컴퓨터공학과까지`), so after them any particle still counts.
pub(super) fn takes_particles_in(context: &str, text: &str) -> bool {
    const CLOSING: &[char] = &['\'', '"', '’', '”', '」', '』', '》', '〉', ')'];
    let Some(word) = text.split_whitespace().last() else {
        return false;
    };
    if strip(word, Strip::Particles).is_none() {
        return false;
    }
    let Some((_, own)) = split(word, Strip::Particles) else {
        return false;
    };
    context.match_indices(word).any(|(at, _)| {
        let after = context[at + word.len()..].trim_start_matches(CLOSING);
        let tail = after.find(|c: char| !is_hangul(c)).unwrap_or(after.len());
        let particle = &after[..tail];
        let second_particle = own.chars().count() > 1 && stacks(own, particle);
        !particle.is_empty()
            && !second_particle
            && split(&format!("{word}{particle}"), Strip::Particles)
                .is_some_and(|(stem, _)| stem.starts_with(word))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode_example, trimmed, DecodeSettings};
    use crate::features::Feature;

    #[test]
    fn a_particle_inside_the_last_token_is_cut() {
        // `▁비블로스는` starts at the space before the word (character 9); the word at 10.
        assert_eq!(inner_particle("비블로스는", 10, Some(9)), "비블로스");
        assert_eq!(inner_particle("해양지배력을", 0, Some(0)), "해양지배력");
        assert_eq!(inner_particle("1948년에", 3, Some(3)), "1948년");
        // A one-syllable counter after a number (`▁100`, `만`, `▁명을`): the stem counts the
        // whole span, not its last word alone (a rule that saw `명을` alone lost 4 right answers
        // of the tuning split).
        assert_eq!(inner_particle("100만 명을", 0, Some(4)), "100만 명");
        assert_eq!(inner_particle("49억300만 원을", 0, Some(8)), "49억300만 원");
    }

    #[test]
    fn a_particle_the_model_could_leave_out_stays() {
        // `는` is a token of its own (it starts where the cut would be): the model chose it.
        assert_eq!(inner_particle("비블로스는", 10, Some(14)), "비블로스는");
        // No token information (a span from elsewhere), nouns that end like particles, words
        // without a particle.
        assert_eq!(inner_particle("비블로스는", 10, None), "비블로스는");
        assert_eq!(inner_particle("작곡가", 0, Some(0)), "작곡가");
        assert_eq!(inner_particle("민주주의", 0, Some(0)), "민주주의");
        assert_eq!(inner_particle("Paris", 0, Some(0)), "Paris");
    }

    /// The best span of one window whose context tokens are `▁실용주의` (characters 0–4) and the
    /// rest of `context`, the model sure it is that first token.
    fn best_first_token(context: &str) -> String {
        let feature = Feature {
            example_index: 0,
            input_ids: vec![0; 4],
            token_type_ids: vec![0; 4],
            attention_mask: vec![1; 4],
            offsets: vec![(0, 0), (0, 4), (4, context.chars().count()), (0, 0)],
            sequence_ids: vec![None, Some(1), Some(1), None],
            start_position: None,
            end_position: None,
        };
        let (starts, ends) = ([0.0, 5.0, 0.0, 0.0], [0.0, 5.0, 0.0, 0.0]);
        let windows = [(&feature, &starts[..], &ends[..])];
        let decoded = decode_example(context, &windows, DecodeSettings::default());
        trimmed(decoded, false)[0].text.clone()
    }

    #[test]
    fn a_noun_the_passage_shows_taking_a_particle_is_not_cut() {
        // `실용주의` looks like `실용주` + `의` and is not in the noun list: cut, unless the
        // passage itself shows it taking a particle (after a closing quote here).
        assert_eq!(best_first_token("실용주의 정책"), "실용주");
        assert_eq!(best_first_token("실용주의'를 내세웠다"), "실용주의");
        assert!(takes_particles_in(
            "창조적 실용주의'를 반대",
            "창조적 실용주의"
        ));
        // Followed by a space, or not a stem and a particle at all: no evidence.
        assert!(!takes_particles_in(
            "비블로스는 페니키아의 도시",
            "비블로스는"
        ));
        assert!(!takes_particles_in("100만 명을 넘었다", "100만 명을"));
        assert!(!takes_particles_in("서울에서", "Seoul"));
    }

    #[test]
    fn a_particle_after_the_words_own_shows_nothing() {
        // `2003년부터` + `는` is two particles, not a noun `2003년부터` taking `는`.
        assert!(!takes_particles_in("2003년부터는 매년", "2003년부터"));
        assert_eq!(inner_particle("2003년부터", 0, Some(4)), "2003년");
        // A particle that closes a phrase takes no other: `실용주의` + `에서` is evidence.
        assert!(takes_particles_in("실용주의에서 벗어나", "실용주의"));
        // After a one-syllable ending, which nouns share (`충무로`), a particle still counts.
        assert!(takes_particles_in("충무로의 극장", "충무로"));
    }

    #[test]
    fn a_durations_bound_noun_inside_the_last_token_is_cut() {
        // `▁30`, `일간`: the model cannot end at `일`.
        assert_eq!(inner_particle("30일간", 0, Some(2)), "30일");
        // `▁40`, `분`, `만`, `에`: the model ended at `만`; it goes whatever the tokens.
        assert_eq!(inner_particle("40분만", 0, Some(3)), "40분");
        assert_eq!(inner_particle("40분만에", 0, Some(3)), "40분");
        // Spaced as the standard spelling has it (`▁1`, `년`, `▁만`).
        assert_eq!(inner_particle("1년 만", 0, Some(2)), "1년");
        assert_eq!(inner_particle("1주일간", 0, Some(1)), "1주일");
        // A token of its own (`▁간`) is the model's choice; not after a number and a unit, no cut.
        assert_eq!(inner_particle("30일간", 0, Some(3)), "30일간");
        assert_eq!(inner_particle("3시간", 0, Some(1)), "3시간");
        assert_eq!(inner_particle("한동안", 0, Some(0)), "한동안");
        assert_eq!(inner_particle("분만", 0, Some(0)), "분만");
        assert_eq!(inner_particle("세 달간", 0, Some(0)), "세 달간");
    }
}
