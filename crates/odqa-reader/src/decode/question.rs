//! Where the question decides an answer's extent: a question that asks for a year (`설립한
//! 연도는?`, `몇 년도에`, `어느 해`, `사과문을 실은 해는?`) answered with a full date (`1993년 11월
//! 23일`) gets the year alone. That is KorQuAD's convention (of the gold answers of such questions
//! in its training split that are a year or a full date, 195 of 196 are the year;
//! `scripts/gold-year-questions.py`), not TyDi QA's (62 of 83), hence a setting
//! ([`super::DecodeSettings::year_answers`]), off by default.

/// Whether `question` asks for a year and not for a month or a day: it names `연도` or `년도`
/// (not after digits: `2012년도 방송평가` names a year; not `학년도`, `회계연도`, `사업연도`,
/// `연도교`), `어느 해`, `몇 년에` (not `몇 년에 걸쳐`, `한 번`, `처해진`: a duration), or a word `해`
/// ("year") with `는`, `에` or `에는` (`실은 해는?`, `그 해에`; not `해`, `해를`, `해가`: "doing",
/// harm, the sun); `몇 월`, `몇 일`, `며칠`, `날짜`, `일자`, `날은`, `날에`, `날이` anywhere rule it
/// out.
pub fn asks_for_year(question: &str) -> bool {
    let compact: String = question.chars().filter(|c| !c.is_whitespace()).collect();
    let month_or_day = MONTH_OR_DAY.iter().any(|asked| compact.contains(asked));
    if month_or_day {
        return false;
    }
    let compact = NOT_A_YEAR
        .iter()
        .fold(compact, |text, name| text.replace(name, " "));
    compact.contains("연도")
        || names_year_undated(&compact)
        || compact.contains("어느해")
        || asks_which_year(&compact)
        || question.split_whitespace().any(is_word_year)
}

/// What asks for a month or a day.
const MONTH_OR_DAY: &[&str] = &[
    "몇월", "몇일", "며칠", "날짜", "일자", "날은", "날에", "날이",
];

/// Words with `연도`/`년도` that are not "the year" (school and fiscal years, a bridge).
const NOT_A_YEAR: &[&str] = &["학년도", "회계연도", "사업연도", "연도교"];

/// `몇년에` not followed by what makes it a duration (`걸쳐`, `한번`, `처해`).
fn asks_which_year(text: &str) -> bool {
    text.match_indices("몇년에").any(|(at, asked)| {
        let after = &text[at + asked.len()..];
        !["걸", "한", "처"].iter().any(|d| after.starts_with(d))
    })
}

/// `년도` after something other than a digit (`몇년도`, `생산년도`; not `2012년도`).
fn names_year_undated(text: &str) -> bool {
    text.match_indices("년도").any(|(at, _)| {
        !text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// A word `해` ("year") with `는`, `에` or `에는` and closing punctuation: `해는`, `해에`, `해에는`,
/// `해는?`.
fn is_word_year(word: &str) -> bool {
    let word = word.trim_end_matches(|c: char| c.is_ascii_punctuation());
    word.strip_prefix('해')
        .is_some_and(|rest| ["는", "에", "에는"].contains(&rest))
}

/// The year of `text` when `text` is a date and nothing else: `1993년 11월 23일` or `1999년 6월`
/// (spaces optional; a year of at least 3 digits, a month 1–12, a day 1–31) give `1993년` and
/// `1999년`; anything else (`1993년`, `1993년 11월 23일에 설립`, `기원전 57년 4월`, the sentence
/// `1년 6월`) gives `None`.
pub fn year_of_date(text: &str) -> Option<&str> {
    let (digits, year) = number_then(text, "년")?;
    let rest = text[year..].trim_start();
    let (month, month_len) = number_then(rest, "월")?;
    let rest = rest[month_len..].trim_start();
    let day_ok = rest.is_empty()
        || matches!(number_then(rest, "일"), Some((day, len)) if len == rest.len() && in_range(day, 1, 31));
    (digits.len() >= 3 && in_range(month, 1, 12) && day_ok).then(|| &text[..year])
}

/// [`year_of_date`] of `text` or of `text` without a trailing particle (`1993년 11월 23일에`, a
/// particle that is a token of its own and so not cut by [`super::inner_particle`]).
pub fn year_in(text: &str) -> Option<&str> {
    year_of_date(text).or_else(|| {
        let stem = odqa_core::josa::strip(text, odqa_core::josa::Strip::Particles)?;
        year_of_date(stem)
    })
}

/// Whether the ASCII digits `number` make a value from `low` to `high`.
fn in_range(number: &str, low: u32, high: u32) -> bool {
    number
        .parse::<u32>()
        .is_ok_and(|n| (low..=high).contains(&n))
}

/// `text`'s leading ASCII digits and the byte length of them and `unit` after them, or `None`
/// without both.
fn number_then<'a>(text: &'a str, unit: &str) -> Option<(&'a str, usize)> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    (digits > 0 && text[digits..].starts_with(unit)).then(|| (&text[..digits], digits + unit.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn year_questions_are_recognized() {
        for question in [
            "원산협이 비영리 공익법인인 원진재단을 설립한 연도는?",
            "바이오쇼크의 초기 인터페이스와 인공지능이 공개된 것은 몇 년도인가?",
            "한겨레신문이 BBK 보도에 대해 허위주장을 보도했다면 사과문을 실은 해는?",
            "세종대왕이 훈민정음을 반포한 해는 어느 해인가?",
            "포항제철은 몇년에 설립되었나?",
            "그 해에 우승한 팀은?",
        ] {
            assert!(asks_for_year(question), "{question}");
        }
    }

    #[test]
    fn other_questions_are_not_year_questions() {
        for question in [
            // A date asked for, or a month, or a day.
            "김봉환이 이황화탄소 중독판정을 받은 날짜는?",
            "2011년 몇월에 일본에서 대지진이 발생하였나?",
            "창립 연도와 몇 월인지 쓰시오",
            // `년도` after digits names a year; `해` inside a word is not "year".
            "2012년도 방송평가에서 JTBC는 몇 위를 기록하였는가?",
            "올해의 사자성어는?",
            "사회에 해를 끼치는 범죄의 피해는?",
            "원진재단의 설립시기는?",
            "막말과 협박을 해 논란이 일어난 것은 언제인가?",
            // School and fiscal years, a bridge; a date asked for; durations.
            "2019학년도 대학수학능력시험이 치러진 때는?",
            "2010 회계연도 예산안이 통과된 때는 언제인가?",
            "새만금 연도교가 개통된 때는?",
            "그 해에 개막식이 열린 날은?",
            "징역 몇 년에 처해졌나?",
            "대모는 몇년에 한 번씩 짝짓기를 하는가?",
            "수명은 몇 년인가?",
        ] {
            assert!(!asks_for_year(question), "{question}");
        }
    }

    #[test]
    fn a_date_gives_its_year_and_nothing_else_does() {
        assert_eq!(year_of_date("1993년 11월 23일"), Some("1993년"));
        assert_eq!(year_of_date("1999년 6월"), Some("1999년"));
        assert_eq!(year_of_date("2010년5월1일"), Some("2010년"));
        assert_eq!(year_of_date("192년 5월 22일"), Some("192년"));
        assert_eq!(year_in("1993년 11월 23일에"), Some("1993년"));
        assert_eq!(year_in("1993년 11월 23일에 설립"), None);
        for text in [
            "1993년",
            "1993년 11월 23일에 설립",
            "기원전 57년 4월",
            "1년 6월",
            "1993년 13월",
            "1993년 11월 32일",
            "1993년 11월 23",
            "1990년대 후반",
            "11월 23일",
            "년 11월",
        ] {
            assert_eq!(year_of_date(text), None, "{text}");
        }
    }
}
