#!/usr/bin/env bash
# Open-domain QA with one reader, as the README reports it: index the 200k kowiki passages (once),
# let `odqa tune` choose k, strategy, μ, the no-answer weight, josa trimming and the temperature on SAMPLE (default 120)
# questions of the tuning split (not on dev), then answer all of KorQuAD dev once with those settings, score it with
# the official script, and break the loss down (retrieval misses, reader errors on the gold
# paragraph, distractors) against the reader's own reading of the gold paragraphs.
#
#   scripts/open-domain.sh runs/e5-small-cnn-full-stage2 configs/pipeline-e5-small-cnn-full-stage2-kowiki.toml
#
# Needs ../shared, the tuning split (scripts/recipes.sh makes it) and the model's reading of dev
# (MODEL/predictions.json, also from scripts/recipes.sh). An existing CONFIG is used as it is
# (delete it to tune again). Writes MODEL/od-dev-{predictions,nbest}.json, MODEL/od-dev-breakdown.jsonl.
# TUNE_ONLY=1: stop after tuning (dev is not read; MODEL/predictions.json is not needed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
MODEL=$1
CONFIG=$2
KORQUAD=${KORQUAD:-../shared/data/korquad}
PASSAGES=${PASSAGES:-../shared/data/kowiki/passages.jsonl}
INDEX=${INDEX:-runs/kowiki-index}
THREADS=${THREADS:-0}
# Retriever flags for tune (recorded in CONFIG, which predict and breakdown then follow), e.g.
# RETRIEVER="--retriever hybrid --fusion linear --dense-weight 0.3" (the index needs its vectors).
RETRIEVER=${RETRIEVER:-}
read -r -a RETRIEVER_ARGS <<< "$RETRIEVER"
SAMPLE=${SAMPLE:-120}      # tuning-split questions to tune on (611 = all of them)
TOP_K=${TOP_K:-1,5,10}     # values of k to try
CACHE=${CACHE:-$MODEL/tune-cache-$SAMPLE-k${TOP_K##*,}${RETRIEVER:+-$(echo "$RETRIEVER" | tr -c 'a-z0-9.' '-')}.json}  # the tuning reads, per sample, largest k and retriever
ODQA=${ODQA:-target/release/odqa}
[ -x "$ODQA" ] || cargo build --release --bin odqa
TUNE_ONLY=${TUNE_ONLY:-}
[ -n "$TUNE_ONLY" ] || [ -f "$MODEL/predictions.json" ] || { echo "open-domain: $MODEL/predictions.json missing (odqa read on dev; scripts/recipes.sh)" >&2; exit 2; }

[ -d "$INDEX" ] || "$ODQA" index --corpus "$PASSAGES" --index "$INDEX" --threads "$THREADS"
if [ ! -f "$CONFIG" ]; then
  echo "== tuning on the tuning split → $CONFIG"
  "$ODQA" tune --index "$INDEX" --model "$MODEL" --data runs/split/tune.json --sample "$SAMPLE" \
    --top-k "$TOP_K" --mu 0.5,0.7,0.8,0.9,0.95 --cache "$CACHE" --out "$CONFIG" "${RETRIEVER_ARGS[@]}" \
    --threads "$THREADS" 2>&1 | tee "$MODEL/tune.txt"
fi
[ -z "$TUNE_ONLY" ] || exit 0
echo "== answering KorQuAD dev over $INDEX with $CONFIG"
"$ODQA" predict --index "$INDEX" --model "$MODEL" --questions "$KORQUAD/dev.json" --config "$CONFIG" \
  --out "$MODEL/od-dev-predictions.json" --nbest-out "$MODEL/od-dev-nbest.json" --threads "$THREADS"
python3 "$KORQUAD/evaluate-v1.0.py" "$KORQUAD/dev.json" "$MODEL/od-dev-predictions.json"
echo
"$ODQA" eval breakdown --index "$INDEX" --data "$KORQUAD/dev.json" --config "$CONFIG" \
  --predictions "$MODEL/od-dev-predictions.json" --reading "$MODEL/predictions.json" \
  --per-question "$MODEL/od-dev-breakdown.jsonl"
