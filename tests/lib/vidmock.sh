# Shared by the suites that drive the vidmock binary (tests/compat/run.sh, tests/browser/run.sh).
# Source it, then:
#
#   start_vidmock RUN_DIR BINARY [ARGS…]   # starts it; stops it when the script exits
#   wait_first_line SECONDS                # sets FIRST_LINE to its first stdout line ('' if none)
#
# STDOUT_LOG, STDERR_LOG and MOCK_PID name the logs and the process.

start_vidmock() {
  local run_dir=$1
  shift
  STDOUT_LOG="$run_dir/vidmock.stdout.log"
  STDERR_LOG="$run_dir/vidmock.stderr.log"
  "$@" >"$STDOUT_LOG" 2>"$STDERR_LOG" </dev/null &
  MOCK_PID=$!
  trap stop_vidmock EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

stop_vidmock() {
  if kill -0 "$MOCK_PID" 2>/dev/null; then
    kill -TERM "$MOCK_PID" 2>/dev/null
    for _ in $(seq 1 50); do
      kill -0 "$MOCK_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$MOCK_PID" 2>/dev/null
  fi
  wait "$MOCK_PID" 2>/dev/null
}

wait_first_line() {
  FIRST_LINE=""
  local deadline=$((SECONDS + $1))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -s "$STDOUT_LOG" ] && [ "$(wc -l <"$STDOUT_LOG")" -ge 1 ]; then
      FIRST_LINE=$(head -n 1 "$STDOUT_LOG")
      return
    fi
    kill -0 "$MOCK_PID" 2>/dev/null || return
    sleep 0.1
  done
}
