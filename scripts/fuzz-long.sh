#!/usr/bin/env bash
# The long run of the property tests: every test of crates/*/tests/fuzz.rs, one at a time, with
# PROPTEST_CASES=$CASES (100,000 by default; proptest applies it to every target, the indexing one
# included), built with the release profile, printing each test's cases, wall time and result.
# Plain tests in those files (the kept regression inputs, the committed seeds) run once; their
# cases column says "plain".
#
#   scripts/fuzz-long.sh                       # ≈ 40 minutes on 2 cores (27 of them indexing)
#   CASES=5000 CRATES="odqa-core" scripts/fuzz-long.sh
#
# Writes $OUT/summary.md (a table) and $OUT/<crate>.<test>.log (each test's output). Exits 1 if a
# test failed (its log holds proptest's minimal failing input).
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${CASES:-100000}
PROFILE=${PROFILE:-release}
CRATES=${CRATES:-"odqa-core odqa-retriever odqa-reader odqa-pipeline odqa-train"}
OUT=${OUT:-bench-out/fuzz-long}
mkdir -p "$OUT"

# One build of every fuzz target (a per-crate build could unify features differently and rebuild
# burn); the executables come from cargo's JSON messages.
cargo test --profile "$PROFILE" --workspace --test fuzz --no-run --message-format=json \
  > "$OUT/build.json"
targets=$(python3 - "$OUT/build.json" <<'EOF'
import json, os, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "fuzz" and m.get("executable"):
        crate = os.path.dirname(m["manifest_path"])
        print(os.path.basename(crate), crate, m["executable"])
EOF
)

status=0
summary="$OUT/summary.md"
{
  echo "CASES=$CASES, profile $PROFILE, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs"
  echo
  echo "| crate | test | cases | seconds | result |"
  echo "|---|---|---|---|---|"
} > "$summary"
while read -r crate dir exe; do
  [[ " $CRATES " == *" $crate "* ]] || continue
  for test in $("$exe" --list --format terse | sed -n 's/: test$//p'); do
    # A property test takes parameters (`fn name(x in …)`); a plain #[test] takes none.
    if grep -Pzq "fn ${test}\(\s*[^)\s]" "$dir/tests/fuzz.rs"; then cases=$CASES; else cases=plain; fi
    log="$OUT/$crate.$test.log"
    start=$(date +%s.%N)
    if (cd "$dir" && PROPTEST_CASES=$CASES "$exe" --exact "$test" --test-threads 1) > "$log" 2>&1; then
      result=ok
    else
      result=FAILED
      status=1
    fi
    seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    printf '| %s | %s | %s | %.1f | %s |\n' "$crate" "$test" "$cases" "$seconds" "$result" \
      | tee -a "$summary"
  done
done <<< "$targets"
echo "fuzz-long: $summary" >&2
exit $status
