#!/usr/bin/env bash
# Byte-identity check for refactors of the reading path: runs `odqa read` and `odqa predict` on the
# committed fixtures (3 tiny models, several batch sizes and window lengths, the competition test
# set) with BIN and writes every predictions/n-best file into OUTDIR (38 files). Run it with the
# binary before and after a change, then `diff -r BEFORE AFTER`: no output means identical.
#
#   scripts/byte-check.sh target/debug/odqa /tmp/before
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,7p' "$0" >&2; exit 2; }
BIN=$(realpath "$1"); OUT=$2
cd "$(dirname "$0")/.."
R=$PWD; F=$R/tests/fixtures/reader-parity; DATA=$R/corpus/korquad-sample.json
mkdir -p "$OUT"
IDX=$OUT/.index
rm -rf "$IDX"
"$BIN" index --corpus "$DATA" --index "$IDX" >/dev/null 2>&1
for m in tiny-bert-qa tiny-bert-cnn tiny-roberta-qa; do
  for bs in 1 5 16; do
    "$BIN" read --model "$F/$m" --data "$DATA" --out "$OUT/read-$m-$bs.json" \
      --nbest-out "$OUT/read-nbest-$m-$bs.json" --max-seq-len 128 --doc-stride 32 --batch-size "$bs" 2>/dev/null
  done
  "$BIN" read --model "$F/$m" --data "$DATA" --out "$OUT/read96-$m.json" \
    --nbest-out "$OUT/read96-nbest-$m.json" --max-seq-len 96 --doc-stride 32 2>/dev/null
  for bs in 3 16; do
    "$BIN" predict --index "$IDX" --model "$F/$m" --max-seq-len 128 --doc-stride 32 \
      --questions "$DATA" --out "$OUT/pred-$m-$bs.json" \
      --nbest-out "$OUT/pred-nbest-$m-$bs.json" --top-k 4 --batch-size "$bs" 2>/dev/null
  done
done
"$BIN" predict --index "$IDX" --model "$F/tiny-bert-qa" --max-seq-len 128 --doc-stride 32 \
  --questions "$R/tests/fixtures/competition-test-dataset" --out "$OUT/pred-comp.json" \
  --nbest-out "$OUT/pred-comp-nbest.json" --top-k 10 2>/dev/null
rm -rf "$IDX"
echo "$(ls "$OUT" | wc -l) files in $OUT"
