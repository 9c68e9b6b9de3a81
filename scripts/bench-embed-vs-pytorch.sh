#!/usr/bin/env bash
# Passage embedding speed, odqa against PyTorch, side by side on the same passages, model and
# thread count: the first N kowiki passages embedded with multilingual-e5-small-ko by
# `odqa index-dense` (an index of those passages) and by scripts/bench-embed-vs-pytorch.py
# (transformers' BertModel, fp32, sdpa, sentence-transformers-style mean pooling, sorted batches),
# then the agreement of the two sets of vectors (cosine).
#
#   scripts/bench-embed-vs-pytorch.sh            # N=1000 THREADS=2 BATCH=32
#   N=2000 THREADS=1 scripts/bench-embed-vs-pytorch.sh
#
# Needs ../shared, a release build and target/bench-venv (torch, transformers, tokenizers, numpy).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000} THREADS=${THREADS:-2} BATCH=${BATCH:-32}
MODEL=${MODEL:-../shared/models/multilingual-e5-small-ko}
CORPUS=${CORPUS:-../shared/data/kowiki/passages.jsonl}
ODQA=${ODQA:-target/release/odqa}
PY=${PY:-target/bench-venv/bin/python}
[ -x "$ODQA" ] || cargo build --release --bin odqa
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -n "$N" "$CORPUS" > "$work/p.jsonl"
"$ODQA" index --corpus "$work/p.jsonl" --index "$work/idx" --lang ko > /dev/null 2>&1
distinct=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unique_texts"])' "$work/idx/odqa-index.json")
[ "$distinct" = "$N" ] || { echo "the first $N passages repeat a text ($distinct distinct): pick another N" >&2; exit 2; }
start=$(date +%s.%N)
"$ODQA" index-dense --index "$work/idx" --model "$MODEL" --threads "$THREADS" \
  --dense-batch-size "$BATCH" --json > "$work/odqa.json" 2> /dev/null
end=$(date +%s.%N)
python3 - "$work/odqa.json" "$start" "$end" "$N" "$THREADS" << 'PY'
import json, sys
d = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
n = int(sys.argv[4])
print(json.dumps({"engine": "odqa", "passages": n, "seconds": round(d["seconds"], 3),
                  "passages_per_s": round(n / d["seconds"], 2), "wall_with_loading_s": round(wall, 2),
                  "threads": int(sys.argv[5])}))
PY
"$PY" - "$work/idx/dense/vectors.f16" "$work/odqa.f32" << 'PY'
import sys, numpy as np
np.frombuffer(open(sys.argv[1], "rb").read(), dtype="<f2").astype(np.float32).tofile(sys.argv[2])
PY
"$PY" scripts/bench-embed-vs-pytorch.py --model "$MODEL" --corpus "$work/p.jsonl" --n "$N" \
  --threads "$THREADS" --batch-size "$BATCH" --compare "$work/odqa.f32" 2> /dev/null
echo "CPU: $(sed -n 's/^model name\t: //p' /proc/cpuinfo | head -1), $(nproc) threads"
