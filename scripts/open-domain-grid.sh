#!/usr/bin/env bash
# Open-domain settings chosen on the tuning split only (dev is not read here): for each retriever
# variant, `TUNE_ONLY=1 scripts/open-domain.sh` (all 611 tuning questions, k 5,10, its μ grid and no-answer weights 0,1, the
# reading flags READ added), writing OUT/od-NAME.toml with the best k, strategy, μ and temperature;
# one summary line per variant. Then read dev once with the chosen file:
# scripts/open-domain.sh MODEL OUT/od-NAME.toml.
#
#   scripts/open-domain-grid.sh MODEL INDEX OUT 'rrf-10:--retriever hybrid --fusion rrf --rrf-c 10' …
#
# MODEL: a full model directory (an adapter merged with `odqa model merge`); each variant is
# NAME:FLAGS. READ (default "--length-penalty 0.05 --year-answers") is added to every variant.
# Session 9's runs: INDEX=runs/hybrid/index with rrf-5/10/30 and linear-0.3/0.5
# (`--fusion linear --dense-weight W`); runs/kowiki-index with 'bm25:'.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
MODEL=$1 INDEX=$2 OUT=$3
shift 3
READ=${READ:---length-penalty 0.05 --year-answers}
mkdir -p "$OUT"
for variant in "$@"; do
  name=${variant%%:*}
  toml=$OUT/od-$name.toml
  if [ -e "$toml" ]; then echo "$name: $toml exists (delete it to tune again)"; continue; fi
  TUNE_ONLY=1 INDEX=$INDEX SAMPLE=611 TOP_K=5,10 RETRIEVER="${variant#*:} $READ" \
    CACHE="$OUT/cache-$name.json" scripts/open-domain.sh "$MODEL" "$toml" > "$OUT/od-$name.txt" 2>&1
  echo "$name: $(grep -m1 '^# odqa tune' "$toml")"
done
