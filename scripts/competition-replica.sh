#!/usr/bin/env bash
# The competition's workflow on its file layout (../shared/data/competition, or COMPETITION=DIR):
# index wikipedia_documents.json, predict the test_dataset questions (predictions.json +
# nbest_predictions.json, every id), score them against train_dataset/validation (which holds the
# same ids with answers in this replica). Needs a trained reader (READER, default runs/e5-small-cnn).
#
#   scripts/competition-replica.sh              # K=10: ~20 minutes on 2 cores
#   READER=runs/e5-small-cnn-full-stage2 CONFIG=configs/pipeline-e5-small-cnn-full-stage2-kowiki.toml \
#     scripts/competition-replica.sh      # the best reader with its tuned settings
set -euo pipefail
cd "$(dirname "$0")/.."
COMPETITION=${COMPETITION:-../shared/data/competition}
READER=${READER:-runs/e5-small-cnn}
INDEX=${INDEX:-runs/competition-index}
OUT=${OUT:-runs/competition}
K=${K:-10}
for need in "$COMPETITION/wikipedia_documents.json" "$READER/config.json" ${CONFIG:+"$CONFIG"}; do
  [ -e "$need" ] || { echo "competition-replica: $need not found (see the usage above)" >&2; exit 2; }
done
mkdir -p "$OUT"
cargo build --release --bin odqa
ODQA=target/release/odqa
# CONFIG (a TOML from `odqa tune`) sets k and the strategy; otherwise K and the defaults.
SETTINGS=(--top-k "$K")
[ -n "${CONFIG:-}" ] && SETTINGS=(--config "$CONFIG")

echo "== odqa index $COMPETITION/wikipedia_documents.json"
$ODQA index --corpus "$COMPETITION/wikipedia_documents.json" --index "$INDEX"
echo "== retrieval recall on the validation split"
$ODQA eval retrieval --index "$INDEX" --data "$COMPETITION/train_dataset/validation" --top-k 1,5,10,20
echo "== odqa predict $COMPETITION/test_dataset (top-$K)"
$ODQA predict --index "$INDEX" --model "$READER" --questions "$COMPETITION/test_dataset" \
  "${SETTINGS[@]}" ${THREADS:+--threads "$THREADS"} \
  --out "$OUT/predictions.json" --nbest-out "$OUT/nbest_predictions.json"
echo "== odqa eval answers on train_dataset/validation"
$ODQA eval answers --data "$COMPETITION/train_dataset/validation" --predictions "$OUT/predictions.json"
