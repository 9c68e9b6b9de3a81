#!/usr/bin/env python3
"""Builds the corpus of the hybrid (BM25 + dense) retrieval benchmark: every kowiki passage plus the
distinct contexts of TyDi QA GoldP Korean, so that each TyDi question's gold paragraph is retrievable.

    python3 scripts/make-hybrid-corpus.py runs/hybrid/kowiki-tydi-ko.jsonl \
        [--kowiki ../shared/data/kowiki/passages.jsonl] [--tydi ../shared/data/tydiqa/tydiqa-goldp-ko-train.json]

- The kowiki lines are copied unchanged, in order.
- Then each TyDi context (SQuAD format: data[].title, data[].paragraphs[].context) in file order,
  as {"id": "tydi-ko-<n>", "title": <article title>, "text": <context>}, n = 0, 1, ... over the
  contexts added. A context whose exact text equals a kowiki passage's text, or an earlier TyDi
  context, is skipped. The TyDi file's article titles are ids it made up (`tydi-ko-N-M-K`, see
  ../shared/data/README.md), not Wikipedia titles: such a title is written as "" (pass
  --keep-id-titles to keep them), so that neither BM25 nor "passage: {title} {text}" sees it.
- --sample N keeps only N kowiki passages drawn at random (--seed) plus every passage of an article
  that a --keep-titles-of question set (SQuAD format, e.g. KorQuAD dev) asks about (titles compared
  with underscores read as spaces, as KorQuAD and kowiki write them), in their
  original order: a smaller corpus for a benchmark that must fit one session on a small CPU.
- Written atomically (a temporary file in the same folder, then renamed). Prints the counts.
"""

import argparse
import json
import os
import re
import tempfile
from pathlib import Path

ID_TITLE = re.compile(r"^tydi-ko-\d+(-\d+)*$")


def title_key(title):
    """KorQuAD writes titles with underscores (캐시_크루즈), the kowiki passages with spaces."""
    return title.replace("_", " ")


def sampled_lines(a):
    """The kowiki line numbers --sample keeps."""
    import random
    titles = set()
    for path in a.keep_titles_of:
        titles |= {title_key(art["title"]) for art in json.loads(path.read_text(encoding="utf-8"))["data"]}
    always, others = set(), []
    with open(a.kowiki, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if line.strip():
                (always.add(i) if title_key(json.loads(line)["title"]) in titles else others.append(i))
    return always | set(random.Random(a.seed).sample(others, min(a.sample, len(others))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--kowiki", default="../shared/data/kowiki/passages.jsonl")
    ap.add_argument("--tydi", default="../shared/data/tydiqa/tydiqa-goldp-ko-train.json")
    ap.add_argument("--keep-id-titles", action="store_true", help="keep titles like tydi-ko-0-0-0")
    ap.add_argument("--sample", type=int, help="keep N random kowiki passages (+ --keep-titles-of)")
    ap.add_argument("--keep-titles-of", action="append", default=[], type=Path,
                    help="SQuAD file whose articles' passages are always kept with --sample")
    ap.add_argument("--seed", type=int, default=27)
    a = ap.parse_args()
    keep = sampled_lines(a) if a.sample is not None else None

    tydi = json.loads(Path(a.tydi).read_text(encoding="utf-8"))
    out_dir = a.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=a.out.name + ".", suffix=".tmp")
    counts = {"kowiki_passages": 0, "tydi_contexts": 0, "tydi_added": 0,
              "skipped_equal_to_kowiki": 0, "skipped_repeated_in_tydi": 0, "id_titles_blanked": 0}
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            seen = set()
            with open(a.kowiki, encoding="utf-8") as f:
                for i, line in enumerate(f):
                    if not line.strip() or (keep is not None and i not in keep):
                        continue
                    seen.add(json.loads(line)["text"])
                    out.write(line if line.endswith("\n") else line + "\n")
                    counts["kowiki_passages"] += 1
            kowiki_texts = set(seen)
            for article in tydi["data"]:
                title = article.get("title") or ""
                if ID_TITLE.match(title) and not a.keep_id_titles:
                    title = ""
                for paragraph in article["paragraphs"]:
                    text = paragraph["context"]
                    counts["tydi_contexts"] += 1
                    if text in seen:
                        counts["skipped_equal_to_kowiki" if text in kowiki_texts else "skipped_repeated_in_tydi"] += 1
                        continue
                    seen.add(text)
                    record = {"id": f"tydi-ko-{counts['tydi_added']}", "title": title, "text": text}
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    counts["tydi_added"] += 1
                    counts["id_titles_blanked"] += title == "" and bool(article.get("title"))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the mode a plain open() would give, not mkstemp's 0600
        os.replace(tmp, a.out)
    except BaseException:
        os.unlink(tmp)
        raise
    counts["total_lines"] = counts["kowiki_passages"] + counts["tydi_added"]
    print(json.dumps({"out": str(a.out), **counts}))


if __name__ == "__main__":
    main()
