#!/usr/bin/env bash
# Load and fault test of `odqa serve`, side by side with `odqa predict` on the same questions:
# starts the server on 127.0.0.1, runs scripts/load-test.py at concurrency 1, 8 and 32 (COUNT
# KorQuAD dev questions each, bad requests mixed in, every response checked, RSS sampled), stops it
# with SIGTERM, then answers the same questions with `odqa predict` and prints both throughputs.
#
#   scripts/load-test.sh runs/e5-small-cnn-full-stage2 configs/pipeline-e5-small-cnn-full-stage2-kowiki.toml
#
# Env: COUNT (48), INDEX (runs/kowiki-index), KORQUAD (../shared/data/korquad), PORT (8089),
# THREADS (0 = all cores), ODQA (target/release/odqa). Writes runs/load-test/{load.json,predict.log,server.log}.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
MODEL=$1
CONFIG=$2
COUNT=${COUNT:-48}
INDEX=${INDEX:-runs/kowiki-index}
KORQUAD=${KORQUAD:-../shared/data/korquad}
PORT=${PORT:-8089}
THREADS=${THREADS:-0}
ODQA=${ODQA:-target/release/odqa}
OUT=runs/load-test
[ -x "$ODQA" ] || cargo build --release --bin odqa
mkdir -p "$OUT"

# The first COUNT dev questions, as SQuAD JSON for `odqa predict`.
python3 - "$KORQUAD/dev.json" "$COUNT" "$OUT/questions.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1], encoding="utf-8"))["data"]
left = int(sys.argv[2])
out = []
for article in data:
    paragraphs = []
    for p in article["paragraphs"]:
        qas = p["qas"][:left]
        left -= len(qas)
        if qas:
            paragraphs.append({**p, "qas": qas})
    if paragraphs:
        out.append({**article, "paragraphs": paragraphs})
    if left <= 0:
        break
json.dump({"version": "load-test", "data": out}, open(sys.argv[3], "w", encoding="utf-8"), ensure_ascii=False)
PY

. scripts/lib/serve.sh
start_server "$OUT/server.log" --index "$INDEX" --model "$MODEL" --config "$CONFIG" \
  --threads "$THREADS" --addr "127.0.0.1:$PORT"
echo "== odqa serve (pid $SERVER): $COUNT questions per level"
status=0
python3 scripts/load-test.py --url "http://127.0.0.1:$PORT" --questions "$OUT/questions.json" \
  --count "$COUNT" --pid $SERVER --out "$OUT/load.json" || status=$?
kill -TERM $SERVER
wait $SERVER || { echo "the server did not exit cleanly" >&2; status=1; }
trap - EXIT
tail -1 "$OUT/server.log"

echo "== odqa predict on the same $COUNT questions"
"$ODQA" predict --index "$INDEX" --model "$MODEL" --config "$CONFIG" --threads "$THREADS" \
  --questions "$OUT/questions.json" --out "$OUT/predictions.json" 2> "$OUT/predict.log"
grep "windows in" "$OUT/predict.log"
python3 - "$OUT/load.json" "$OUT/predict.log" <<'PY'
import json, re, sys
rows = json.load(open(sys.argv[1]))
summary = [l for l in open(sys.argv[2]) if "windows in" in l][-1]
predict = float(re.search(r"\(([\d.]+) questions/s\)", summary).group(1))
for r in rows:
    print(f"concurrency {r['concurrency']:>2}: {r['questions_per_second']:.3f} questions/s = "
          f"{r['questions_per_second'] / predict:.2f} x odqa predict ({predict:.3f} questions/s)")
PY
exit $status
