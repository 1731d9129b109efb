#!/usr/bin/env bash
# Runs the official api.video clients (Node and Python) against a vidmock binary.
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

mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json
# One log pair per run, so runs that overlap never read each other's address.
mkdir -p "$OUT/runs"
RUN_DIR=$(mktemp -d "$OUT/runs/run.XXXXXX")
export VIDMOCK_APIVIDEO_KEY=${VIDMOCK_APIVIDEO_KEY:-vidmock-api-key}

# shellcheck source=../lib/vidmock.sh
source "$HERE/../lib/vidmock.sh"
start_vidmock "$RUN_DIR" "$BINARY" --port 0
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

# Runs one client script: run_client NAME COMMAND...
declare -A EXIT_CODES=()
run_client() {
  local name=$1
  shift
  echo "compat: running $name"
  VIDMOCK_COMPAT_RESULTS="$RESULTS/$name.json" timeout "$SCRIPT_TIMEOUT" "$@"
  EXIT_CODES[$name]=$?
}

run_client apivideo-node node "$HERE/apivideo_node.mjs"
run_client apivideo-python "$VENV/bin/python" "$HERE/apivideo_python.py"
run_client kaltura-node node "$HERE/kaltura_node.mjs"
run_client kaltura-python "$VENV/bin/python" "$HERE/kaltura_python.py"

# Count checks across all results; a script that failed without reporting a
# failing check (crash, timeout) counts as one failed check.
counts=$(
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
' "$RESULTS"
)
read -r PASSED FAILED <<<"${counts:-0 1}"

python3 "$HERE/matrix.py" "$RESULTS" > "$OUT/matrix.md" || echo "compat: could not write the matrix" >&2
echo "compat: results in $RESULTS, matrix in $OUT/matrix.md"
summary "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
