#!/usr/bin/env python3
"""Would ranking folded answers by their summed probability change EM? (distinct answers' check)

odqa hides the spans that overlap a better span of the same passage and keeps the strategy's order
and each answer's own probability (crates/odqa-pipeline/src/distinct.rs), so its first answer is
the best span. The variant this script measures — adding the hidden spans' probabilities to the
kept one and re-ranking by the sums — was built (commit 3be11ef) and dropped. It replays `odqa tune
--cache` reads (fusion/merge over the top k passages, as crates/odqa-pipeline/src/aggregate.rs,
without josa trimming) and scores the first answer three ways: the strategy's order (odqa), fold +
re-sort, and fold with equal texts across passages too + re-sort.

    python3 scripts/distinct-resort-check.py runs/shipped/tune-cache-611.json runs/split/tune.json \
        [runs/shipped/tune-read-nbest.json]

With a third argument (an `odqa read --nbest-out` file of the same questions), the same for
reading comprehension: the first span (odqa) vs the best region.
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from korquad_eval import official  # noqa: E402


EV = official()
norm, f1 = EV.normalize_answer, EV.f1_score


def ranked(reads, k, mu, merge):
    pooled = [(r, c) for r in reads if r["rank"] <= k for c in r["candidates"]]
    if not pooled:
        return []
    scores = [mu * (c["start_logit"] + c["end_logit"]) + (1 - mu) * r["retriever_score"] for r, c in pooled]
    top = max(scores)
    e = [math.exp(s - top) for s in scores]
    z = sum(e)
    spans = [dict(text=c["text"], p=x / z, pid=r["passage_id"], s=c["start"], e=c["end"]) for (r, c), x in zip(pooled, e)]
    if merge:
        groups = {}
        for a in spans:
            g = groups.setdefault(norm(a["text"]), dict(best=a, total=0.0))
            g["total"] += a["p"]
            if a["p"] > g["best"]["p"]:
                g["best"] = a
        spans = [dict(g["best"], p=g["total"]) for g in groups.values()]
    return sorted(spans, key=lambda a: -a["p"])


def fold(spans, same_text, resort):
    kept = []
    for a in spans:
        for b in kept:
            if (b["pid"] == a["pid"] and a["s"] < b["e"] and b["s"] < a["e"]) or (
                same_text and norm(a["text"]) == norm(b["text"])
            ):
                b["p"] += a["p"]
                break
        else:
            kept.append(dict(a))
    return sorted(kept, key=lambda a: -a["p"]) if resort else kept


def main():
    cache, split = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
    gold = {q["id"]: [a["text"] for a in q["answers"]] for d in split["data"] for p in d["paragraphs"] for q in p["qas"]}
    ways = {"strategy order (odqa)": (False, False), "fold + re-sort": (False, True), "fold + equal texts + re-sort": (True, True)}
    print("k\tmu\tstrategy\t" + "\t".join(ways))
    for k in (5, 10):
        for mu in (0.7, 0.8, 0.9):
            for merge in (False, True):
                row = []
                for same_text, resort in ways.values():
                    em = f = 0.0
                    for qid, q in zip(cache["key"]["question_ids"], cache["reads"]):
                        answers = fold(ranked(q["reads"], k, mu, merge), same_text, resort)
                        t = answers[0]["text"] if answers else ""
                        em += max(norm(t) == norm(g) for g in gold[qid])
                        f += max(f1(t, g) for g in gold[qid])
                    n = len(cache["reads"])
                    row.append(f"{100 * em / n:.2f} / {100 * f / n:.2f}")
                print(f"{k}\t{mu}\t{'merge' if merge else 'fusion'}\t" + "\t".join(row))
    if len(sys.argv) > 3:
        nbest = json.load(open(sys.argv[3]))
        for name, resort in (("first span (odqa)", False), ("best region", True)):
            em = f = 0.0
            for qid, g in gold.items():
                spans = [dict(c, p=c["probability"], pid=0, s=c.get("start") or 0, e=c.get("end") or 0) for c in nbest.get(qid, [])]
                kept = fold(spans, False, resort) if resort else spans
                t = kept[0]["text"] if kept and kept[0].get("start") is not None else ""
                em += max(norm(t) == norm(x) for x in g)
                f += max(f1(t, x) for x in g)
            print(f"reading comprehension, {name}: EM {100 * em / len(gold):.2f} / F1 {100 * f / len(gold):.2f}")


main()
