#!/usr/bin/env bash
# Open-domain settings chosen on the tuning split only (dev is not read here): one `odqa tune` run
# per retriever variant (all 611 tuning questions, k 5,10, μ 0.5–0.95, reading flags READ), each
# writing OUT/od-NAME.toml with the best k, strategy, μ and temperature, and a summary line per
# variant. Then read dev once with the chosen file: scripts/open-domain.sh MODEL OUT/od-NAME.toml.
#
#   scripts/open-domain-grid.sh MODEL INDEX OUT 'rrf-10:--retriever hybrid --fusion rrf --rrf-c 10' …
#
# MODEL: a full model directory (an adapter merged with `odqa model merge`); each variant is
# NAME:FLAGS. READ (default "--length-penalty 0.05 --year-answers") is added to every variant.
# Session 9's runs: INDEX=runs/hybrid/index with rrf-5/10/30 and linear-0.3/0.5
# (`--fusion linear --dense-weight W`); runs/kowiki-index with 'bm25:'.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 4 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
MODEL=$1 INDEX=$2 OUT=$3
shift 3
READ=${READ:---length-penalty 0.05 --year-answers}
ODQA=${ODQA:-target/release/odqa}
mkdir -p "$OUT"
for variant in "$@"; do
  name=${variant%%:*}
  read -r -a flags <<< "${variant#*:} $READ"
  toml=$OUT/od-$name.toml
  if [ -e "$toml" ]; then echo "$name: $toml exists (delete it to tune again)"; continue; fi
  "$ODQA" tune --index "$INDEX" --model "$MODEL" --data runs/split/tune.json --sample 611 \
    --top-k 5,10 --mu 0.5,0.7,0.8,0.9,0.95 --cache "$OUT/cache-$name.json" --out "$toml" \
    "${flags[@]}" > "$OUT/od-$name.txt" 2> "$OUT/od-$name.log"
  echo "$name: $(grep -m1 '^best' "$OUT/od-$name.txt")"
done
