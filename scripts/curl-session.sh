#!/usr/bin/env bash
# Every endpoint and error case of a running `odqa serve`, with curl (what the README shows).
#   scripts/curl-session.sh [http://127.0.0.1:8080]
set -uo pipefail
URL=${1:-http://127.0.0.1:8080}
show() { echo "\$ curl $*"; curl -s -w '\n→ HTTP %{http_code}\n\n' "$@"; }
J=(-H 'content-type: application/json')
show "$URL/health"
show "${J[@]}" -d '{"question": "임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배된 연도는?", "nbest": 3}' "$URL/v1/ask"
show "${J[@]}" -d '{"question": "대한민국의 수도는?", "top_k": 2}' "$URL/v1/retrieve"
show "${J[@]}" -d '{"question": "한글을 만든 왕은?", "top_k": 5, "nbest": 2, "strategy": "merge", "mu": 0.7}' "$URL/v1/ask"
show "${J[@]}" -d '{"question": "zzqxv"}' "$URL/v1/ask"
show "${J[@]}" -d '{not json' "$URL/v1/ask"
show "${J[@]}" -d '{"question": 42}' "$URL/v1/ask"
show "${J[@]}" -d '{"question": "q", "topk": 3}' "$URL/v1/ask"
show -d '{"question": "q"}' "$URL/v1/ask"
show "${J[@]}" -d '{"question": "   "}' "$URL/v1/ask"
show "${J[@]}" -d '{"question": "?!"}' "$URL/v1/ask"
show "${J[@]}" -d "{\"question\": \"$(printf '가%.0s' $(seq 2001))\"}" "$URL/v1/ask"
show "${J[@]}" -d '{"question": "q", "top_k": 0}' "$URL/v1/ask"
show "${J[@]}" -d '{"question": "q", "strategy": "best"}' "$URL/v1/ask"
show "$URL/v1/nowhere"
show "$URL/v1/ask"
echo "\$ curl $URL/openapi.json | python3 -c 'paths and schemas'"
curl -s "$URL/openapi.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("openapi", d["openapi"], "paths", list(d["paths"]), "schemas", len(d["components"]["schemas"]))'
echo
echo "\$ curl -s $URL/ | head -c 120"
curl -s "$URL/" | head -c 120; echo
