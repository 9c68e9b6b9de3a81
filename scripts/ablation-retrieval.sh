#!/usr/bin/env bash
# Reproduces README's table "How the defaults were chosen": answer-recall@1/5/20/100 on the KorQuAD
# train questions (the tuning split) for each analyzer and BM25 setting, on the 200k-passage Korean
# Wikipedia corpus. Two indexes (with and without particle/ending stripping); every BM25 setting is
# a query-time flag, so the other rows need no re-indexing. Prints a Markdown table and writes
# $OUT/ablation.jsonl (each row's flags and the whole `eval retrieval --json` result).
#
#   scripts/ablation-retrieval.sh             # ≈ 3 minutes on 2 cores
#   DATA=../shared/data/korquad/dev.json scripts/ablation-retrieval.sh   # the report split
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-../shared/data/kowiki/passages.jsonl}
DATA=${DATA:-../shared/data/korquad/train.json}
OUT=${OUT:-bench-out/ablation}
for need in "$CORPUS" "$DATA"; do
  [ -e "$need" ] || { echo "ablation-retrieval: $need not found (set CORPUS / DATA)" >&2; exit 2; }
done
mkdir -p "$OUT"
cargo build --release --bin odqa
ODQA=${CARGO_TARGET_DIR:-target}/release/odqa

for variant in plain stripped; do
  flags=(--lang ko)
  [ "$variant" = plain ] && flags+=(--no-strip-josa)
  if [ ! -f "$OUT/index-$variant/odqa-index.json" ] || [ "${REBUILD:-0}" = 1 ]; then
    echo "== index ($variant) of $CORPUS" >&2
    rm -rf "$OUT/index-$variant"
    $ODQA index --corpus "$CORPUS" --index "$OUT/index-$variant" "${flags[@]}" --json \
      > "$OUT/index-$variant.json"
  fi
done

# label|index|flags
ROWS=(
  "words + bigrams, k1 0.9, b 0.4|plain|--k1 0.9 --b 0.4 --title-weight 0"
  "words + bigrams, k1 0.45, b 0.1|plain|--k1 0.45 --b 0.1 --title-weight 0"
  "+ particle and ending stripping, k1 0.45, b 0.1|stripped|--k1 0.45 --b 0.1 --title-weight 0"
  "+ title weight 0.2 (**default for \`ko\`**)|stripped|"
  "default, query terms counted once|stripped|--query-tf false"
  "default, BM25+ δ 0.3|stripped|--delta 0.3"
  "default, ATIRE idf|stripped|--idf atire"
)
echo "| analyzer, BM25 | R@1 | R@5 | R@20 | R@100 |"
echo "|---|---:|---:|---:|---:|"
: > "$OUT/ablation.jsonl"
for row in "${ROWS[@]}"; do
  IFS='|' read -r label variant flags <<< "$row"
  # shellcheck disable=SC2086 # the flags are words
  json=$($ODQA eval retrieval --index "$OUT/index-$variant" --data "$DATA" --top-k 1,5,20,100 \
    $flags --json)
  printf '%s\n' "$json" | python3 -c '
import json, sys
label, flags = sys.argv[1], sys.argv[2]
r = json.load(sys.stdin)
print("| %s | %s |" % (label, " | ".join("%.3f" % r[f"recall@{k}"] for k in (1, 5, 20, 100))))
with open(sys.argv[3], "a") as f:
    f.write(json.dumps({"row": label, "flags": flags, "result": r}, ensure_ascii=False) + "\n")
' "$label" "$flags" "$OUT/ablation.jsonl"
done
echo "(questions: $DATA; one JSON line per row in $OUT/ablation.jsonl)" >&2
