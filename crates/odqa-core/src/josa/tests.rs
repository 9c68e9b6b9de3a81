use super::*;

fn answer(text: &str) -> &str {
    strip(text, Strip::Particles).unwrap_or(text)
}

fn term(word: &str) -> Option<&str> {
    strip(word, Strip::ParticlesAndEndings)
}

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
        ("민주주의의", "민주주의"),
        ("고양이가", "고양이"),
        ("원숭이를", "원숭이"),
        ("자본주의는", "자본주의"),
    ] {
        assert_eq!(answer(text), want, "{text}");
    }
}

#[test]
fn keeps_nouns_that_only_look_like_they_end_in_a_particle() {
    for text in [
        "민주주의", // listed: 민주주의가, 민주주의를
        "자본주의",
        "사회주의",
        "고양이",
        "원숭이",
        "자유민주주의", // ends in a listed noun
        "작곡가",       // 곡 has a batchim: 가 is not a particle after it
        "소설가",       // ㄹ batchim, 가 needs none
        "세종로",       // 종 has ㅇ: 로 would be 으로
        "국가",         // one character would remain
        "정의",         // idem
        "경기도",       // 도 is an auxiliary particle: not trimmed from answers
        "서울",
        "Seoul",
        "1948",
        "",
        "의",
    ] {
        assert_eq!(answer(text), text, "{text}");
    }
}

#[test]
fn retrieval_terms_also_lose_auxiliary_particles_and_endings() {
    for (word, want) in [
        ("설립되었다", Some("설립")),
        ("대한민국의", Some("대한민국")),
        ("서울처럼", Some("서울")),
        ("학교였다", Some("학교")),
        ("서울도", Some("서울")),
        ("민주주의", None),
        ("고양이", None),
        ("원숭이", None),
        ("나는", None), // one syllable would remain
        ("작곡가", None),
    ] {
        assert_eq!(term(word), want, "{word}");
    }
}

#[test]
fn the_rules_alone_split_listed_nouns() {
    // The noun list, not the batchim rule, is what keeps these: the generator relies on `split`.
    assert_eq!(split("고양이", Strip::Particles), Some(("고양", "이")));
    assert_eq!(split("민주주의", Strip::Particles), Some(("민주주", "의")));
    assert!(ends_in_listed_noun("고양이"));
    assert!(!ends_in_listed_noun("이순신이"));
}

#[test]
fn longer_suffixes_come_first() {
    // A suffix that ends another must come after it, or the longer one could never match.
    for (i, (short, _, _)) in SUFFIXES.iter().enumerate() {
        for (long, _, _) in &SUFFIXES[i + 1..] {
            assert!(
                !(long.ends_with(short) && long != short),
                "{long} must come before {short}"
            );
        }
    }
}

#[test]
fn the_noun_list_is_sorted_hangul_without_duplicates() {
    let words: Vec<&str> = NOUNS
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(words.len() > 100, "{} nouns", words.len());
    for pair in words.windows(2) {
        assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
    }
    for w in &words {
        assert!(
            w.chars().all(is_hangul) && w.chars().count() > MIN_STEM_CHARS,
            "{w}"
        );
    }
}

#[test]
fn batchim_of_syllables() {
    assert_eq!(has_batchim('곡'), Some(true));
    assert_eq!(has_batchim('가'), Some(false));
    assert_eq!(has_batchim('a'), None);
}

#[test]
fn closing_particles_take_no_other() {
    assert!(stacks("부터", "는"));
    assert!(stacks("에서", "도"));
    assert!(stacks("와", "의"));
    assert!(!stacks("이", "에서"), "고양이에서: 이 is part of the noun");
    assert!(!stacks("의", "를"), "실용주의를");
    assert!(!stacks("로", "에서"), "세종로에서");
}
