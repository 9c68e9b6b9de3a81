#!/usr/bin/env bash
# Hybrid retrieval benchmark (issue 27): answer-recall@1/5/20/100 of bm25, dense and hybrid on
# KorQuAD dev (473 q) and TyDi QA GoldP Korean (1,621 information-seeking q), over a corpus of
# kowiki passages plus the distinct TyDi ko contexts (scripts/make-hybrid-corpus.py). The hybrid
# fusion (rrf c, or linear with a dense weight) is chosen on the KorQuAD tuning split
# (runs/split/tune.json, its articles' passages kept in the corpus) by recall@20, then @5; the
# report sets are read once with it.
#
#   scripts/bench-hybrid.sh                 # the full corpus: 200k kowiki + TyDi ko (runs/hybrid/index)
#   SMALL=20000 scripts/bench-hybrid.sh     # 20,000 random kowiki passages + every passage of the
#                                           # dev and tuning articles + TyDi ko (runs/hybrid/small-index)
#
# Builds what is missing: the corpus, the BM25 index, the passage vectors (`odqa index-dense`,
# resumable: run again after an interruption). Needs ../shared and a release build. Prints one
# TSV table (runs/hybrid/recall[-small].tsv) and the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
ODQA=${ODQA:-target/release/odqa}
MODEL=${MODEL:-../shared/models/multilingual-e5-small-ko}
KORQUAD=${KORQUAD:-../shared/data/korquad}
TYDI=${TYDI:-../shared/data/tydiqa/tydiqa-goldp-ko-train.json}
[ -x "$ODQA" ] || cargo build --release --bin odqa
mkdir -p runs/hybrid
if [ -n "${SMALL:-}" ]; then
  corpus=runs/hybrid/small.jsonl index=runs/hybrid/small-index out=runs/hybrid/recall-small.tsv
  sample=(--sample "$SMALL" --keep-titles-of "$KORQUAD/dev.json" --keep-titles-of runs/split/tune.json)
else
  corpus=runs/hybrid/kowiki-tydi-ko.jsonl index=runs/hybrid/index out=runs/hybrid/recall.tsv
  sample=()
fi
if [ ! -f runs/split/tune.json ]; then
  python3 scripts/split-by-article.py "$KORQUAD/train.json" --tune-articles 10 --seed 12 \
    --train-out runs/split/train.json --tune-out runs/split/tune.json
fi
[ -f "$corpus" ] || python3 scripts/make-hybrid-corpus.py "$corpus" "${sample[@]}"
[ -f "$index/odqa-index.json" ] || "$ODQA" index --corpus "$corpus" --index "$index" --lang ko
[ -f "$index/dense/dense.json" ] || "$ODQA" index-dense --index "$index" --model "$MODEL"

recall() { # DATA ARGS... → one JSON line
  local data=$1; shift
  "$ODQA" eval retrieval --index "$index" --data "$data" --top-k 1,5,20,100 --json "$@"
}
tuning=$(mktemp)
trap 'rm -f "$tuning"' EXIT
for fusion in "--fusion rrf --rrf-c 60" "--fusion rrf --rrf-c 10" \
  "--fusion linear --dense-weight 0.3" "--fusion linear --dense-weight 0.5" \
  "--fusion linear --dense-weight 0.7"; do
  # shellcheck disable=SC2086
  printf '%s\t%s\n' "$fusion" "$(recall runs/split/tune.json --retriever hybrid $fusion)" >> "$tuning"
done
for single in bm25 dense; do # for reference, not candidates
  echo "tuning split, $single: $(recall runs/split/tune.json --retriever $single)" >&2
done
# The best by recall@20, then recall@5 (the first listed on a tie).
best=$(python3 - "$tuning" << 'PY'
import json, sys
rows = [line.rstrip("\n").split("\t", 1) for line in open(sys.argv[1])]
for fusion, d in rows:
    d = json.loads(d)
    print(f"tuning split, hybrid {fusion}: R@5 {d['recall@5']:.4f} R@20 {d['recall@20']:.4f}", file=sys.stderr)
key = lambda r: (json.loads(r[1])["recall@20"], json.loads(r[1])["recall@5"])
print(max(rows, key=key)[0])
PY
)
echo "chosen on the tuning split: hybrid $best" >&2

source scripts/lib/recall.sh
# shellcheck disable=SC2034 # read by recall_table
sets=("korquad-dev:$KORQUAD/dev.json" "tydi-ko:$TYDI")
# shellcheck disable=SC2034
retrievers=(bm25 dense "hybrid $best")
recall_table "$out" "$index" sets retrievers
print_table "$out" "$corpus"
