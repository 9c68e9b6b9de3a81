# Sourced by the scripts that test `odqa serve` (load-test.sh, browser-test.sh).
#
#   start_server LOG ARGS…   runs "$ODQA" serve ARGS… with stderr in LOG, sets SERVER to its pid,
#                            kills it on exit, and returns once it prints "listening on" (exits 1,
#                            showing LOG, when it dies first or has not listened within 600 s).
start_server() {
  local log=$1
  shift
  "$ODQA" serve "$@" 2> "$log" &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null || true' EXIT
  local waited=0
  until grep -q "listening on" "$log" 2>/dev/null; do
    kill -0 "$SERVER" 2>/dev/null || { cat "$log" >&2; exit 1; }
    # Loading a large index and model takes a while, but not this long.
    if [ "$waited" -ge 3000 ]; then
      echo "the server did not listen within 600 s" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
}
