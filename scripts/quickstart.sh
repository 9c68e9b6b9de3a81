#!/usr/bin/env bash
# Build odqa, index the bundled sample corpus and answer retrieval questions on it.
# Usage: scripts/quickstart.sh   (from anywhere; writes target/sample-index)
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 2; }
cargo build --release --bin odqa
ODQA=target/release/odqa

echo "== index the sample corpus (2,000 Korean Wikipedia passages)"
$ODQA index --corpus corpus/kowiki-sample-2k.jsonl --index target/sample-index

for q in "임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배된 연도는?" \
         "알렉산더 헤이그는 어느 대통령의 국무장관이었나?"; do
  echo
  echo "== odqa retrieve \"$q\""
  $ODQA retrieve --index target/sample-index --top-k 3 "$q"
done

echo
echo "== retrieval recall on the 40 sample KorQuAD questions"
$ODQA eval retrieval --index target/sample-index --data corpus/korquad-sample.json --top-k 1,5,20
