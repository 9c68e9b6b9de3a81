#!/usr/bin/env python3
"""PyTorch side of the passage-embedding benchmark (speed and agreement with odqa's dense retriever).

    target/bench-venv/bin/python scripts/bench-embed-vs-pytorch.py [--model ../shared/models/multilingual-e5-small-ko]
        [--corpus ../shared/data/kowiki/passages.jsonl] [--n 2000] [--threads 2] [--batch-size 32]
        [--max-len 512] [--out vectors.npy] [--compare odqa-vectors.f32]

Embeds the first N passages ({"id","title","text"} per line) as sentence-transformers does for
multilingual-e5: "passage: {title} {text}" ("passage: {text}" without a title), tokenized with the
model's tokenizer.json through the `tokenizers` library (the file odqa loads; transformers 5's
AutoTokenizer rebuilds this XLM-R tokenizer without its NFKC/control-character normalizer and
disagrees on a few passages), special tokens added, truncated to --max-len. Passages are sorted by
token length, batched, each batch padded to its longest; BertModel fp32 (the fp16 checkpoint upcast),
sdpa attention, eval, torch.inference_mode(); last_hidden_state mean-pooled over the attention mask,
then L2-normalised. Timed: tokenization + encoding (after one untimed warm-up batch).

Prints one JSON line: engine, passages, seconds, passages_per_s, tokens (real tokens), threads,
torch, cpu. --out writes float32 [N, dim] in input order (.npy). --compare FILE reads a raw
little-endian float32 [N, dim] file in the same order (odqa's) and prints a second JSON line with
the min / mean cosine between the two sets and the max |difference|.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel


def passage(p):
    return f"passage: {p['title']} {p['text']}" if p.get("title") else f"passage: {p['text']}"


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="../shared/models/multilingual-e5-small-ko")
    ap.add_argument("--corpus", default="../shared/data/kowiki/passages.jsonl")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--out", help="write the vectors here (.npy, float32 [N, dim], input order)")
    ap.add_argument("--compare", help="raw little-endian float32 [N, dim] vectors from odqa, same order")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    texts = []
    with open(a.corpus, encoding="utf-8") as f:
        for line in f:
            if len(texts) == a.n:
                break
            if line.strip():
                texts.append(passage(json.loads(line)))
    config = BertConfig.from_pretrained(a.model)
    config._attn_implementation = "sdpa"
    model = BertModel.from_pretrained(a.model, config=config, add_pooling_layer=False, torch_dtype=torch.float32)
    model.eval()
    tokenizer = Tokenizer.from_file(str(Path(a.model) / "tokenizer.json"))
    tokenizer.enable_truncation(a.max_len)
    tokenizer.no_padding()
    pad_id = config.pad_token_id

    def embed(ids_list):
        width = max(len(ids) for ids in ids_list)
        ids = torch.full((len(ids_list), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids_list), width), dtype=torch.long)
        for i, row in enumerate(ids_list):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    vectors = np.zeros((len(texts), config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        embed([tokenizer.encode(texts[0]).ids])  # warm-up, not timed
        started = time.perf_counter()
        encoded = [e.ids for e in tokenizer.encode_batch(texts)]
        order = sorted(range(len(texts)), key=lambda i: -len(encoded[i]))
        for s in range(0, len(order), a.batch_size):
            chunk = order[s : s + a.batch_size]
            vectors[chunk] = embed([encoded[i] for i in chunk]).numpy()
        seconds = time.perf_counter() - started
    print(json.dumps({
        "engine": "pytorch", "passages": len(texts), "seconds": round(seconds, 3),
        "passages_per_s": round(len(texts) / seconds, 2), "tokens": sum(len(e) for e in encoded),
        "threads": a.threads, "torch": torch.__version__, "cpu": cpu_name(),
    }), flush=True)
    if a.out:
        np.save(a.out, vectors)
    if a.compare:
        other = np.fromfile(a.compare, dtype="<f4")
        if other.size != vectors.size:
            raise SystemExit(f"{a.compare}: {other.size} floats, expected {vectors.shape[0]} x {vectors.shape[1]}")
        other = other.reshape(vectors.shape).astype(np.float64)
        ours = vectors.astype(np.float64)
        cos = (ours * other).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(other, axis=1))
        print(json.dumps({
            "compare": a.compare, "passages": len(cos), "min_cosine": float(cos.min()),
            "mean_cosine": float(cos.mean()), "worst_passage": int(cos.argmin()),
            "max_abs_diff": float(np.abs(ours - other).max()),
        }))


if __name__ == "__main__":
    main()
