#!/usr/bin/env bash
# The reader recipes of the README's table, one row per training config: make the by-article
# tuning split, train (skipped when the run's model is already there), read all of KorQuAD dev
# (the report set, read once per recipe) and score it with the official script. Appends one line
# per recipe to runs/recipes.tsv: config, train examples, windows, epochs, minutes per epoch,
# best tuning-split EM/F1 (what chose the epoch), dev EM/F1.
#
#   scripts/recipes.sh                                   # every recipe of the table, in order
#   scripts/recipes.sh configs/train-e5-small-cnn-full.toml
#
# A stage-2 config starts from its stage 1's output (its `model`), so stage 1 comes first.
#
# Needs ../shared (the model and KorQuAD) and a release build (built when missing). THREADS
# (default 0 = every core) is passed to train and read.
set -euo pipefail
cd "$(dirname "$0")/.."
KORQUAD=${KORQUAD:-../shared/data/korquad}
THREADS=${THREADS:-0}
ODQA=${ODQA:-target/release/odqa}
[ -x "$ODQA" ] || cargo build --release --bin odqa

if [ ! -f runs/split/train.json ] || [ ! -f runs/split/tune.json ]; then
  python3 scripts/split-by-article.py "$KORQUAD/train.json" \
    --train-out runs/split/train.json --tune-out runs/split/tune.json
fi

CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(
  configs/train-e5-small-cnn-full.toml
  configs/train-e5-small-cnn-full-stage2.toml
  configs/train-e5-small-linear-full.toml
  configs/train-e5-small-cnn-full-frozen6.toml
)
for config in "${CONFIGS[@]}"; do
  out=$(sed -nE 's/^out *= *"(.*)"/\1/p' "$config")
  [ -n "$out" ] || { echo "recipes: $config has no out = \"…\"" >&2; exit 2; }
  if { [ ! -f "$out/model.safetensors" ] && [ ! -f "$out/adapter_model.safetensors" ]; } ||
    [ ! -f "$out/training.json" ]; then
    echo "== training $config → $out"
    "$ODQA" train --config "$config" --threads "$THREADS" 2>&1 | tee "$out.train.log"
  fi
  echo "== reading KorQuAD dev with $out"
  "$ODQA" read --model "$out" --data "$KORQUAD/dev.json" --out "$out/predictions.json" \
    --threads "$THREADS" 2>&1 | tail -1
  scores=$(python3 "$KORQUAD/evaluate-v1.0.py" "$KORQUAD/dev.json" "$out/predictions.json" 2> /dev/null)
  echo "$scores"
  python3 - "$config" "$out/training.json" "$scores" >> runs/recipes.tsv << 'EOF'
import json, sys
config, training, scores = sys.argv[1], json.load(open(sys.argv[2])), json.loads(sys.argv[3])
epochs = training["step"] / max(1, training["steps_per_epoch"])
minutes = training["train_seconds"] / 60 / max(epochs, 1e-9)
best = (training.get("best") or {}).get("scores") or {}
print("\t".join(str(x) for x in [
    config, training["train_examples"], training["train_windows"], round(epochs, 2),
    round(minutes, 1), round(best.get("korquad_em", float("nan")), 2),
    round(best.get("korquad_f1", float("nan")), 2),
    round(scores["exact_match"], 2), round(scores["f1"], 2)]))
EOF
  tail -1 runs/recipes.tsv
done
