"""Splits a SQuAD-format file by article into a training part and a tuning part, so that recipes
and pipeline settings are chosen on questions whose articles were never trained on, and the
report set (KorQuAD dev) is scored once, at the end.

    python3 scripts/split-by-article.py ../shared/data/korquad/train.json \
        --tune-articles 10 --seed 12 --train-out runs/split/train.json --tune-out runs/split/tune.json

Articles are shuffled with a seeded random.Random and the first --tune-articles go to the tuning
part; both files keep the input's version and article order. Prints the counts.
"""

import argparse
import json
import os
import random


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("squad")
    p.add_argument("--tune-articles", type=int, default=10)
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--train-out", required=True)
    p.add_argument("--tune-out", required=True)
    a = p.parse_args()
    with open(a.squad, encoding="utf-8") as f:
        squad = json.load(f)
    articles = squad["data"]
    if not 0 < a.tune_articles < len(articles):
        p.error(f"--tune-articles must be between 1 and {len(articles) - 1}")
    order = list(range(len(articles)))
    random.Random(a.seed).shuffle(order)
    tune = set(order[: a.tune_articles])
    parts = {
        a.train_out: [x for i, x in enumerate(articles) if i not in tune],
        a.tune_out: [x for i, x in enumerate(articles) if i in tune],
    }
    for path, data in parts.items():
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump({"version": squad.get("version", ""), "data": data}, f, ensure_ascii=False)
        os.replace(path + ".tmp", path)
        questions = sum(len(p["qas"]) for art in data for p in art["paragraphs"])
        print(f"{path}: {len(data)} articles, {questions} questions")


if __name__ == "__main__":
    main()
