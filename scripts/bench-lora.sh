#!/usr/bin/env bash
# Training speed and memory of a LoRA adapter against full fine-tuning, side by side in one run:
# the same optimizer steps (16 windows of 384 tokens each, the full-data recipe's batch) of
# multilingual-e5-small-ko with a CNN head, for each mode of MODES in turn (default
# "full lora full lora", so drift shows): `full` trains every weight but the word embeddings
# (configs/train-e5-small-cnn-full.toml), `lora` a rank-RANK adapter on every linear layer with
# the base frozen (configs/train-e5-small-cnn-lora.toml). Prints windows/s of the steps
# (training.json's train_seconds), the ratio to the first run, the peak RSS and the size written.
#
#   scripts/bench-lora.sh            # MODES="full lora full lora" STEPS=6 RANK=16 THREADS=0
#
# Needs ../shared (the model, KorQuAD train) and a release build (built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-../shared/models/multilingual-e5-small-ko}
TRAIN=${TRAIN:-../shared/data/korquad/train.json}
MODES=${MODES:-full lora full lora}
STEPS=${STEPS:-6}
RANK=${RANK:-16}
THREADS=${THREADS:-0}
ODQA=${ODQA:-target/release/odqa}
[ -x "$ODQA" ] || cargo build --release --bin odqa
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
grep -m1 "model name" /proc/cpuinfo | sed 's/.*: /CPU: /'
first=""
i=0
for mode in $MODES; do
  i=$((i + 1))
  case $mode in
    full) flags=(--freeze-word-embeddings --learning-rate 1e-4) ;;
    lora) flags=(--lora-rank "$RANK" --learning-rate 5e-4) ;;
    *) echo "unknown mode $mode (full or lora)" >&2; exit 2 ;;
  esac
  run="$OUT/$i-$mode"
  /usr/bin/time -f %M -o "$run.rss" "$ODQA" train --model "$MODEL" --head cnn --train "$TRAIN" \
    --max-train-examples 200 --out "$run" --max-steps "$STEPS" --batch-size 4 \
    --gradient-accumulation-steps 4 --save-steps 1000 --threads "$THREADS" --quiet "${flags[@]}" \
    > /dev/null 2>&1
  rate=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["windows_seen"]/t["train_seconds"])' \
    "$run/training.json")
  first=${first:-$rate}
  size=$(du -cb "$run"/*.safetensors | tail -1 | cut -f1)
  python3 -c 'import sys; m,r,f,k,s=sys.argv[1],float(sys.argv[2]),float(sys.argv[3]),int(sys.argv[4]),int(sys.argv[5]); print(f"{m:>4}: {r:.3f} windows/s ({r/f:.2f}x), peak RSS {k/1024:.0f} MiB, model written {s/1e6:.1f} MB")' \
    "$mode" "$rate" "$first" "$(tail -1 "$run.rss")" "$size"
done
