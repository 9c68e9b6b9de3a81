#!/usr/bin/env bash
# Opt-in check that readers odqa trains from the Korean checkpoint families reload in Hugging Face
# transformers with the answers odqa gives (the other direction, transformers' checkpoints in
# odqa, is in `cargo test`: crates/odqa-reader/tests/parity.rs, tests/checkpoints_cli.rs).
#
#   scripts/checkpoint-check.sh
#
# For tiny-electra-qa (KoELECTRA-like: embedding projection, vocab.txt only) and
# tiny-klue-roberta-qa (klue/roberta-like: WordPiece vocab.txt, one token type, pytorch_model.bin
# only): `odqa train` 12 steps on corpus/korquad-sample.json, `odqa read` of
# tests/fixtures/read-cases.json with the trained model, then
# tools/fixtures/make_checkpoint_parity.py --check-odqa loads the trained directory with
# transformers' Auto classes (no missing or unexpected tensor), tokenizes with AutoTokenizer and
# compares every n-best list (texts, offsets, logits within 1e-4) under odqa's documented
# decoding rule. The untrained fixtures are checked the same way. Needs target/bench-venv with
# torch and transformers (versions in tests/fixtures/reader-parity/README.md); creates it when
# missing. Exit status 1 on a difference.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-target/bench-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import transformers, torch" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch transformers safetensors tokenizers numpy
fi
cargo build -q --bin odqa
ODQA=target/debug/odqa
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
WINDOWS=(--max-seq-len 128 --doc-stride 32)
check() {
  local model=$1 name=$2
  "$ODQA" read --model "$model" --data tests/fixtures/read-cases.json "${WINDOWS[@]}" \
    --out "$OUT/$name.json" --nbest-out "$OUT/$name-nbest.json" 2> "$OUT/$name-read.log"
  "$VENV/bin/python" tools/fixtures/make_checkpoint_parity.py --check-odqa "$model" \
    --nbest "$OUT/$name-nbest.json" --data tests/fixtures/read-cases.json "${WINDOWS[@]}" 2>&1 \
    | grep -v "Loading weights"
}
for family in tiny-electra-qa tiny-klue-roberta-qa; do
  fixture=tests/fixtures/reader-parity/$family
  "$ODQA" train --model "$fixture" --train corpus/korquad-sample.json --out "$OUT/$family" \
    --max-seq-len 64 --doc-stride 16 --batch-size 4 --gradient-accumulation-steps 1 \
    --max-steps 12 --learning-rate 1e-3 --warmup-ratio 0 --quiet
  echo "== $family as transformers wrote it"
  check "$fixture" "$family-fixture"
  echo "== $family trained and saved by odqa"
  check "$OUT/$family" "$family-trained"
done
