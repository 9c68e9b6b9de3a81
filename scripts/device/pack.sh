#!/usr/bin/env bash
# Builds the package that a GPU machine (no Rust, no network, ≤ 64 MiB of working tree per call)
# needs to run scripts/device/run.sh: the odqa binary (stripped, xz), the reader model packed
# exactly (`odqa model pack`, sha256-checked on unpacking), the KorQuAD files, the CPU reference
# outputs for the parity check and the windows for the PyTorch reference. Then it checks the
# package here (hashes, binary and model restored bit for bit) and its size.
#
#   scripts/device/pack.sh [DIR]          # cuda build (CARGO_TARGET_DIR=target/cuda-release, ~20 min cold)
#   scripts/device/pack.sh --cpu [DIR]    # the CPU build: for a dry run of run.sh on this machine
#
# DIR defaults to target/device-pack (ignored by git; the device call carries it). Settings from
# the environment: MODEL (model directory), TRAIN, DEV (SQuAD-format files), ODQA_BIN (a binary
# to ship instead of building one), ODQA_CPU (the CPU binary that computes the references; built
# when unset), PARITY_QUESTIONS (40), SPEED_QUESTIONS (473: all of KorQuAD dev), MAX_SEQ_LEN (384), DOC_STRIDE (128),
# WINDOWS_PYTHON (with transformers, for the PyTorch windows; default target/bench-venv/bin/python; the
# windows are left out when it has no transformers), LIMIT_MIB (64).
set -euo pipefail
cd "$(dirname "$0")/../.."

FEATURES=cuda
if [ "${1:-}" = "--cpu" ]; then
  FEATURES=cpu
  shift
fi
DIR=${1:-target/device-pack}
MODEL=${MODEL:-../shared/models/multilingual-e5-small-ko}
TRAIN=${TRAIN:-../shared/data/korquad/train.json}
DEV=${DEV:-../shared/data/korquad/dev.json}
PARITY_QUESTIONS=${PARITY_QUESTIONS:-40}
SPEED_QUESTIONS=${SPEED_QUESTIONS:-473}
MAX_SEQ_LEN=${MAX_SEQ_LEN:-384}
DOC_STRIDE=${DOC_STRIDE:-128}
WINDOWS_PYTHON=${WINDOWS_PYTHON:-target/bench-venv/bin/python}
LIMIT_MIB=${LIMIT_MIB:-64}

for f in "$MODEL/config.json" "$MODEL/tokenizer.json" "$MODEL/model.safetensors" "$TRAIN" "$DEV"; do
  [ -f "$f" ] || { echo "pack: $f not found" >&2; exit 2; }
done

if [ -z "${ODQA_CPU:-}" ]; then
  cargo build --release --bin odqa
  ODQA_CPU=target/release/odqa
fi
if [ -z "${ODQA_BIN:-}" ]; then
  if [ "$FEATURES" = cuda ]; then
    echo "== building odqa --features cuda (target/cuda-release)"
    CARGO_TARGET_DIR=target/cuda-release cargo build --release --features cuda --bin odqa
    ODQA_BIN=target/cuda-release/release/odqa
  else
    ODQA_BIN=$ODQA_CPU
  fi
fi

rm -rf "$DIR"
mkdir -p "$DIR/model" "$DIR/data" "$DIR/ref"

echo "== binary ($FEATURES): $ODQA_BIN"
strip -o "$DIR/odqa" "$ODQA_BIN"
BIN_SHA=$(sha256sum "$DIR/odqa" | cut -d' ' -f1)
BIN_BYTES=$(stat -c %s "$DIR/odqa")
xz -9 -T2 "$DIR/odqa"

echo "== model: $MODEL"
"$ODQA_CPU" model pack "$MODEL" --out "$DIR/model/model.odqapack"
cp "$MODEL/config.json" "$MODEL/tokenizer.json" "$DIR/model/"
MODEL_SHA=$(sha256sum "$MODEL/model.safetensors" | cut -d' ' -f1)
MODEL_BYTES=$(stat -c %s "$MODEL/model.safetensors")

echo "== data"
cp "$TRAIN" "$DIR/data/train.json"
cp "$DEV" "$DIR/data/dev.json"

echo "== CPU reference: odqa read on the first $PARITY_QUESTIONS dev questions"
"$ODQA_CPU" read --model "$MODEL" --data "$DEV" --limit "$PARITY_QUESTIONS" \
  --max-seq-len "$MAX_SEQ_LEN" --doc-stride "$DOC_STRIDE" --out "$DIR/ref/cpu-predictions.json" --nbest-out "$DIR/ref/cpu-nbest.json" 2> "$DIR/ref/cpu-read.log"
tail -1 "$DIR/ref/cpu-read.log"

if [ -x "$WINDOWS_PYTHON" ] && "$WINDOWS_PYTHON" -c 'import torch, transformers' 2> /dev/null; then
  echo "== PyTorch windows: first $SPEED_QUESTIONS dev questions"
  "$WINDOWS_PYTHON" scripts/device/torch_reader.py --model "$MODEL" --windows "$DIR/ref/windows.json" \
    --tokenize "$DEV" --limit "$SPEED_QUESTIONS" --max-seq-len "$MAX_SEQ_LEN" --doc-stride "$DOC_STRIDE"
else
  echo "== no $WINDOWS_PYTHON with torch + transformers: the PyTorch rows will be skipped"
fi

cat > "$DIR/MANIFEST.json" << EOF
{
  "features": "$FEATURES",
  "commit": "$(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!target' || echo '+dirty')",
  "created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "binary": {"file": "odqa.xz", "sha256": "$BIN_SHA", "bytes": $BIN_BYTES},
  "model": {"file": "model/model.odqapack", "sha256": "$MODEL_SHA", "bytes": $MODEL_BYTES, "source": "$MODEL"},
  "windows": {"max_seq_len": $MAX_SEQ_LEN, "doc_stride": $DOC_STRIDE},
  "parity_questions": $PARITY_QUESTIONS,
  "speed_questions": $SPEED_QUESTIONS
}
EOF
(cd "$DIR" && find . -type f ! -name SHA256SUMS | sort | xargs sha256sum > SHA256SUMS)

echo "== check: hashes, binary and model restored"
python3 scripts/device/run.py --package "$DIR" --steps verify --out "$DIR.check" --work "$DIR.check/work" 2> /dev/null
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["verify"]; print(json.dumps(r, indent=1)); sys.exit(0 if r["ok"] else 1)' "$DIR.check/report.json"
rm -rf "$DIR.check"

TREE=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
PACK=$(du -cb "$DIR" | tail -1 | cut -f1)
echo "== sizes (bytes)"
(cd "$DIR" && du -ab odqa.xz model/model.odqapack model/tokenizer.json data ref | sort -k2)
du -sb "$DIR"
printf 'package %d + tracked files %d = %d of %d allowed\n' "$PACK" "$TREE" $((PACK + TREE)) $((LIMIT_MIB << 20))
[ $((PACK + TREE)) -le $((LIMIT_MIB << 20)) ] || { echo "pack: over $LIMIT_MIB MiB" >&2; exit 1; }
