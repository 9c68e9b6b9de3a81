#!/usr/bin/env bash
# The reader per precision (issue 30's quality guard and end-to-end speed), on this CPU:
#   1. reading comprehension on all of KorQuAD dev (`odqa read`), EM/F1 by the official script;
#   2. open-domain `odqa predict` on the first $OD questions of dev over the 200k kowiki BM25
#      index with configs/pipeline-best.toml: questions/s (from predict's summary) and EM/F1;
#   3. `odqa serve` answering $SERVE questions one at a time (scripts/load-test.py, 1 client):
#      p50 / p95 latency.
# Each for every precision of $PRECISIONS (fp32 first: the reference).
#
#   scripts/bench-precision.sh                     # ≈ 15 minutes on 2 cores
#   PRECISIONS="fp32 bf16" OD=100 scripts/bench-precision.sh runs/avg/mean
#
# Env: PRECISIONS ("fp32 auto"), OD (200), SERVE (24), INDEX (runs/kowiki-index), THREADS (2),
# KORQUAD (../shared/data/korquad), PORT (8091), ODQA (target/release/odqa), OUT
# (bench-out/precision).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-runs/avg/mean}
PRECISIONS=${PRECISIONS:-"fp32 auto"}
OD=${OD:-200}
SERVE=${SERVE:-24}
INDEX=${INDEX:-runs/kowiki-index}
THREADS=${THREADS:-2}
KORQUAD=${KORQUAD:-../shared/data/korquad}
PORT=${PORT:-8091}
ODQA=${ODQA:-target/release/odqa}
OUT=${OUT:-bench-out/precision}
CONFIG=${CONFIG:-configs/pipeline-best.toml}
[ -x "$ODQA" ] || cargo build --release --bin odqa
for need in "$MODEL/config.json" "$INDEX/odqa-index.json" "$KORQUAD/dev.json"; do
  [ -e "$need" ] || { echo "bench-precision: $need not found" >&2; exit 2; }
done
mkdir -p "$OUT"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) cores; threads $THREADS"
echo "cpu features: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_int8)$' | xargs)"

# The first $OD dev questions as SQuAD JSON (for predict and the server).
python3 - "$KORQUAD/dev.json" "$OD" "$OUT/questions.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1], encoding="utf-8"))
left, out = int(sys.argv[2]), []
for article in data["data"]:
    paragraphs = []
    for p in article["paragraphs"]:
        qas = p["qas"][:max(left, 0)]
        left -= len(qas)
        if qas:
            paragraphs.append({**p, "qas": qas})
    if paragraphs:
        out.append({**article, "paragraphs": paragraphs})
json.dump({"version": data.get("version", ""), "data": out}, open(sys.argv[3], "w", encoding="utf-8"), ensure_ascii=False)
PY

score() { python3 "$KORQUAD/evaluate-v1.0.py" "$1" "$2" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("EM %.2f F1 %.2f" % (r["exact_match"], r["f1"]))'; }

. scripts/lib/serve.sh
for p in $PRECISIONS; do
  "$ODQA" read --model "$MODEL" --data "$KORQUAD/dev.json" --threads "$THREADS" --precision "$p" \
    --out "$OUT/read-$p.json" 2> "$OUT/read-$p.log"
  rate=$(sed -nE 's/^read .*: ([0-9.]+) windows\/s.*/\1/p' "$OUT/read-$p.log")
  echo "$p  reading comprehension (dev, 473 q): $(score "$KORQUAD/dev.json" "$OUT/read-$p.json"), $rate windows/s"

  "$ODQA" predict --index "$INDEX" --model "$MODEL" --config "$CONFIG" --threads "$THREADS" \
    --precision "$p" --questions "$OUT/questions.json" --out "$OUT/od-$p.json" 2> "$OUT/od-$p.log"
  qps=$(sed -nE 's/.*\(([0-9.]+) questions\/s\).*/\1/p' "$OUT/od-$p.log" | tail -1)
  echo "$p  open-domain ($OD q, $(basename "$CONFIG")): $(score "$OUT/questions.json" "$OUT/od-$p.json"), $qps questions/s"

  start_server "$OUT/serve-$p.log" --index "$INDEX" --model "$MODEL" --config "$CONFIG" \
    --threads "$THREADS" --precision "$p" --addr "127.0.0.1:$PORT"
  python3 scripts/load-test.py --url "http://127.0.0.1:$PORT" --questions "$OUT/questions.json" \
    --count "$SERVE" --concurrency 1 --bad-every 0 --pid "$SERVER" --out "$OUT/serve-$p.json" > /dev/null
  kill -TERM "$SERVER"; wait "$SERVER" || true; trap - EXIT
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; print("%s  serve, 1 client (%d q): p50 %s ms, p95 %s ms" % (sys.argv[2], r["questions"], r["p50_ms"], r["p95_ms"]))' "$OUT/serve-$p.json" "$p"
done
