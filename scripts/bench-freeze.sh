#!/usr/bin/env bash
# Training speed with the bottom N encoder layers frozen, side by side in one run: the same 8
# optimizer steps (16 windows of 384 tokens each, the full-data recipe's batch) of
# multilingual-e5-small-ko with a CNN head, for each N of FREEZE (default "0 6"), in turn.
# Prints windows/s of the steps (training.json's train_seconds), the ratio to the first N and the
# peak RSS (a run whose memory grows with the steps shows here first).
#
#   scripts/bench-freeze.sh            # FREEZE="0 6" STEPS=8 THREADS=0
#
# Needs ../shared (the model, KorQuAD train) and a release build (built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-../shared/models/multilingual-e5-small-ko}
TRAIN=${TRAIN:-../shared/data/korquad/train.json}
FREEZE=${FREEZE:-0 6}
STEPS=${STEPS:-8}
THREADS=${THREADS:-0}
ODQA=${ODQA:-target/release/odqa}
[ -x "$ODQA" ] || cargo build --release --bin odqa
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
first=""
for n in $FREEZE; do
  /usr/bin/time -f %M -o "$OUT/rss-$n" "$ODQA" train --model "$MODEL" --head cnn --train "$TRAIN" --max-train-examples 200 \
    --out "$OUT/frozen-$n" --max-steps "$STEPS" --batch-size 4 --gradient-accumulation-steps 4 \
    --learning-rate 1e-4 --freeze-word-embeddings --freeze-layers "$n" --save-steps 1000 \
    --threads "$THREADS" --quiet > /dev/null 2>&1
  rate=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["windows_seen"]/t["train_seconds"])' \
    "$OUT/frozen-$n/training.json")
  first=${first:-$rate}
  rss=$(tail -1 "$OUT/rss-$n")
  python3 -c 'import sys; n,r,f,m=sys.argv[1],float(sys.argv[2]),float(sys.argv[3]),int(sys.argv[4]); print(f"frozen layers {n:>2}: {r:.3f} windows/s ({r/f:.2f}x), peak RSS {m/1024:.0f} MiB")' "$n" "$rate" "$first" "$rss"
done
