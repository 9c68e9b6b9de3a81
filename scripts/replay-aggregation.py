#!/usr/bin/env python3
"""Replays odqa's open-domain aggregation (`merge`, odqa_pipeline::aggregate) on the reads of an
`odqa tune --cache` file and counts the exact matches (official KorQuAD normalisation) of variants,
so an idea can be tried on the tuning split without a new reading or a build.

    python3 scripts/replay-aggregation.py CACHE.json QUESTIONS.json merge:K:MU:W [...]
    python3 scripts/replay-aggregation.py CACHE.json QUESTIONS.json --marginal

- `merge:K:MU:W`: odqa's `merge` at top-k K, reader weight MU and no-answer weight W (each span's
  score μ·(start + end − penalty − W·null) + (1 − μ)·retriever score, softmax over the question's
  spans, probabilities summed per normalised text). `merge:5:0.8:0` reproduces `odqa tune`'s
  figure for that point (a check of this replay).
- `--marginal`: a grid of the marginal alternative, p(answer) = Σ p(passage)·p(span | passage),
  p(passage) ∝ exp(a·retriever score + b·(best span − null)), p(span | passage) = the passage's
  own softmax (tried in session 10; no better than merge with W = 1).
QUESTIONS: the SQuAD file the cache was read for (runs/split/tune.json; questions without gold
answers are left out). Floats are Python's doubles where odqa sums f32: a near-tie may fall the
other way. No josa trimming. Exact match is the official script's (scripts/lib/korquad_eval.py:
../shared/data/korquad/evaluate-v1.0.py, or $KORQUAD_EVAL).
"""
import collections
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from korquad_eval import official  # noqa: E402

ev = official()


def score(c):
    return c["start_logit"] + c["end_logit"] - c.get("length_penalty", 0.0)


def best_text(pool):
    """pool: (probability, text); the text of the largest summed probability (first on ties)."""
    groups = collections.OrderedDict()
    for p, t in pool:
        key = ev.normalize_answer(t)
        if key not in groups:
            groups[key] = [0.0, t, -1.0]
        g = groups[key]
        g[0] += p
        if p > g[2]:
            g[1], g[2] = t, p
    return max(groups.values(), key=lambda g: g[0])[1] if groups else ""


def merge(reads, k, mu, w):
    pool = []
    for r in reads:
        if r["rank"] > k or not r["candidates"]:
            continue
        null = r.get("null_score")
        for c in r["candidates"]:
            s = score(c) - (w * null if null is not None else 0.0)
            pool.append((mu * s + (1 - mu) * r["retriever_score"], c["text"]))
    if not pool:
        return ""
    m = max(p for p, _ in pool)
    return best_text([(math.exp(p - m), t) for p, t in pool])


def marginal(reads, k, a, b):
    rs = [r for r in reads if r["rank"] <= k and r["candidates"]]
    if not rs:
        return ""
    prior = [a * r["retriever_score"] + b * (max(score(c) for c in r["candidates"]) - (r.get("null_score") or 0.0)) for r in rs]
    m = max(prior)
    weights = [math.exp(x - m) for x in prior]
    pool = []
    for r, wp in zip(rs, weights):
        s = [score(c) for c in r["candidates"]]
        mm = max(s)
        e = [math.exp(x - mm) for x in s]
        pool += [(wp / sum(weights) * x / sum(e), c["text"]) for c, x in zip(r["candidates"], e)]
    return best_text(pool)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    cache = json.load(open(sys.argv[1], encoding="utf-8"))
    data = json.load(open(sys.argv[2], encoding="utf-8"))["data"]
    gold = {q["id"]: [a["text"] for a in q["answers"]] for a in data for p in a["paragraphs"] for q in p["qas"]}
    questions = [(qid, q["reads"]) for qid, q in zip(cache["key"]["question_ids"], cache["reads"]) if gold.get(qid)]
    has_null = all("null_score" in r for _, reads in questions for r in reads if r["candidates"])

    def right(answer_of):
        return sum(ev.metric_max_over_ground_truths(ev.exact_match_score, answer_of(reads), gold[qid])
                   for qid, reads in questions)

    weighs_null = sys.argv[3] == "--marginal" or any(float(v.split(":")[-1]) != 0 for v in sys.argv[3:])
    if weighs_null and not has_null:
        sys.exit(f"{sys.argv[1]}: reads without no-answer scores (a cache from before them): read again")
    if sys.argv[3] == "--marginal":
        for k in (5, 10):
            for a in (0.0, 0.05, 0.1, 0.2, 0.3):
                for b in (0.0, 0.5, 1.0, 2.0):
                    print(f"marginal k {k} a {a} b {b}: {right(lambda r: marginal(r, k, a, b))} of {len(questions)}")
        return
    for variant in sys.argv[3:]:
        name, k, mu, w = variant.split(":")
        if name != "merge":
            sys.exit(f"unknown variant {variant!r}: merge:K:MU:W")
        print(f"{variant}: {right(lambda r: merge(r, int(k), float(mu), float(w)))} of {len(questions)}")


if __name__ == "__main__":
    main()
