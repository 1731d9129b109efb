#!/usr/bin/env bash
# Runs the official api.video and Kaltura clients (Node and Python), and schemathesis with
# api.video's OpenAPI document, against a vidmock binary.
#
#   bash tests/compat/run.sh target/debug/vidmock
#
# Starts `BINARY --port 0`, waits for its first stdout line
# (`vidmock listening on http://HOST:PORT`), runs every client script, writes
# their results to target/compat/results/*.json and ends with the line
# `N passed, M failed` over all checks. Exits non-zero if anything failed.
# VIDMOCK_APIVIDEO_KEY (default vidmock-api-key) is seen by the binary; the
# scripts use the api.video key and the Kaltura partner (ID:ADMIN:USER) the
# binary prints after its first line.
#
# Parity: with VIDMOCK_PARITY_APIVIDEO_URL and VIDMOCK_PARITY_APIVIDEO_KEY (an empty api.video
# project), and/or VIDMOCK_PARITY_KALTURA_URL and VIDMOCK_PARITY_KALTURA_PARTNER
# (ID:ADMIN_SECRET[:USER_SECRET]), the client scripts run a second time against that vendor
# (VIDMOCK_COMPAT_TARGET=vendor), results in target/compat/parity/; their failures count too.
# Without them the parity run is skipped, in one line.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 VIDMOCK_BINARY" >&2
  exit 2
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BINARY=$1
case "$BINARY" in /*) ;; *) BINARY="$PWD/$BINARY" ;; esac
OUT="$ROOT/target/compat"
RESULTS="$OUT/results"
VENV="$OUT/venv"
START_TIMEOUT=${VIDMOCK_COMPAT_START_TIMEOUT:-30}
SCRIPT_TIMEOUT=${VIDMOCK_COMPAT_SCRIPT_TIMEOUT:-300}

summary() {
  # Plain closing line: "N passed, M failed".
  echo "$1 passed, $2 failed"
}

if [ ! -x "$BINARY" ]; then
  echo "compat: $BINARY is not an executable" >&2
  summary 0 1
  exit 1
fi

if ! bash "$HERE/setup.sh"; then
  echo "compat: setup failed" >&2
  summary 0 1
  exit 1
fi

PARITY="$OUT/parity"
mkdir -p "$RESULTS" "$PARITY"
rm -f "$RESULTS"/*.json "$PARITY"/*.json
# One log pair per run, so runs that overlap never read each other's address.
mkdir -p "$OUT/runs"
RUN_DIR=$(mktemp -d "$OUT/runs/run.XXXXXX")
export VIDMOCK_APIVIDEO_KEY=${VIDMOCK_APIVIDEO_KEY:-vidmock-api-key}
# The scripts import each other (schemathesis hooks); keep __pycache__ out of the source tree.
export PYTHONDONTWRITEBYTECODE=1

# shellcheck source=../lib/vidmock.sh
source "$HERE/../lib/vidmock.sh"
# Kaltura entries import for 5 s and convert for 10 s on the mock's clock: the scripts wait for
# READY by moving the clock through the admin API.
start_vidmock "$RUN_DIR" "$BINARY" --port 0 --kaltura-import-delay 5 --kaltura-convert-delay 10
wait_first_line "$START_TIMEOUT"

if [[ ! "$FIRST_LINE" =~ ^vidmock\ listening\ on\ (https?://[^[:space:]]+)$ ]]; then
  echo "compat: vidmock did not announce its address (first stdout line: '${FIRST_LINE}')" >&2
  echo "--- vidmock stderr ---" >&2
  tail -n 20 "$STDERR_LOG" >&2
  summary 0 1
  exit 1
fi
export VIDMOCK_URL=${BASH_REMATCH[1]}

# The credentials follow the first line; use the api.video key in force.
for _ in $(seq 1 20); do
  PRINTED_KEY=$(sed -n 's/^apivideo api key: *\([^[:space:]]*\)$/\1/p' "$STDOUT_LOG" | head -n 1)
  [ -n "$PRINTED_KEY" ] && break
  sleep 0.1
done
if [ -n "${PRINTED_KEY:-}" ]; then
  export VIDMOCK_APIVIDEO_KEY=$PRINTED_KEY
fi
# `kaltura partner: ID admin secret: A[ user secret: U]` -> ID:A[:U]
for _ in $(seq 1 20); do
  PRINTED_PARTNER=$(sed -n 's/^kaltura partner: \([0-9]*\) admin secret: \([^[:space:]]*\)\( user secret: \([^[:space:]]*\)\)\{0,1\}$/\1:\2:\4/p' "$STDOUT_LOG" | head -n 1)
  [ -n "$PRINTED_PARTNER" ] && break
  sleep 0.1
done
if [ -n "$PRINTED_PARTNER" ]; then
  export VIDMOCK_KALTURA_PARTNER=${PRINTED_PARTNER%:}
fi
SHOWN_PARTNER=${VIDMOCK_KALTURA_PARTNER:-unknown}
echo "compat: vidmock at $VIDMOCK_URL (pid $MOCK_PID), api.video key $VIDMOCK_APIVIDEO_KEY, kaltura partner ${SHOWN_PARTNER%%:*}"

# Runs one client script: run_client NAME COMMAND... (results in $RESULTS_DIR/NAME.json)
declare -A EXIT_CODES=()
RESULTS_DIR=$RESULTS
run_client() {
  local name=$1
  shift
  echo "compat: running $name"
  VIDMOCK_COMPAT_RESULTS="$RESULTS_DIR/$name.json" timeout "$SCRIPT_TIMEOUT" "$@"
  EXIT_CODES[$name]=$?
}

run_client apivideo-node node "$HERE/apivideo_node.mjs"
run_client apivideo-python "$VENV/bin/python" "$HERE/apivideo_python.py"
run_client kaltura-node node "$HERE/kaltura_node.mjs"
run_client kaltura-python "$VENV/bin/python" "$HERE/kaltura_python.py"
VIDMOCK_SCHEMATHESIS_DIR="$RUN_DIR/schemathesis" run_client schemathesis \
  "$VENV/bin/python" "$HERE/schemathesis_apivideo.py"

# Count checks across the results in $1 for the scripts in EXIT_CODES; a script that failed
# without reporting a failing check (crash, timeout) counts as one failed check.
count_checks() {
  for name in "${!EXIT_CODES[@]}"; do
    printf '%s %s\n' "$name" "${EXIT_CODES[$name]}"
  done | "$VENV/bin/python" -c '
import json, sys
passed = failed = 0
for line in sys.stdin:
    name, code = line.split()
    path = sys.argv[1] + "/" + name + ".json"
    try:
        with open(path, encoding="utf-8") as f:
            ops = json.load(f)["operations"]
    except (OSError, ValueError, KeyError) as err:
        print("compat: no results from %s (%s)" % (name, err), file=sys.stderr)
        ops = []
    ok = sum(1 for op in ops if op.get("ok") is True)
    bad = len(ops) - ok
    if int(code) != 0 and bad == 0:
        print("compat: %s exited with %s" % (name, code), file=sys.stderr)
        bad = 1
    passed += ok
    failed += bad
print(passed, failed)
' "$1"
}
counts=$(count_checks "$RESULTS")
read -r PASSED FAILED <<<"${counts:-0 1}"

# The parity run: the same client scripts against the real vendors, when credentials are given.
EXIT_CODES=()
RESULTS_DIR=$PARITY
PARITY_RAN=()
if [ -n "${VIDMOCK_PARITY_APIVIDEO_URL:-}" ] && [ -n "${VIDMOCK_PARITY_APIVIDEO_KEY:-}" ]; then
  PARITY_RAN+=("api.video at $VIDMOCK_PARITY_APIVIDEO_URL")
  export VIDMOCK_COMPAT_TARGET=vendor
  VIDMOCK_URL=$VIDMOCK_PARITY_APIVIDEO_URL VIDMOCK_APIVIDEO_KEY=$VIDMOCK_PARITY_APIVIDEO_KEY \
    run_client apivideo-node node "$HERE/apivideo_node.mjs"
  VIDMOCK_URL=$VIDMOCK_PARITY_APIVIDEO_URL VIDMOCK_APIVIDEO_KEY=$VIDMOCK_PARITY_APIVIDEO_KEY \
    run_client apivideo-python "$VENV/bin/python" "$HERE/apivideo_python.py"
fi
if [ -n "${VIDMOCK_PARITY_KALTURA_URL:-}" ] && [ -n "${VIDMOCK_PARITY_KALTURA_PARTNER:-}" ]; then
  PARITY_RAN+=("Kaltura at $VIDMOCK_PARITY_KALTURA_URL")
  export VIDMOCK_COMPAT_TARGET=vendor
  VIDMOCK_URL=$VIDMOCK_PARITY_KALTURA_URL VIDMOCK_KALTURA_PARTNER=$VIDMOCK_PARITY_KALTURA_PARTNER \
    run_client kaltura-node node "$HERE/kaltura_node.mjs"
  VIDMOCK_URL=$VIDMOCK_PARITY_KALTURA_URL VIDMOCK_KALTURA_PARTNER=$VIDMOCK_PARITY_KALTURA_PARTNER \
    run_client kaltura-python "$VENV/bin/python" "$HERE/kaltura_python.py"
fi
unset VIDMOCK_COMPAT_TARGET
if [ ${#PARITY_RAN[@]} -eq 0 ]; then
  echo "compat: parity run skipped: set VIDMOCK_PARITY_APIVIDEO_URL and VIDMOCK_PARITY_APIVIDEO_KEY, or VIDMOCK_PARITY_KALTURA_URL and VIDMOCK_PARITY_KALTURA_PARTNER, to run the clients against the real vendors"
else
  parity_counts=$(count_checks "$PARITY")
  read -r PARITY_PASSED PARITY_FAILED <<<"${parity_counts:-0 1}"
  echo "compat: parity run against $(printf '%s; ' "${PARITY_RAN[@]}" | sed 's/; $//'): $PARITY_PASSED passed, $PARITY_FAILED failed (results in $PARITY; SKIP lines above name the steps only the mock can take)"
  PASSED=$((PASSED + PARITY_PASSED))
  FAILED=$((FAILED + PARITY_FAILED))
fi

python3 "$HERE/matrix.py" "$RESULTS" > "$OUT/matrix.md" || echo "compat: could not write the matrix" >&2
echo "compat: results in $RESULTS, matrix in $OUT/matrix.md"
summary "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
