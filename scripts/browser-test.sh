#!/usr/bin/env bash
# The web page of `odqa serve` in a real headless browser (Debian's chromium): starts the server,
# opens /?q=QUESTION (the page asks it on load), takes a screenshot and checks the rendered DOM:
# the answer shown is the API's best answer for the question, it is highlighted (<mark>) in its
# evidence sentence and in its passage, the next answers and the retrieved passages are listed
# with their scores, and the timings are shown.
#
#   scripts/browser-test.sh                         # tiny committed fixtures (what CI can run)
#   MODEL=runs/e5-small-cnn-full-stage2 INDEX=runs/kowiki-index \
#     CONFIG=configs/pipeline-e5-small-cnn-full-stage2-kowiki.toml scripts/browser-test.sh
#
# Env: QUESTION, PORT (8091), ODQA (target/release/odqa), CHROMIUM (chromium). Writes
# runs/browser-test/{page.png,dom.html,api.json,server.log}. Exits 1 when a check fails, 2 when
# chromium is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
CHROMIUM=${CHROMIUM:-chromium}
command -v "$CHROMIUM" > /dev/null || { echo "browser-test: $CHROMIUM not found (apt-get install chromium)" >&2; exit 2; }
ODQA=${ODQA:-target/release/odqa}
[ -x "$ODQA" ] || cargo build --release --bin odqa
PORT=${PORT:-8091}
OUT=runs/browser-test
mkdir -p "$OUT"
QUESTION=${QUESTION:-임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배된 연도는?}
if [ -z "${MODEL:-}" ]; then
  MODEL=tests/fixtures/reader-parity/tiny-bert-qa
  INDEX=$OUT/tiny-index
  [ -d "$INDEX" ] || "$ODQA" index --corpus corpus/korquad-sample.json --index "$INDEX" > /dev/null
  ARGS=(--max-seq-len 128 --doc-stride 32 --top-k 5)
else
  ARGS=()
  [ -n "${CONFIG:-}" ] && ARGS=(--config "$CONFIG")
fi

. scripts/lib/serve.sh
start_server "$OUT/server.log" --index "$INDEX" --model "$MODEL" "${ARGS[@]}" --addr "127.0.0.1:$PORT"
URL="http://127.0.0.1:$PORT/?q=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$QUESTION")"
curl -sf -X POST "http://127.0.0.1:$PORT/v1/ask" -H 'content-type: application/json' \
  -d "$(python3 -c 'import json, sys; print(json.dumps({"question": sys.argv[1]}))' "$QUESTION")" > "$OUT/api.json"

BROWSER=(--headless --no-sandbox --disable-gpu --hide-scrollbars --lang=ko-KR --window-size=1000,1500
         --virtual-time-budget=30000 --user-data-dir="$OUT/profile")
"$CHROMIUM" "${BROWSER[@]}" --dump-dom "$URL" > "$OUT/dom.html" 2> "$OUT/chromium.log"
"$CHROMIUM" "${BROWSER[@]}" --screenshot="$OUT/page.png" "$URL" >> "$OUT/chromium.log" 2>&1
kill -TERM $SERVER; wait $SERVER || true; trap - EXIT

python3 - "$OUT/dom.html" "$OUT/api.json" <<'PY'
import html.parser, json, sys

class Dom(html.parser.HTMLParser):
    """Text of the elements with an id, and of the <mark>s and <li>s inside them."""
    def __init__(self):
        super().__init__()
        self.stack, self.text, self.marks, self.items = [], {}, {}, {}
    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        owner = attrs.get("id") or (self.stack[-1][1] if self.stack else None)
        if tag in ("input", "meta", "link", "br"):
            return
        self.stack.append((tag, owner))
        if tag == "mark":
            self.marks.setdefault(owner, []).append("")
        if tag == "li":
            self.items[owner] = self.items.get(owner, 0) + 1
    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break
    def handle_data(self, data):
        for owner in {owner for _, owner in self.stack if owner}:
            self.text[owner] = self.text.get(owner, "") + data
        if self.stack and self.stack[-1][0] == "mark":
            owner = self.stack[-1][1]
            self.marks[owner][-1] += data

dom = Dom()
dom.feed(open(sys.argv[1], encoding="utf-8").read())
api = json.load(open(sys.argv[2], encoding="utf-8"))
best = api["answers"][0]
checks = [
    ("the answer shown is the API's best answer", dom.text.get("answer", "").strip() == best["text"]),
    ("its probability is shown", f"p = {best['probability']:.3f}" in dom.text.get("probability", "")),
    ("it is highlighted in the evidence sentence", dom.marks.get("sentence") == [best["evidence"]["answer"]]),
    ("the sentence shown is the API's", dom.text.get("sentence", "") == best["sentence"]),
    ("it is highlighted in its passage", dom.marks.get("passage") == [best["evidence"]["answer"]]),
    ("the title and passage id are shown", best["passage_id"] in dom.text.get("source", "")),
    ("the next answers are listed", dom.items.get("others", 0) == len(api["answers"]) - 1),
    ("the passages are listed", dom.items.get("passages", 0) == len(api["passages"])),
    ("the passages' BM25 scores are shown", "BM25" in dom.text.get("passages", "")),
    ("the timings are shown", "ms" in dom.text.get("timings", "")),
    ("no error is shown", dom.text.get("status", "").strip() == ""),
]
failed = 0
for name, ok in checks:
    print(("ok   " if ok else "FAIL ") + name)
    failed += not ok
print(f"answer {best['text']!r} (p = {best['probability']:.3f}); {len(api['answers'])} answers, "
      f"{len(api['passages'])} passages")
sys.exit(1 if failed else 0)
PY
echo "screenshot: $OUT/page.png"
