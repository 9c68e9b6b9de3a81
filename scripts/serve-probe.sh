#!/usr/bin/env bash
# The hostile probes of issue 23 against `odqa serve` (127.0.0.1 only, every wait bounded):
#  - 100 idle sockets while the server runs under a 64-open-files limit: real clients still answered;
#  - 160 asks whose clients leave at once: no 503 for the others, the CPU spent on them measured;
#  - SIGTERM while a client is stuck in the middle of its request head: seconds until the exit.
# Uses the committed tiny QA model and the fixture corpus, so it needs nothing outside the repository.
#
#   scripts/serve-probe.sh            # ODQA (target/release/odqa), PORT (8093), OUT (target/serve-probe)
set -euo pipefail
cd "$(dirname "$0")/.."
ODQA=${ODQA:-target/release/odqa}
PORT=${PORT:-8093}
OUT=${OUT:-target/serve-probe}
[ -x "$ODQA" ] || cargo build --release --bin odqa
mkdir -p "$OUT"
MODEL=tests/fixtures/reader-parity/tiny-bert-qa
QUESTION="임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배 된 날은?"
"$ODQA" index --corpus tests/fixtures/wikipedia_documents.json --index "$OUT/index" >/dev/null 2>&1
source scripts/lib/serve.sh

# 1 + 2: idle sockets while the server (only it: not this script's clients) has 64 open files at
# most, then abandoned asks.
REAL_ODQA=$(realpath "$ODQA")
printf '#!/bin/sh\nulimit -n 64\nexec "%s" "$@"\n' "$REAL_ODQA" > "$OUT/odqa-64-files"
chmod +x "$OUT/odqa-64-files"
ODQA="$OUT/odqa-64-files"
start_server "$OUT/server.log" --index "$OUT/index" --model "$MODEL" --max-seq-len 128 \
  --doc-stride 32 --top-k 4 --addr "127.0.0.1:$PORT" --threads 2
echo "server pid $SERVER, $(grep 'Max open files' /proc/$SERVER/limits)"
python3 scripts/serve-probe.py "127.0.0.1:$PORT" "$SERVER" "$QUESTION" | tee "$OUT/probe.json"

# 3: SIGTERM while a client sends half a request head and then nothing.
python3 - "$PORT" "$SERVER" <<'PY' | tee "$OUT/sigterm.json"
import json, os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
stuck = socket.create_connection(("127.0.0.1", port), timeout=5)
stuck.sendall(b"POST /v1/ask HTTP/1.1\r\nhost: localhost\r\n")
time.sleep(0.5)  # let the server read the half head (not a measurement)
started = time.monotonic()
os.kill(pid, signal.SIGTERM)
deadline = started + 120
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    # A zombie (exited, not yet reaped by the shell) counts as gone.
    if open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
        break
    time.sleep(0.05)
gone = time.monotonic() - started
print(json.dumps({"sigterm_with_a_half_sent_head_exit_seconds": round(gone, 2),
                  "exited": gone < 120}))
PY
wait "$SERVER" || true
trap - EXIT
grep -c "accept" "$OUT/server.log" | sed 's/^/accept errors logged: /' || true
