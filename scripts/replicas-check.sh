#!/usr/bin/env bash
# Several `odqa serve` replicas over one read-only index answer alike: the check behind
# deploy/k8s/serve.yaml's claim that any replica may take any request. Starts two replicas of the
# committed tiny reader on the fixture corpus; replica A gets the questions one at a time, replica
# B all at once from 8 client threads (so they are read in shared batches); every reply of
# /v1/ask and /v1/retrieve must be the same JSON once "timings"/"retrieval_ms" are left out.
#
#   scripts/replicas-check.sh        # ODQA (target/release/odqa), PORT (8095; B uses PORT+1)
set -euo pipefail
cd "$(dirname "$0")/.."
ODQA=${ODQA:-target/release/odqa}
PORT=${PORT:-8095}
[ -x "$ODQA" ] || cargo build --release --bin odqa
work=$(mktemp -d /tmp/odqa-replicas.XXXXXX)
servers=()
cleanup() {
    for pid in "${servers[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
"$ODQA" index --corpus corpus/korquad-sample.json --index "$work/index" > /dev/null 2>&1
chmod -R a-w "$work/index"
for port in "$PORT" "$((PORT + 1))"; do
    "$ODQA" serve --index "$work/index" --model tests/fixtures/reader-parity/tiny-bert-qa \
        --max-seq-len 128 --doc-stride 32 --top-k 3 --addr "127.0.0.1:$port" --threads 1 \
        2> "$work/serve-$port.log" &
    servers+=($!)
done
for port in "$PORT" "$((PORT + 1))"; do
    for i in $(seq 300); do
        grep -q "listening on" "$work/serve-$port.log" 2> /dev/null && break
        [ "$i" -eq 300 ] && { echo "replica on $port did not start" >&2; cat "$work/serve-$port.log" >&2; exit 1; }
        sleep 0.2
    done
done
python3 - "$PORT" "$((PORT + 1))" corpus/korquad-sample.json << 'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor

a, b, data = sys.argv[1], sys.argv[2], sys.argv[3]
questions = [q["question"] for art in json.load(open(data))["data"]
             for p in art["paragraphs"] for q in p["qas"]]

def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        reply = json.load(r)
    reply.pop("timings", None)
    reply.pop("retrieval_ms", None)
    return json.dumps(reply, ensure_ascii=False, sort_keys=True)

def ask(port, q):
    return post(port, "/v1/ask", {"question": q, "nbest": 5}), post(port, "/v1/retrieve", {"question": q, "top_k": 5})

alone = [ask(a, q) for q in questions]
with ThreadPoolExecutor(8) as pool:
    together = list(pool.map(lambda q: ask(b, q), questions))
same = sum(x == y for x, y in zip(alone, together))
answers = sum(len(json.loads(x[0])["answers"]) for x in alone)
print(f"{len(questions)} questions, {answers} answers: replica A (one at a time) and replica B "
      f"(8 clients at once) gave the same /v1/ask and /v1/retrieve replies for {same} of {len(questions)}")
if same != len(questions):
    bad = next(i for i, (x, y) in enumerate(zip(alone, together)) if x != y)
    print("first difference:", questions[bad], alone[bad][0][:300], together[bad][0][:300], sep="\n")
    sys.exit(1)
PY
