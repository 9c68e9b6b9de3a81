#!/usr/bin/env python3
"""Checkpoint averaging (SWA-style) of full odqa model directories: the mean of every tensor.

    python3 scripts/average-checkpoints.py OUT MODEL_DIR MODEL_DIR [...]

Each MODEL_DIR is a full model (config.json, model.safetensors, tokenizer files), e.g. the epoch
ends of one run merged with `odqa model merge` (LoRA adapters are averaged as merged weights: the
mean of the products, not of the low-rank factors). OUT must not exist; it gets the mean weights
(f32) and the first model's config and tokenizer files. Needs numpy and safetensors.
"""
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import load_file, save_file


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, models = sys.argv[1], sys.argv[2:]
    if os.path.exists(out):
        sys.exit(f"{out} exists: refusing to overwrite it")
    tensors = [load_file(os.path.join(m, "model.safetensors")) for m in models]
    names = set(tensors[0])
    for m, t in zip(models, tensors):
        if set(t) != names:
            sys.exit(f"{m} has other tensors than {models[0]}")
    mean = {n: np.mean([t[n].astype(np.float32) for t in tensors], axis=0) for n in sorted(names)}
    tmp = out + ".partial"
    os.makedirs(tmp)
    save_file(mean, os.path.join(tmp, "model.safetensors"))
    for f in os.listdir(models[0]):
        if f != "model.safetensors" and os.path.isfile(os.path.join(models[0], f)):
            shutil.copyfile(os.path.join(models[0], f), os.path.join(tmp, f))
    os.rename(tmp, out)
    print(f"averaged {len(models)} models ({len(names)} tensors) → {out}")


main()
