"""How KorQuAD-style gold answers treat a duration's bound nouns: after a number and a unit of time
(`30일간`, `40분만에`), does the gold answer stop before `간` / `만에`, or include it? The counts
behind odqa's decoding rule `decode::korean::without_duration_tail` (README, "Answer ends inside a
token", rules versions 3 and 4). Reads only gold answers; choose rules on training and tuning data, not on
the report set.

    python3 scripts/gold-duration-tails.py runs/split/train.json runs/split/tune.json \
        ../shared/data/tydiqa/tydiqa-goldp-ko-train.json
"""

import collections
import json
import re
import sys

UNIT = r"(?:년|개월|달|주|주일|일|시간|분|초|세기)"
RULES = {
    "간": re.compile(r"\d\s?" + UNIT + r"(간)"),
    "만에": re.compile(r"\d\s?" + UNIT + r"(\s?만(?:에|의|이다))"),
}


def main():
    for path in sys.argv[1:]:
        counts = collections.Counter()
        for article in json.load(open(path))["data"]:
            for paragraph in article["paragraphs"]:
                context = paragraph["context"]
                for qa in paragraph["qas"]:
                    answer = qa["answers"][0]
                    start = answer["answer_start"]
                    end = start + len(answer["text"].rstrip())
                    for name, pattern in RULES.items():
                        for m in pattern.finditer(context):
                            if end == m.start(1):
                                counts[name, "stops before"] += 1
                            elif m.start(1) < end <= m.end(1) and start < m.start(1):
                                counts[name, "includes"] += 1
                                print(f"  {path}: {answer['text']!r} includes {name}")
        print(path, {f"{k[0]} {k[1]}": v for k, v in sorted(counts.items())})


if __name__ == "__main__":
    main()
