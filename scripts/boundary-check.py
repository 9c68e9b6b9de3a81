"""Answer boundaries inside tokens: how many gold answers end inside a token of a model's tokenizer,
and what a change of the reader's decoding did to them (issue 26's boundary measurement).

    target/bench-venv/bin/python scripts/boundary-check.py DATA.json TOKENIZER.json \
        BEFORE_PREDICTIONS.json AFTER_PREDICTIONS.json

DATA is SQuAD-format (KorQuAD); TOKENIZER a `tokenizers` file (e.g. the e5 model's); the two
prediction files are `odqa read --out` outputs of the same reader, before and after. A gold answer
"ends inside a token" when its end character falls strictly inside a token's character span (the
reader, which predicts whole tokens, cannot end there). Exact match is the official KorQuAD v1.0
script's (imported from ../shared/data/korquad/evaluate-v1.0.py, or $KORQUAD_EVAL). Prints the
counts, EM/F1 before and after, how many questions the change recovered and damaged, overall and
among the mid-token ones, and a few examples of each.
"""

import json
import os
import sys

from tokenizers import Tokenizer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from korquad_eval import official  # noqa: E402


def ends_inside(tokenizer, context, answer):
    """True when every gold answer ends strictly inside a token of the context."""
    offsets = tokenizer.encode(context, add_special_tokens=False).offsets
    def inside(end):
        return any(s < end < e for s, e in offsets)
    return all(inside(a["answer_start"] + len(a["text"])) for a in answer)


def main():
    data, tok, before, after = sys.argv[1:5]
    ev = official()
    tokenizer = Tokenizer.from_file(tok)
    before, after = json.load(open(before)), json.load(open(after))
    rows = []
    for article in json.load(open(data))["data"]:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                golds = [a["text"] for a in qa["answers"]]
                em = lambda pred: ev.metric_max_over_ground_truths(ev.exact_match_score, pred, golds)
                f1 = lambda pred: ev.metric_max_over_ground_truths(ev.f1_score, pred, golds)
                b, a = before.get(qa["id"], ""), after.get(qa["id"], "")
                rows.append((qa["id"], ends_inside(tokenizer, p["context"], qa["answers"]),
                             em(b), em(a), f1(b), f1(a), b, a, golds[0]))
    n = len(rows)
    mid = [r for r in rows if r[1]]
    def report(name, subset):
        if not subset:
            return
        k = len(subset)
        em_b = 100 * sum(r[2] for r in subset) / k
        em_a = 100 * sum(r[3] for r in subset) / k
        f1_b = 100 * sum(r[4] for r in subset) / k
        f1_a = 100 * sum(r[5] for r in subset) / k
        recovered = [r for r in subset if r[3] and not r[2]]
        damaged = [r for r in subset if r[2] and not r[3]]
        print(f"{name}: {k} questions; EM {em_b:.2f} -> {em_a:.2f}, F1 {f1_b:.2f} -> {f1_a:.2f}; "
              f"recovered {len(recovered)}, damaged {len(damaged)}, changed "
              f"{sum(1 for r in subset if r[6] != r[7])}")
        for r in recovered[:3]:
            print(f"  recovered {r[0]}: {r[6]!r} -> {r[7]!r} (gold {r[8]!r})")
        for r in damaged[:5]:
            print(f"  damaged   {r[0]}: {r[6]!r} -> {r[7]!r} (gold {r[8]!r})")
    print(f"{len(mid)} of {n} gold answers ({100 * len(mid) / n:.1f} %) end inside a token")
    report("all", rows)
    report("gold ends inside a token", mid)


if __name__ == "__main__":
    main()
