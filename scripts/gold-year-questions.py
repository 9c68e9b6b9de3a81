"""How KorQuAD-style gold answers answer a question that asks for a year (`설립한 연도는?`, `몇
년도에`, `어느 해`, `사과문을 실은 해는?`): the year alone (`1993년`, `1993`), a full date (`1993년 11월
23일`), or something else? The counts behind odqa's decoding setting `year_answers`
(`decode::question::asks_for_year`, mirrored below; README, "Year questions"). Reads only gold
answers; choose rules on training and tuning data, not on the report set.

    python3 scripts/gold-year-questions.py runs/split/train.json runs/split/tune.json \
        ../shared/data/tydiqa/tydiqa-goldp-ko-train.json
"""

import collections
import json
import re
import sys


MONTH_OR_DAY = ("몇월", "몇일", "며칠", "날짜", "일자", "날은", "날에", "날이")
NOT_A_YEAR = ("학년도", "회계연도", "사업연도", "연도교")


def asks_for_year(question):
    """decode::question::asks_for_year."""
    compact = re.sub(r"\s", "", question)
    if any(asked in compact for asked in MONTH_OR_DAY):
        return False
    for name in NOT_A_YEAR:
        compact = compact.replace(name, " ")
    words = (w.rstrip("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") for w in question.split())
    return (
        "연도" in compact
        or re.search(r"(?<![0-9])년도", compact) is not None
        or "어느해" in compact
        or re.search(r"몇년에(?![걸한처])", compact) is not None
        or any(w in ("해는", "해에", "해에는") for w in words)
    )


def kind(answer):
    if re.fullmatch(r"\d+년?", answer):
        return "year"
    if re.fullmatch(r"\d+년\s*\d+월(\s*\d+일)?", answer):
        return "date"
    return "other"


def main():
    for path in sys.argv[1:]:
        counts, dates = collections.Counter(), []
        for article in json.load(open(path))["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    if not asks_for_year(qa["question"]):
                        continue
                    answer = qa["answers"][0]["text"].strip()
                    counts[kind(answer)] += 1
                    if kind(answer) == "date":
                        dates.append((qa["question"], answer))
        total = sum(counts.values())
        print(f"{path}: {total} year questions: {counts['year']} year, {counts['date']} full date, "
              f"{counts['other']} other")
        for question, answer in dates[:5]:
            print(f"  date: {question} → {answer}")


if __name__ == "__main__":
    main()
