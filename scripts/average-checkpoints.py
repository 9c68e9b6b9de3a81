#!/usr/bin/env python3
"""Checkpoint averaging (SWA-style) of odqa models: the mean of their weights.

    python3 scripts/average-checkpoints.py OUT DIR DIR [...]

Either every DIR is a full model (config.json, model.safetensors, tokenizer files): OUT gets the
mean of every tensor (f32) and the first model's other files. Or every DIR is a LoRA adapter of one
run (adapter_config.json, adapter_model.safetensors; same base, rank, alpha, targets): OUT is an
adapter whose update is exactly the mean of theirs — the low-rank factors side by side (rank
n × r, B' = [B1 … Bn], A' = [A1; …; An], alpha chosen so that alpha'/r' = alpha/r/n) — and whose
saved modules (the head) are the mean of theirs. OUT must not exist. Needs numpy and safetensors.
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file, save_file


SKIPPED = {"model.safetensors", "adapter_model.safetensors", "optimizer.safetensors", "trainer_state.json"}


def write_atomically(out, fill):
    """Creates OUT whole or not at all: `fill(folder)` writes into a hidden folder beside it, which
    is renamed to OUT at the end (and removed if anything fails)."""
    parent = os.path.dirname(out) or "."
    tmp = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(out) + ".")
    try:
        fill(tmp)
        umask = os.umask(0)
        os.umask(umask)
        for f in os.listdir(tmp):  # mkdtemp and save_file create private files: the umask's modes
            os.chmod(os.path.join(tmp, f), 0o666 & ~umask)
        os.chmod(tmp, 0o777 & ~umask)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def average_adapters(out, adapters):
    configs = [json.load(open(os.path.join(a, "adapter_config.json"))) for a in adapters]
    first = configs[0]
    for a, c in zip(adapters, configs):
        same = ("r", "lora_alpha", "target_modules", "odqa_base_sha256", "use_rslora")
        if any(c.get(k) != first.get(k) for k in same) or c.get("rank_pattern") or c.get("alpha_pattern"):
            sys.exit(f"{a} is not an adapter of the same kind as {adapters[0]}")
    if first.get("use_rslora"):
        sys.exit("rsLoRA adapters are not supported (their scale depends on the rank)")
    n, r = len(adapters), first["r"]
    tensors = [load_file(os.path.join(a, "adapter_model.safetensors")) for a in adapters]
    if any(set(t) != set(tensors[0]) for t in tensors):
        sys.exit("the adapters hold different tensors")
    mean = {}
    for name in sorted(tensors[0]):
        parts = [t[name].astype(np.float32) for t in tensors]
        if ".lora_A." in name:
            mean[name] = np.concatenate(parts, axis=0)
        elif ".lora_B." in name:
            mean[name] = np.concatenate(parts, axis=1)
        else:
            mean[name] = np.mean(parts, axis=0)
    config = dict(first, r=n * r, lora_alpha=first["lora_alpha"])  # (alpha / (n r)) = (alpha / r) / n
    base = first.get("base_model_name_or_path")
    if base and not os.path.isabs(base):  # relative to the adapter's folder: now to OUT's
        config["base_model_name_or_path"] = os.path.relpath(os.path.join(adapters[0], base), out)

    def fill(folder):
        save_file(mean, os.path.join(folder, "adapter_model.safetensors"))
        with open(os.path.join(folder, "adapter_config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")

    write_atomically(out, fill)
    print(f"averaged {n} adapters (rank {r} → {n * r}) → {out}")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, models = os.path.normpath(sys.argv[1]), sys.argv[2:]
    if os.path.exists(out):
        sys.exit(f"{out} exists: refusing to overwrite it")
    adapters = [os.path.exists(os.path.join(m, "adapter_config.json")) for m in models]
    if all(adapters):
        return average_adapters(out, models)
    if any(adapters):
        sys.exit("give either LoRA adapters only or full models only, not both")
    tensors = [load_file(os.path.join(m, "model.safetensors")) for m in models]
    names = set(tensors[0])
    for m, t in zip(models, tensors):
        if set(t) != names:
            sys.exit(f"{m} has other tensors than {models[0]}")
    mean = {n: np.mean([t[n].astype(np.float32) for t in tensors], axis=0) for n in sorted(names)}

    def fill(folder):
        save_file(mean, os.path.join(folder, "model.safetensors"))
        for f in os.listdir(models[0]):
            if f not in SKIPPED and os.path.isfile(os.path.join(models[0], f)):
                shutil.copyfile(os.path.join(models[0], f), os.path.join(folder, f))

    write_atomically(out, fill)
    print(f"averaged {len(models)} models ({len(names)} tensors) → {out}")


main()
