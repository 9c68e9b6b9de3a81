#!/usr/bin/env bash
# Reading-comprehension settings of one reader, chosen on the tuning split (never on dev): each
# argument is one row of `odqa read` options, read on runs/split/tune.json and scored with the
# official KorQuAD script. Prints "options<TAB>EM<TAB>F1<TAB>seconds" per row and keeps the
# predictions in OUT/<row>/.
#
#   scripts/read-settings.sh runs/avg/mean "" "--max-answer-len 50" "--max-seq-len 512"
#
# DATA (runs/split/tune.json), OUT (runs/read-settings), ODQA (target/release/odqa), THREADS (0).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
MODEL=$1
shift
DATA=${DATA:-runs/split/tune.json}
OUT=${OUT:-runs/read-settings}
ODQA=${ODQA:-target/release/odqa}
THREADS=${THREADS:-0}
KORQUAD=${KORQUAD:-../shared/data/korquad}
[ -x "$ODQA" ] || cargo build --release --bin odqa
for options in "$@"; do
  row=$(printf '%s' "${options:-defaults}" | tr -c 'a-z0-9' '-')
  mkdir -p "$OUT/$row"
  started=$(date +%s.%N)
  # shellcheck disable=SC2086 # one row of options
  "$ODQA" read --model "$MODEL" --data "$DATA" --out "$OUT/$row/predictions.json" \
    --threads "$THREADS" $options 2> "$OUT/$row/read.log"
  seconds=$(echo "$(date +%s.%N) - $started" | bc)
  score=$(python3 "$KORQUAD/evaluate-v1.0.py" "$DATA" "$OUT/$row/predictions.json")
  python3 -c 'import json, sys; s = json.loads(sys.argv[2]); print("%s\t%.2f\t%.2f\t%.0f" % (sys.argv[1], s["exact_match"], s["f1"], float(sys.argv[3])))' \
    "${options:-defaults}" "$score" "$seconds"
done
