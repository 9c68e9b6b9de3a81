#!/usr/bin/env bash
# Where the reader's time goes: `perf record` (cpu-clock samples, no call graphs) of
#   infer-b1  `odqa read`, one window at a time, first $LIMIT KorQuAD dev questions;
#   train     `odqa train`, CNN head, $STEPS optimizer steps of batch 4 × 384 windows,
# on ../shared/models/multilingual-e5-small-ko, then the share of samples per category (gemm
# microkernel, gemm packing, zero-filling and copies, the fused kernels, burn's elementwise ops, the
# tokenizer, the rest)
# by scripts/bench/profile_categories.py. This reproduces README's "Where the time goes now".
#
#   scripts/profile.sh                     # ≈ 3 minutes on 2 cores
#   ROWS=train STEPS=3 scripts/profile.sh
#
# Needs perf (Debian: linux-perf) allowed to sample user code (kernel.perf_event_paranoid ≤ 2).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-../shared/models/multilingual-e5-small-ko}
DATA=${DATA:-../shared/data/korquad/dev.json}
TRAIN=${TRAIN:-../shared/data/korquad/train.json}
LIMIT=${LIMIT:-20}
STEPS=${STEPS:-6}
THREADS=${THREADS:-2}
ROWS=${ROWS:-"infer-b1 train"}
OUT=${OUT:-bench-out/profile}
command -v perf > /dev/null || { echo "profile: perf not found (apt-get install linux-perf)" >&2; exit 2; }
for need in "$MODEL/config.json" "$DATA" "$TRAIN"; do
  [ -e "$need" ] || { echo "profile: $need not found (set MODEL / DATA / TRAIN)" >&2; exit 2; }
done
mkdir -p "$OUT"
cargo build --release --bin odqa
ODQA=${CARGO_TARGET_DIR:-target}/release/odqa

for row in $ROWS; do
  case $row in
    infer-b1) cmd=("$ODQA" read --model "$MODEL" --data "$DATA" --limit "$LIMIT" --batch-size 1
                   --threads "$THREADS" --out "$OUT/predictions.json") ;;
    train) rm -rf "$OUT/train-run"
           cmd=("$ODQA" train --model "$MODEL" --head cnn --train "$TRAIN" --out "$OUT/train-run"
                --max-steps "$STEPS" --batch-size 4 --gradient-accumulation-steps 1
                --save-steps 100000 --threads "$THREADS") ;;
    *) echo "profile: unknown row $row (infer-b1, train)" >&2; exit 2 ;;
  esac
  echo "== $row: perf record ${cmd[*]}" >&2
  perf record -q -e cpu-clock -F 499 -o "$OUT/$row.data" -- "${cmd[@]}" 2> "$OUT/$row.log" \
    || { cat "$OUT/$row.log" >&2; exit 1; }
  perf report -i "$OUT/$row.data" --no-children --sort dso,symbol --stdio -q 2> /dev/null \
    > "$OUT/$row.symbols.txt"
  echo "## $row"
  python3 scripts/bench/profile_categories.py "$OUT/$row.symbols.txt"
done
