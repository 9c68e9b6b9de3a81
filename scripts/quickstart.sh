#!/usr/bin/env bash
# Build odqa, index the bundled sample corpus, get a reader, answer sample questions and write a
# sample predictions.json.
#
# Usage: scripts/quickstart.sh [MODEL_DIR]        (from anywhere; writes under target/)
#
# The reader is, in this order: MODEL_DIR, $ODQA_MODEL, ../shared/models/multilingual-e5-small-ko
# (when present), or — with internet and ODQA_HF_MODEL=<hub model id> — a download through
# `odqa download` (needs the `hub` cargo feature, built automatically then). A model without a QA
# head (an encoder-only checkpoint such as multilingual-e5-small) is first fine-tuned briefly on
# corpus/korquad-train-excerpt.json (193 questions; QUICKSTART_EPOCHS, default 2), with a time
# estimate printed before it starts; the result is kept in target/quickstart-reader and reused.
# Without any model the script stops after the retrieval part and says how to get one.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 2; }
FEATURES=()
[ -n "${ODQA_HF_MODEL:-}" ] && FEATURES=(--features hub)
cargo build --release --bin odqa "${FEATURES[@]}"
ODQA=target/release/odqa
INDEX=target/sample-index

echo "== index the sample corpus (2,000 Korean Wikipedia passages + the 6 KorQuAD sample contexts)"
$ODQA index --corpus corpus/kowiki-sample-2k.jsonl corpus/korquad-sample.json --index "$INDEX"

Q1="임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배된 연도는?"
Q2="알렉산더 헤이그는 어느 대통령의 국무장관이었나?"
echo
echo "== odqa retrieve \"$Q1\""
$ODQA retrieve --index "$INDEX" --top-k 3 "$Q1"
echo
echo "== retrieval recall on the 40 sample KorQuAD questions"
$ODQA eval retrieval --index "$INDEX" --data corpus/korquad-sample.json --top-k 1,5,20

# ---- the reader
MODEL="${1:-${ODQA_MODEL:-}}"
if [ -z "$MODEL" ] && [ -d ../shared/models/multilingual-e5-small-ko ]; then
  MODEL=../shared/models/multilingual-e5-small-ko
fi
if [ -z "$MODEL" ] && [ -n "${ODQA_HF_MODEL:-}" ]; then
  MODEL="target/models/${ODQA_HF_MODEL//\//--}"
  echo
  echo "== download $ODQA_HF_MODEL from the Hugging Face hub into $MODEL"
  [ -f "$MODEL/model.safetensors" ] || $ODQA download "$ODQA_HF_MODEL" --out "$MODEL"
fi
if [ -z "$MODEL" ]; then
  cat <<EOF

No reader model found, so the question-answering part is skipped. Give one of:
  scripts/quickstart.sh MODEL_DIR          a Hugging Face model directory (config.json,
                                           model.safetensors, tokenizer.json), BERT/RoBERTa family
  ODQA_MODEL=MODEL_DIR scripts/quickstart.sh
  ODQA_HF_MODEL=intfloat/multilingual-e5-small scripts/quickstart.sh     (downloads; needs internet)
A model without a QA head is fine-tuned briefly first.
EOF
  exit 0
fi
[ -f "$MODEL/config.json" ] || { echo "error: $MODEL has no config.json (not a model directory)" >&2; exit 2; }

READER="$MODEL"
# A QA checkpoint stores qa_outputs.* (linear head, or the last layer of odqa's CNN head); the
# safetensors header with the tensor names is at the start of the file.
# (grep -c reads all its input: with pipefail, grep -q would make head die of SIGPIPE.)
HEAD_TENSORS=$(head -c 1000000 "$MODEL/model.safetensors" | grep -ac 'qa_outputs' || true)
if [ "${HEAD_TENSORS:-0}" = 0 ]; then
  READER=target/quickstart-reader
  if [ -f "$READER/model.safetensors" ] && [ "$(cat "$READER/.source" 2>/dev/null)" = "$MODEL" ]; then
    echo
    echo "== reusing the reader fine-tuned earlier from $MODEL: $READER"
  else
    EPOCHS="${QUICKSTART_EPOCHS:-2}"
    CORES=$(nproc 2>/dev/null || echo 2)
    # ~250 windows of 384 tokens per epoch; ~2.2 core-seconds per window for a 12-layer,
    # 384-hidden encoder on a recent x86 CPU (1.1 s per window on 2 cores).
    MINUTES=$(( (250 * EPOCHS * 22 / (10 * CORES) + 59) / 60 ))
    echo
    echo "== $MODEL has no QA head: fine-tuning a CNN head (and the encoder) on"
    echo "   corpus/korquad-train-excerpt.json, $EPOCHS epoch(s) — about $MINUTES min on $CORES cores"
    echo "   for a small model like multilingual-e5-small (longer for base/large models)."
    echo "   Ctrl-C saves a checkpoint; rerun to start over, or see configs/README.md for real runs."
    $ODQA train --model "$MODEL" --head cnn --train corpus/korquad-train-excerpt.json --overwrite \
      --out "$READER" --epochs "$EPOCHS" --batch-size 8 --gradient-accumulation-steps 1 \
      --learning-rate 1e-4 --warmup-ratio 0.1 --freeze-word-embeddings true --save-steps 1000
    echo "$MODEL" > "$READER/.source"
  fi
fi

for q in "$Q1" "$Q2"; do
  echo
  echo "== odqa ask \"$q\""
  $ODQA ask --index "$INDEX" --model "$READER" --top-k 5 --nbest 3 "$q" || true
done

echo
echo "== odqa predict: the 40 sample questions → target/sample-predictions.json"
$ODQA predict --index "$INDEX" --model "$READER" --questions corpus/korquad-sample.json \
  --top-k 3 --out target/sample-predictions.json --nbest-out target/sample-nbest-predictions.json
$ODQA eval answers --data corpus/korquad-sample.json --predictions target/sample-predictions.json
