#!/usr/bin/env bash
# Trains the CNN and the linear head on the same budget (configs/train-e5-small-{cnn,linear}.toml),
# side by side with one thread each, then scores each on KorQuAD dev with `odqa read` and the
# official evaluate-v1.0.py. Logs and figures go to runs/.
# Usage: scripts/train-e5-small.sh [extra odqa train flags, e.g. --resume is per run: see README]
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
ODQA=${ODQA:-target/release/odqa}
[ -x "$ODQA" ] || cargo build --release -p odqa-cli
mkdir -p runs
one() {
  local head=$1
  local out=runs/e5-small-$head
  /usr/bin/time -v "$ODQA" train --config configs/train-e5-small-$head.toml --threads 1 --quiet "${@:2}" \
    > runs/train-$head.log 2>&1
  /usr/bin/time -v "$ODQA" read --model "$out" --data "$SHARED/data/korquad/dev.json" \
    --out "$out/predictions.json" --threads 1 > runs/read-$head.log 2>&1
  python3 "$SHARED/data/korquad/evaluate-v1.0.py" "$SHARED/data/korquad/dev.json" "$out/predictions.json" \
    | tee runs/score-$head.json
}
one cnn "$@" &
one linear "$@" &
wait
