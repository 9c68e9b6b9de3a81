#!/usr/bin/env bash
# End-to-end benchmark: `odqa predict` with k passages per question over the 200k-passage kowiki
# index, on N KorQuAD dev questions spread evenly over the file; prints questions/s and where the
# time goes (retrieval, tokenization, encoder, decoding), peak memory, and EM/F1 of that subset.
# Needs ../shared and a trained reader (default runs/e5-small-cnn, see scripts/train-e5-small.sh).
#
#   scripts/bench-pipeline.sh                 # N=40, K=20: ~4 minutes on 2 cores
#   N=100 K=10 READER=DIR scripts/bench-pipeline.sh
set -euo pipefail
cd "$(dirname "$0")/.."
READER=${READER:-runs/e5-small-cnn}
CORPUS=${CORPUS:-../shared/data/kowiki/passages.jsonl}
DATA=${DATA:-../shared/data/korquad/dev.json}
INDEX=${INDEX:-runs/kowiki-index}
N=${N:-40}
K=${K:-20}
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
cargo build --release --bin odqa
ODQA=target/release/odqa
# CONFIG (a TOML from `odqa tune`) sets k and the strategy; otherwise K and the defaults.
SETTINGS=(--top-k "$K")
[ -n "${CONFIG:-}" ] && SETTINGS=(--config "$CONFIG")
[ -f "$INDEX/odqa-index.json" ] || $ODQA index --corpus "$CORPUS" --index "$INDEX"

# N questions evenly spread over the dev file, as JSONL with their answers (for scoring).
python3 - "$DATA" "$N" > "$OUT/questions-$N.jsonl" <<'PY'
import json, sys
data, n = json.load(open(sys.argv[1])), int(sys.argv[2])
qs = [qa for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]]
for i in range(min(n, len(qs))):
    qa = qs[i * len(qs) // min(n, len(qs))]
    print(json.dumps({"id": qa["id"], "question": qa["question"],
                      "answers": [a["text"] for a in qa["answers"]]}, ensure_ascii=False))
PY

TIME=""
[ -x /usr/bin/time ] && TIME="/usr/bin/time -v"
echo "== odqa predict: $N questions, top-$K passages, reader $READER"
$TIME $ODQA predict --index "$INDEX" --model "$READER" --questions "$OUT/questions-$N.jsonl" \
  "${SETTINGS[@]}" --out "$OUT/predict-$N-k$K.json" \
  --nbest-out "$OUT/predict-$N-k$K-nbest.json" 2> "$OUT/predict-$N-k$K.log" \
  || { cat "$OUT/predict-$N-k$K.log"; exit 1; }
grep -E "questions/s|^answered|Maximum resident|Elapsed" "$OUT/predict-$N-k$K.log"
$ODQA eval answers --data "$OUT/questions-$N.jsonl" --predictions "$OUT/predict-$N-k$K.json" | head -1
