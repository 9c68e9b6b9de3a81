#!/usr/bin/env bash
# Scores, on this machine, the model that scripts/device/run.py trained on the GPU: joins the
# returned parts (sha256 of each and of the whole checked against report.json), restores the
# checkpoint bit for bit against the base model (`odqa model unpack --base`), reads the parity
# questions on the CPU and compares with the GPU's n-best in the report, then reads all of DEV
# and scores it (`odqa eval answers`, and the official KorQuAD script when EVALUATE exists).
#
#   scripts/device/score.sh RESULT_DIR [MODEL_DIR]
#
# RESULT_DIR: the files the device run returned (report.json, trained.tar.part-NN). MODEL_DIR: the
# restored model [default: RESULT_DIR/model]. From the environment: BASE (the model it was
# trained from), DEV, EVALUATE, ODQA (a CPU binary; built when unset), LIMIT (only the first N
# dev questions), THREADS (0 = one per core).
set -euo pipefail
cd "$(dirname "$0")/../.."
RESULT=${1:?usage: score.sh RESULT_DIR [MODEL_DIR]}
MODEL=${2:-$RESULT/model}
BASE=${BASE:-../shared/models/multilingual-e5-small-ko}
DEV=${DEV:-../shared/data/korquad/dev.json}
EVALUATE=${EVALUATE:-../shared/data/korquad/evaluate-v1.0.py}
THREADS=${THREADS:-0}
if [ -z "${ODQA:-}" ]; then
  cargo build --release --bin odqa
  ODQA=target/release/odqa
fi
LIMIT_ARGS=()
[ -n "${LIMIT:-}" ] && LIMIT_ARGS=(--limit "$LIMIT")

mkdir -p "$MODEL"
python3 scripts/device/score_parts.py join "$RESULT/report.json" "$RESULT" "$MODEL/trained.tar"
tar -xf "$MODEL/trained.tar" -C "$MODEL"
"$ODQA" model unpack "$MODEL/trained.odqapack" --base "$BASE" --out "$MODEL/model.safetensors"
cp "$BASE/tokenizer.json" "$MODEL/"
rm "$MODEL/trained.tar" "$MODEL/trained.odqapack"

PARITY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["package"]["parity_questions"])' "$RESULT/report.json")
WINDOWS=$(python3 -c 'import json,sys; w=json.load(open(sys.argv[1]))["package"]["windows"]; print(w["max_seq_len"], w["doc_stride"])' "$RESULT/report.json")
read -r MAX_SEQ_LEN DOC_STRIDE <<< "$WINDOWS"
"$ODQA" read --model "$MODEL" --data "$DEV" --limit "$PARITY" --threads "$THREADS" \
  --max-seq-len "$MAX_SEQ_LEN" --doc-stride "$DOC_STRIDE" \
  --out "$MODEL/parity-predictions.json" --nbest-out "$MODEL/parity-nbest.json" 2> "$MODEL/parity.log"
"$ODQA" read --model "$MODEL" --data "$DEV" "${LIMIT_ARGS[@]}" --threads "$THREADS" \
  --max-seq-len "$MAX_SEQ_LEN" --doc-stride "$DOC_STRIDE" \
  --out "$MODEL/predictions.json" --nbest-out "$MODEL/nbest_predictions.json" 2> "$MODEL/read.log"
tail -1 "$MODEL/read.log"
"$ODQA" eval answers --data "$DEV" --predictions "$MODEL/predictions.json" --json | tee "$MODEL/eval.json"
if [ -f "$EVALUATE" ]; then
  python3 "$EVALUATE" "$DEV" "$MODEL/predictions.json" 2> "$MODEL/evaluate.log" | tee "$MODEL/evaluate.json"
fi
python3 scripts/device/score_parts.py parity "$RESULT/report.json" "$MODEL/parity-nbest.json" | tee "$MODEL/parity.json"
