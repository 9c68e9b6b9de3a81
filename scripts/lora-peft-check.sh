#!/usr/bin/env bash
# Opt-in check that a LoRA adapter written by odqa loads in Hugging Face PEFT with the logits odqa
# computes (the other direction, PEFT's adapters in odqa, is in `cargo test`:
# crates/odqa-reader/tests/lora.rs).
#
#   scripts/lora-peft-check.sh
#
# Trains a tiny linear-head adapter on tests/fixtures/reader-parity/tiny-bert-qa (the test
# a_linear_head_adapter_trains_and_loads_merged of crates/odqa-train/tests/lora.rs, which exports
# the adapter and odqa's logits when ODQA_PEFT_CHECK_OUT is set), then loads that adapter with
# PEFT on the same base and compares the logits (tools/fixtures/make_lora_parity.py --check-odqa,
# tolerance 1e-4). Needs target/bench-venv with torch, transformers and peft (versions in
# tests/fixtures/lora-parity/README.md); creates it when missing. Exit status 1 on a difference.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-target/bench-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import peft, transformers, torch" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch transformers safetensors peft tokenizers numpy
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
ODQA_PEFT_CHECK_OUT="$OUT" cargo test -q -p odqa-train --test lora \
  a_linear_head_adapter_trains_and_loads_merged -- --exact
"$VENV/bin/python" tools/fixtures/make_lora_parity.py --check-odqa "$OUT/adapter" \
  --base tests/fixtures/reader-parity/tiny-bert-qa \
  --inputs tests/fixtures/lora-parity/tiny-bert-qa-lora/expected.json \
  --odqa-logits "$OUT/odqa-logits.json"
