"""PyTorch reference for scripts/bench-vs-pytorch.sh: the same encoder checkpoint and the same
run_qa windows as `odqa read` / `odqa train`, timed on the CPU with a fixed thread count.

    python pytorch_reader.py --model DIR --data dev.json --limit 40 --threads 2 --mode infer-b8

Modes: infer-b8 (batches of 8 windows padded to max_seq_len, as run_qa pads by default),
infer-b1 (one window at a time at its real length), train (CNN head, batch 4 windows of
max_seq_len, AdamW, dropout on; --steps steps). Prints one JSON line: windows, seconds,
windows_per_s. Inference and training use fp32 and sdpa attention.
"""

import argparse
import json
import time

import torch
from torch import nn
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast


class CnnHead(nn.Module):
    """odqa's CNN head: the same block (Conv1d(h→128, 3, pad 1) → Conv1d(128→h, 1) → ReLU →
    residual → LayerNorm) applied 5 times, then Linear(h → 2)."""

    def __init__(self, hidden, channels=128, blocks=5):
        super().__init__()
        self.conv1 = nn.Conv1d(hidden, channels, 3, padding=1)
        self.conv2 = nn.Conv1d(channels, hidden, 1)
        self.norm = nn.LayerNorm(hidden, eps=1e-5)
        self.blocks = blocks
        self.qa_outputs = nn.Linear(hidden, 2)

    def forward(self, x):
        for _ in range(self.blocks):
            y = torch.relu(self.conv2(self.conv1(x.transpose(1, 2)))).transpose(1, 2)
            x = self.norm(x + y)
        logits = self.qa_outputs(x)
        return logits[..., 0], logits[..., 1]


def windows(model_dir, data, limit, max_len, stride):
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=f"{model_dir}/tokenizer.json")
    tokenizer.pad_token = "<pad>"
    with open(data, encoding="utf-8") as f:
        squad = json.load(f)
    questions, contexts = [], []
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                questions.append(qa["question"].lstrip())
                contexts.append(paragraph["context"])
    questions, contexts = questions[:limit], contexts[:limit]
    enc = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=max_len,
        stride=stride,
        return_overflowing_tokens=True,
        padding=False,
        return_token_type_ids=True,
    )
    out = []
    for ids, types in zip(enc["input_ids"], enc["token_type_ids"]):
        out.append((ids, types))
    return out, tokenizer.pad_token_id


def batch(ws, pad_id, pad_to=None):
    length = pad_to or max(len(ids) for ids, _ in ws)
    ids = torch.full((len(ws), length), pad_id, dtype=torch.long)
    types = torch.zeros((len(ws), length), dtype=torch.long)
    mask = torch.zeros((len(ws), length), dtype=torch.long)
    for i, (w, t) in enumerate(ws):
        ids[i, : len(w)] = torch.tensor(w)
        types[i, : len(t)] = torch.tensor(t)
        mask[i, : len(w)] = 1
    return ids, types, mask


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--limit", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--mode", choices=["infer-b8", "infer-b1", "train"], required=True)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--max-seq-len", type=int, default=384)
    p.add_argument("--doc-stride", type=int, default=128)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    config = BertConfig.from_pretrained(a.model)
    config._attn_implementation = "sdpa"
    encoder = BertModel.from_pretrained(
        a.model, config=config, add_pooling_layer=False, torch_dtype=torch.float32
    )
    head = CnnHead(config.hidden_size)
    ws, pad_id = windows(a.model, a.data, a.limit, a.max_seq_len, a.doc_stride)

    def forward(ids, types, mask):
        hidden = encoder(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
        return head(hidden)

    if a.mode.startswith("infer"):
        encoder.eval()
        head.eval()
        size = 8 if a.mode == "infer-b8" else 1
        pad_to = a.max_seq_len if size == 8 else None
        with torch.inference_mode():
            forward(*batch(ws[:1], pad_id, pad_to))  # warm-up, not timed
            started = time.perf_counter()
            for i in range(0, len(ws), size):
                forward(*batch(ws[i : i + size], pad_id, pad_to))
            seconds = time.perf_counter() - started
        n = len(ws)
    else:
        encoder.train()
        head.train()
        params = list(encoder.parameters()) + list(head.parameters())
        optimizer = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.0)
        loss_fn = nn.CrossEntropyLoss()
        started = time.perf_counter()
        n = 0
        for step in range(a.steps):
            chosen = [ws[(step * 4 + j) % len(ws)] for j in range(4)]
            ids, types, mask = batch(chosen, pad_id, a.max_seq_len)
            start, end = forward(ids, types, mask)
            targets = torch.tensor([(7 * step + j) % 50 + 20 for j in range(4)])
            loss = (loss_fn(start, targets) + loss_fn(end, targets + 3)) / 2
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            n += 4
        seconds = time.perf_counter() - started
    print(json.dumps({"mode": a.mode, "windows": n, "seconds": seconds, "windows_per_s": n / seconds}))


if __name__ == "__main__":
    main()
