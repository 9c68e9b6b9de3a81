# Sourced by the scripts that test `odqa serve` (load-test.sh, browser-test.sh).
#
#   start_server LOG ARGS…   runs "$ODQA" serve ARGS… with stderr in LOG, sets SERVER to its pid,
#                            kills it on exit, and returns once it prints "listening on" (exits 1,
#                            showing LOG, when it dies first).
start_server() {
  local log=$1
  shift
  "$ODQA" serve "$@" 2> "$log" &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null || true' EXIT
  until grep -q "listening on" "$log"; do
    kill -0 "$SERVER" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.2
  done
}
