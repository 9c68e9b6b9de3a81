#!/usr/bin/env python3
"""Builds a small English corpus for the hybrid retrieval benchmark's English rows: the distinct
contexts of XQuAD en, MLQA en dev and TyDi QA GoldP English, one JSONL passage each, so that every
question of those sets has its gold paragraph among ~4,600 Wikipedia paragraphs.

    python3 scripts/make-english-corpus.py runs/hybrid/english.jsonl [--shared ../shared]

Passages are {"id": "<set>-<n>", "title": <title>, "text": <context>} in file order (XQuAD, MLQA,
TyDi), a context equal to an earlier one skipped. TyDi's made-up titles (`tydi-en-N`, see
../shared/data/README.md) are written as "", and XQuAD's underscores as spaces. Written atomically.
"""

import argparse
import json
import os
import re
import tempfile
from pathlib import Path

SETS = [
    ("xquad", "data/xquad/xquad.en.json"),
    ("mlqa", "data/mlqa/mlqa-dev-context-en-question-en.json"),
    ("tydi", "data/tydiqa/tydiqa-goldp-en-train.json"),
]
MADE_UP = re.compile(r"^tydi-en-\d+(-\d+)*$")


def passages(shared):
    """The distinct contexts of the English sets, in order."""
    seen = set()
    for name, path in SETS:
        n = 0
        for article in json.load(open(Path(shared) / path, encoding="utf-8"))["data"]:
            title = "" if MADE_UP.match(article["title"]) else article["title"].replace("_", " ")
            for paragraph in article["paragraphs"]:
                text = paragraph["context"]
                if text in seen:
                    continue
                seen.add(text)
                yield {"id": f"{name}-{n}", "title": title, "text": text}
                n += 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--shared", default="../shared")
    args = parser.parse_args()
    out = Path(args.out)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    count = 0
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for p in passages(args.shared):
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
            count += 1
    os.replace(tmp, out)
    print(f"{count} passages → {out}")


if __name__ == "__main__":
    main()
