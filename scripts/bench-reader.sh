#!/usr/bin/env bash
# Reader benchmark: `odqa read` with the shared multilingual-e5-small encoder (fresh head) on KorQuAD
# dev: windows/s at seq 384 for batch sizes 1, 8, 32 on the first $LIMIT questions, peak memory,
# then one full run over all dev questions. Needs ../shared (or set MODEL and DATA).
#
#   scripts/bench-reader.sh               # ~10 minutes on 2 cores
#   LIMIT=20 BATCHES="8" scripts/bench-reader.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-../shared/models/multilingual-e5-small-ko}
DATA=${DATA:-../shared/data/korquad/dev.json}
LIMIT=${LIMIT:-40}
BATCHES=${BATCHES:-"1 8 32"}
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
cargo build --release --bin odqa
ODQA=target/release/odqa
TIME=""
[ -x /usr/bin/time ] && TIME="/usr/bin/time -v"

for b in $BATCHES; do
  echo "== batch $b, first $LIMIT questions"
  $TIME $ODQA read --model "$MODEL" --data "$DATA" --limit "$LIMIT" --batch-size "$b" \
    --out "$OUT/read-b$b.json" 2> "$OUT/read-b$b.log" || { cat "$OUT/read-b$b.log"; exit 1; }
  grep -E "^read |Maximum resident" "$OUT/read-b$b.log"
done

echo "== all questions of $DATA, batch 8"
$TIME $ODQA read --model "$MODEL" --data "$DATA" --batch-size 8 \
  --out "$OUT/read-full.json" --nbest-out "$OUT/read-full-nbest.json" 2> "$OUT/read-full.log"
grep -E "^read |Maximum resident|warning: .*no QA head" "$OUT/read-full.log"
