#!/usr/bin/env bash
# The English rows of the hybrid retrieval benchmark: answer-recall@1/5/20/100 of bm25, dense and
# hybrid on XQuAD en (1,190 questions written looking at the paragraph, as KorQuAD's) and TyDi QA
# GoldP English (3,696 information-seeking questions), over the ~4,600 distinct English paragraphs
# of XQuAD en, MLQA en and TyDi en (scripts/make-english-corpus.py; a small corpus: every gold
# paragraph is in it, so the figures compare retrievers, not corpus coverage). The hybrid fusion is
# the one scripts/bench-hybrid.sh chose on the Korean tuning split (FUSION, default rrf c 10).
#
#   scripts/bench-hybrid-en.sh        # → runs/hybrid/recall-en.tsv
set -euo pipefail
cd "$(dirname "$0")/.."
ODQA=${ODQA:-target/release/odqa}
MODEL=${MODEL:-../shared/models/multilingual-e5-small-ko}
SHARED=${SHARED:-../shared}
FUSION=${FUSION:---fusion rrf --rrf-c 10}
[ -x "$ODQA" ] || cargo build --release --bin odqa
mkdir -p runs/hybrid
corpus=runs/hybrid/english.jsonl index=runs/hybrid/english-index out=runs/hybrid/recall-en.tsv
[ -f "$corpus" ] || python3 scripts/make-english-corpus.py "$corpus" --shared "$SHARED"
[ -f "$index/odqa-index.json" ] || "$ODQA" index --corpus "$corpus" --index "$index" --lang en
[ -f "$index/dense/dense.json" ] || "$ODQA" index-dense --index "$index" --model "$MODEL"
source scripts/lib/recall.sh
# shellcheck disable=SC2034 # read by recall_table
sets=("xquad-en:$SHARED/data/xquad/xquad.en.json" "tydi-en:$SHARED/data/tydiqa/tydiqa-goldp-en-train.json")
# shellcheck disable=SC2034
retrievers=(bm25 dense "hybrid $FUSION")
recall_table "$out" "$index" sets retrievers
print_table "$out" "$corpus"
