#!/usr/bin/env bash
# Trains the runs configured in configs/train-e5-small-NAME.toml and scores each on KorQuAD dev with
# `odqa read` and the official evaluate-v1.0.py. Several runs go side by side, one thread each.
# Usage: scripts/train-e5-small.sh [NAME…]     (default: cnn linear; also: linear-headlr)
# Logs, models and scores go to runs/ (train-NAME.log, read-NAME.log, score-NAME.json, e5-small-NAME/).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
ODQA=${ODQA:-target/release/odqa}
[ -x "$ODQA" ] || cargo build --release -p odqa-cli
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(cnn linear)
threads=$(( ${#names[@]} > 1 ? 1 : 0 ))
mkdir -p runs
one() {
  local name=$1
  local out=runs/e5-small-$name
  /usr/bin/time -v "$ODQA" train --config "configs/train-e5-small-$name.toml" --threads $threads --quiet \
    > "runs/train-$name.log" 2>&1
  /usr/bin/time -v "$ODQA" read --model "$out" --data "$SHARED/data/korquad/dev.json" \
    --out "$out/predictions.json" --threads $threads > "runs/read-$name.log" 2>&1
  python3 "$SHARED/data/korquad/evaluate-v1.0.py" "$SHARED/data/korquad/dev.json" "$out/predictions.json" \
    | tee "runs/score-$name.json"
}
for name in "${names[@]}"; do
  one "$name" &
done
wait
