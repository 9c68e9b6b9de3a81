#!/usr/bin/env python3
"""Reference "simple Python BM25" retrieval baseline, for comparison with `odqa eval retrieval`.

Words (\\w+ runs, lowercased) plus the Hangul syllable bigrams inside each word; Lucene idf;
BM25 k1=0.9, b=0.4 by default. Scores answer-recall@k (a gold answer string occurs verbatim in a
retrieved passage) exactly as odqa does. Needs numpy and scipy (`pip install numpy scipy`).

    python3 scripts/baseline_bm25.py CORPUS.jsonl SQUAD.json [--k1 0.9] [--b 0.4] [--top-k 1,5,20,100]
"""
import argparse
import json
import re
import sys
import time

import numpy as np
import scipy.sparse as sp

WORD = re.compile(r"\w+")


def is_hangul(c):
    return "\uac00" <= c <= "\ud7a3"


def tokenize(text):
    out = []
    for w in WORD.findall(text.lower()):
        out.append(w)
        for a, b in zip(w, w[1:]):
            if is_hangul(a) and is_hangul(b):
                out.append(a + b)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("squad")
    ap.add_argument("--k1", type=float, default=0.9)
    ap.add_argument("--b", type=float, default=0.4)
    ap.add_argument("--top-k", default="1,5,20,100")
    args = ap.parse_args()
    ks = [int(k) for k in args.top_k.split(",")]

    t0 = time.time()
    vocab, rows, cols, vals, texts, lengths = {}, [], [], [], [], []
    with open(args.corpus, encoding="utf-8") as f:
        for d, line in enumerate(f):
            text = json.loads(line)["text"]
            texts.append(text)
            counts = {}
            toks = tokenize(text)
            lengths.append(len(toks))
            for t in toks:
                counts[t] = counts.get(t, 0) + 1
            for t, c in counts.items():
                rows.append(d)
                cols.append(vocab.setdefault(t, len(vocab)))
                vals.append(c)
    n = len(texts)
    tf = sp.csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)), shape=(n, len(vocab))).tocsc()
    lengths = np.array(lengths, dtype=np.float32)
    df = np.diff(tf.indptr).astype(np.float32)
    idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
    norm = args.k1 * (1 - args.b + args.b * lengths / lengths.mean())
    # Precompute the BM25 weight of every (doc, term) entry.
    w = tf.copy()
    doc_of = w.indices
    w.data = w.data * (args.k1 + 1) / (w.data + norm[doc_of])
    w = w.multiply(idf.reshape(1, -1)).tocsc()
    print(f"indexed {n} passages, {len(vocab)} terms in {time.time() - t0:.1f} s", file=sys.stderr)

    data = json.load(open(args.squad, encoding="utf-8"))["data"]
    qas = [(qa["question"], [a["text"] for a in qa["answers"]]) for art in data for p in art["paragraphs"] for qa in p["qas"]]
    hits = {k: 0 for k in ks}
    kmax = max(ks)
    t1 = time.time()
    for question, answers in qas:
        ids = [vocab[t] for t in tokenize(question) if t in vocab]
        q = np.zeros(len(vocab), dtype=np.float32)
        for i in ids:
            q[i] += 1.0
        scores = w @ q if ids else np.zeros(n, dtype=np.float32)
        top = np.argpartition(-scores, kmax)[:kmax]
        top = top[np.argsort(-scores[top], kind="stable")]
        rank = next((r + 1 for r, d in enumerate(top) if scores[d] > 0 and any(a in texts[d] for a in answers)), None)
        for k in ks:
            hits[k] += rank is not None and rank <= k
    result = {"questions": len(qas), **{f"recall@{k}": round(hits[k] / len(qas), 4) for k in ks},
              "seconds_per_question": round((time.time() - t1) / len(qas), 4)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
