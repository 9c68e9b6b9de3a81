"""PyTorch reference reader for scripts/device/run.py: needs only torch (no transformers, no
safetensors package), so that it runs on a machine with nothing else installed.

    python3 torch_reader.py --model DIR --windows windows.json --mode infer --batch-size 8 [--dtype bf16]
    python3 torch_reader.py --model DIR --windows windows.json --mode train --batch-size 16 --steps 20
    python3 torch_reader.py --model DIR --windows windows.json --check-transformers   # here, in a venv
    python3 torch_reader.py --model DIR --windows windows.json --tokenize dev.json --limit 200  # here

The encoder is BERT as Hugging Face's BertModel computes it (absolute positions from 0, token
types, post-norm layers, erf GELU, sdpa attention with the padding mask) and the head odqa's CNN
head; weights from DIR/model.safetensors. Inference pads each batch to its longest window (as
`odqa read` does); training pads to --max-seq-len (as `odqa train` does), AdamW, dropout on.
`--dtype bf16` runs under torch.autocast. Prints one JSON line: mode, dtype, device, windows,
seconds, windows_per_s (and the loss of the last step when training).
"""

import argparse
import json
import math
import struct
import time

import torch
from torch import nn
from torch.nn import functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def load_safetensors(path):
    """{name: float32 tensor} of a safetensors file, parsed with the standard library."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = memoryview(raw)[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[start:end]), dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).float()
    return out


class Bert(nn.Module):
    """BertModel's encoder (no pooler) from a config.json dict."""

    def __init__(self, c):
        super().__init__()
        h, inner = c["hidden_size"], c["intermediate_size"]
        self.heads, self.eps, self.drop = c["num_attention_heads"], c["layer_norm_eps"], c["hidden_dropout_prob"]
        self.attn_drop = c["attention_probs_dropout_prob"]
        self.word = nn.Embedding(c["vocab_size"], h)
        self.position = nn.Embedding(c["max_position_embeddings"], h)
        self.token_type = nn.Embedding(c["type_vocab_size"], h)
        self.norm = nn.LayerNorm(h, eps=self.eps)
        self.layers = nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            layer = nn.ModuleDict(
                {
                    "query": nn.Linear(h, h),
                    "key": nn.Linear(h, h),
                    "value": nn.Linear(h, h),
                    "out": nn.Linear(h, h),
                    "norm1": nn.LayerNorm(h, eps=self.eps),
                    "up": nn.Linear(h, inner),
                    "down": nn.Linear(inner, h),
                    "norm2": nn.LayerNorm(h, eps=self.eps),
                }
            )
            self.layers.append(layer)

    def load(self, w):
        """Copies HF BertModel tensors (names without prefix) into the modules."""
        names = {
            "word.weight": "embeddings.word_embeddings.weight",
            "position.weight": "embeddings.position_embeddings.weight",
            "token_type.weight": "embeddings.token_type_embeddings.weight",
            "norm.weight": "embeddings.LayerNorm.weight",
            "norm.bias": "embeddings.LayerNorm.bias",
        }
        parts = {
            "query": "attention.self.query",
            "key": "attention.self.key",
            "value": "attention.self.value",
            "out": "attention.output.dense",
            "norm1": "attention.output.LayerNorm",
            "up": "intermediate.dense",
            "down": "output.dense",
            "norm2": "output.LayerNorm",
        }
        for i in range(len(self.layers)):
            for ours, theirs in parts.items():
                for p in ("weight", "bias"):
                    names[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
        state = {ours: w[theirs] for ours, theirs in names.items()}
        self.load_state_dict(state)

    def forward(self, ids, types, mask):
        b, l = ids.shape
        positions = torch.arange(l, device=ids.device).unsqueeze(0)
        x = self.word(ids) + self.position(positions) + self.token_type(types)
        x = F.dropout(self.norm(x), self.drop, self.training)
        keep = mask.bool()[:, None, None, :]
        d = x.shape[-1] // self.heads
        for layer in self.layers:
            split = lambda t: t.view(b, l, self.heads, d).transpose(1, 2)
            q, k, v = (split(layer[n](x)) for n in ("query", "key", "value"))
            a = F.scaled_dot_product_attention(
                q, k, v, attn_mask=keep, dropout_p=self.attn_drop if self.training else 0.0
            )
            a = a.transpose(1, 2).reshape(b, l, -1)
            x = layer["norm1"](x + F.dropout(layer["out"](a), self.drop, self.training))
            y = layer["down"](F.gelu(layer["up"](x)))
            x = layer["norm2"](x + F.dropout(y, self.drop, self.training))
        return x


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


def batch(ws, pad_id, device, pad_to=None):
    length = max([pad_to or 0] + [len(w["ids"]) for w in ws])
    ids = torch.full((len(ws), length), pad_id, dtype=torch.long)
    types = torch.zeros((len(ws), length), dtype=torch.long)
    mask = torch.zeros((len(ws), length), dtype=torch.long)
    for i, w in enumerate(ws):
        n = len(w["ids"])
        ids[i, :n] = torch.tensor(w["ids"])
        types[i, :n] = torch.tensor(w["types"])
        mask[i, :n] = 1
    return ids.to(device), types.to(device), mask.to(device)


def tokenize(model_dir, data, limit, max_len, stride):
    """The run_qa windows (question, context; only_second truncation with stride) of the first
    `limit` questions of a SQuAD file, as {pad_id, windows: [{ids, types}]}; needs transformers."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=f"{model_dir}/tokenizer.json")
    tokenizer.pad_token = "<pad>"
    with open(data, encoding="utf-8") as f:
        squad = json.load(f)
    pairs = [
        (qa["question"].lstrip(), paragraph["context"])
        for article in squad["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ][:limit]
    enc = tokenizer(
        [q for q, _ in pairs],
        [c for _, c in pairs],
        truncation="only_second",
        max_length=max_len,
        stride=stride,
        return_overflowing_tokens=True,
        padding=False,
        return_token_type_ids=True,
    )
    windows = [{"ids": i, "types": t} for i, t in zip(enc["input_ids"], enc["token_type_ids"])]
    return {"pad_id": tokenizer.pad_token_id, "questions": len(pairs), "windows": windows}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def check_transformers(model_dir, encoder, ws, pad_id):
    """Max |Δ| of the last hidden state against transformers' BertModel (run here, in a venv)."""
    from transformers import BertModel

    reference = BertModel.from_pretrained(model_dir, add_pooling_layer=False, torch_dtype=torch.float32).eval()
    encoder.eval()
    ids, types, mask = batch(ws[:4], pad_id, torch.device("cpu"))
    with torch.inference_mode():
        ours = encoder(ids, types, mask)
        theirs = reference(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
    keep = mask.bool()
    return (ours[keep] - theirs[keep]).abs().max().item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--windows", required=True, help="windows.json: {pad_id, windows: [{ids, types}]}")
    p.add_argument("--mode", choices=["infer", "train"], default="infer")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=10, help="timed training steps (after one untimed)")
    p.add_argument("--max-seq-len", type=int, default=384)
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--check-transformers", action="store_true")
    p.add_argument("--tokenize", metavar="SQUAD_JSON", help="write --windows from this file and stop")
    p.add_argument("--limit", type=int, default=200, help="questions to tokenize")
    p.add_argument("--max-windows", type=int, default=0, help="use only the first N windows (0 = all)")
    p.add_argument("--doc-stride", type=int, default=128)
    a = p.parse_args()
    if a.tokenize:
        spec = tokenize(a.model, a.tokenize, a.limit, a.max_seq_len, a.doc_stride)
        with open(a.windows, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        print(json.dumps({"questions": spec["questions"], "windows": len(spec["windows"])}))
        return
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with open(f"{a.model}/config.json", encoding="utf-8") as f:
        config = json.load(f)
    with open(a.windows, encoding="utf-8") as f:
        spec = json.load(f)
    ws, pad_id = spec["windows"][: a.max_windows or None], spec["pad_id"]
    encoder = Bert(config)
    encoder.load(load_safetensors(f"{a.model}/model.safetensors"))
    if a.check_transformers:
        print(json.dumps({"max_abs_diff_vs_transformers": check_transformers(a.model, encoder, ws, pad_id)}))
        return
    head = CnnHead(config["hidden_size"])
    encoder.to(device)
    head.to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.dtype == "bf16")
    result = {"mode": a.mode, "dtype": a.dtype, "device": str(device), "batch_size": a.batch_size}
    if a.mode == "infer":
        encoder.eval()
        head.eval()
        with torch.inference_mode(), autocast:
            for i in range(0, min(len(ws), 2 * a.batch_size), a.batch_size):  # warm-up, not timed
                head(encoder(*batch(ws[i : i + a.batch_size], pad_id, device)))
            sync(device)
            started = time.perf_counter()
            for i in range(0, len(ws), a.batch_size):
                head(encoder(*batch(ws[i : i + a.batch_size], pad_id, device)))
            sync(device)
            seconds = time.perf_counter() - started
        n = len(ws)
    else:
        encoder.train()
        head.train()
        params = list(encoder.parameters()) + list(head.parameters())
        optimizer = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)
        n, loss, started = 0, None, None
        for step in range(a.steps + 1):
            if step == 1:  # the first step (allocation, autotuning) is not timed
                sync(device)
                started = time.perf_counter()
            chosen = [ws[(step * a.batch_size + j) % len(ws)] for j in range(a.batch_size)]
            ids, types, mask = batch(chosen, pad_id, device, a.max_seq_len)
            targets = torch.tensor([(7 * step + j) % 50 + 20 for j in range(a.batch_size)], device=device)
            with autocast:
                start, end = head(encoder(ids, types, mask))
                loss = (F.cross_entropy(start.float(), targets) + F.cross_entropy(end.float(), targets + 3)) / 2
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            n += a.batch_size if step else 0
        sync(device)
        seconds = time.perf_counter() - started
        result["loss"] = loss.item() if not math.isnan(loss.item()) else None
    result.update({"windows": n, "seconds": seconds, "windows_per_s": n / seconds})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
