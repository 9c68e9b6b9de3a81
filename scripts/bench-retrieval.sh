#!/usr/bin/env bash
# Retrieval benchmark: indexing throughput and peak memory on the 200k-passage Korean Wikipedia
# corpus, then answer-recall@k and query latency (top-20 and top-100; 1 thread and all cores) for
# the KorQuAD questions. Needs ../shared (or set CORPUS and KORQUAD). Results: $OUT/*.json.
#
#   scripts/bench-retrieval.sh            # full run, ~2 minutes on 2 cores
#   CORPUS=my.jsonl KORQUAD=dir scripts/bench-retrieval.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${CORPUS:-../shared/data/kowiki/passages.jsonl}
KORQUAD=${KORQUAD:-../shared/data/korquad}
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
cargo build --release --bin odqa
ODQA=target/release/odqa

echo "== indexing $CORPUS"
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v $ODQA index --corpus "$CORPUS" --index "$OUT/index" --lang ko --json \
    > "$OUT/index.json" 2> "$OUT/index-time.txt"
  peak_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/index-time.txt")
  echo "peak memory: $((peak_kib / 1024)) MiB"
else
  $ODQA index --corpus "$CORPUS" --index "$OUT/index" --lang ko --json > "$OUT/index.json"
  echo "peak memory: (install GNU time, Debian package 'time', to measure)"
fi
cat "$OUT/index.json"

for split in dev train; do
  data="$KORQUAD/$split.json"
  [ -f "$data" ] || continue
  echo "== recall@k, $split ($data)"
  $ODQA eval retrieval --index "$OUT/index" --data "$data" --json | tee "$OUT/recall-$split.json"
  for threads in 1 0; do
    echo "== latency, $split, top-20, threads=$threads (0 = all cores)"
    $ODQA eval retrieval --index "$OUT/index" --data "$data" --top-k 20 --threads $threads --json \
      | tee "$OUT/latency-$split-t$threads.json"
  done
done
