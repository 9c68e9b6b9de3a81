"""PyTorch reference for scripts/bench-vs-pytorch.sh: the same encoder checkpoint and the same
run_qa windows as `odqa read` / `odqa train`, timed on the CPU with a fixed thread count.

    python pytorch_reader.py --model DIR --data dev.json --limit 40 --threads 2 --mode infer-b8

Modes: infer-b8 (batches of 8 windows padded to max_seq_len, as run_qa pads by default),
infer-b1 (one window at a time at its real length), train (CNN head, batch 4 windows of
max_seq_len, AdamW, dropout on; --steps steps). Prints one JSON line: windows, seconds,
windows_per_s. sdpa attention. --precision (inference only): fp32; bf16 = the forward pass under
`torch.autocast("cpu", dtype=torch.bfloat16)` (oneDNN, AMX where the CPU has it); int8 =
`torch.ao.quantization.quantize_dynamic` of the encoder's Linear layers (qint8 weights, activations
quantized per batch).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, BertModel

# The CNN head, the run_qa windows and the batching are the device reference's (one copy).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "device"))
from torch_reader import CnnHead, tokenize  # noqa: E402
from torch_reader import batch as device_batch  # noqa: E402


def batch(ws, pad_id, pad_to=None):
    return device_batch(ws, pad_id, torch.device("cpu"), pad_to)


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
    p.add_argument("--precision", choices=["fp32", "bf16", "int8"], default="fp32")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    config = BertConfig.from_pretrained(a.model)
    config._attn_implementation = "sdpa"
    encoder = BertModel.from_pretrained(
        a.model, config=config, add_pooling_layer=False, torch_dtype=torch.float32
    )
    head = CnnHead(config.hidden_size)
    spec = tokenize(a.model, a.data, a.limit, a.max_seq_len, a.doc_stride)
    ws, pad_id = spec["windows"], spec["pad_id"]

    if a.precision == "int8":
        encoder = torch.ao.quantization.quantize_dynamic(encoder, {nn.Linear}, dtype=torch.qint8)

    def forward(ids, types, mask):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            hidden = encoder(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
            return head(hidden)

    if a.mode.startswith("infer"):
        encoder.eval()
        head.eval()
        size = 8 if a.mode == "infer-b8" else 1
        pad_to = a.max_seq_len if size == 8 else None
        with torch.inference_mode():
            forward(*batch(ws[:size], pad_id, pad_to))  # warm-up (one full batch), not timed
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
    print(json.dumps({"mode": a.mode, "precision": a.precision, "windows": n, "seconds": seconds, "windows_per_s": n / seconds}))


if __name__ == "__main__":
    main()
