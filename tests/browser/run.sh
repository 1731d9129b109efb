#!/usr/bin/env bash
# Drives real browser uploaders in headless Chromium against a vidmock binary over HTTPS:
# api.video's uploader and Kaltura's browser client's parallel chunked upload.
#
#   bash tests/browser/run.sh target/debug/vidmock
#
# Installs playwright-core and @api.video/video-uploader from package-lock.json (npm ci, skipped
# while the lock file and Node are unchanged), starts `BINARY --port 0 --tls --admin-token …`,
# reads its first stdout line (`vidmock listening on https://HOST:PORT`) and the credentials
# after it (api.video key, Kaltura partner and admin secret, certificate), runs run.mjs, stops
# the binary and ends with the line `N passed, M failed`.
#
# Chromium is Debian's (/usr/bin/chromium, or $VIDMOCK_CHROMIUM); no browser is downloaded.
# Without it the run is skipped, loudly, and passes, unless VIDMOCK_REQUIRE_BROWSER=1 (as in
# CI), where that is a failure. Results and screenshots go to target/browser/.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 VIDMOCK_BINARY" >&2
  exit 2
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BINARY=$1
case "$BINARY" in /*) ;; *) BINARY="$PWD/$BINARY" ;; esac
OUT="$ROOT/target/browser"
CHROMIUM=${VIDMOCK_CHROMIUM:-/usr/bin/chromium}
START_TIMEOUT=${VIDMOCK_BROWSER_START_TIMEOUT:-30}
TEST_TIMEOUT=${VIDMOCK_BROWSER_TIMEOUT:-300}

log() { printf 'browser: %s\n' "$*" >&2; }
summary() {
  # Plain closing line: "N passed, M failed".
  echo "$1 passed, $2 failed"
}
fail() {
  log "$*"
  summary 0 1
  exit 1
}

if [ ! -x "$CHROMIUM" ]; then
  if [ "${VIDMOCK_REQUIRE_BROWSER:-}" = "1" ]; then
    fail "$CHROMIUM is missing and VIDMOCK_REQUIRE_BROWSER=1 (install it: apt-get install -y chromium)"
  fi
  cat >&2 <<EOF

  ************************************************************************
  *  browser test skipped: chromium not installed ($CHROMIUM)
  *  install it with: apt-get install -y chromium
  *  set VIDMOCK_REQUIRE_BROWSER=1 to make this a failure
  ************************************************************************

EOF
  echo "skipped: chromium not installed"
  summary 0 0
  exit 0
fi

[ -x "$BINARY" ] || fail "$BINARY is not an executable"
command -v node >/dev/null 2>&1 || fail "node not found"
command -v npm >/dev/null 2>&1 || fail "npm not found"

mkdir -p "$OUT"

# ------------------------------------------------------------------ npm ci, once per lock file
install_packages() {
  local stamp="$OUT/node.stamp" want
  want="$(sha256sum "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1) node-$(node --version)"
  if [ -f "$HERE/node_modules/playwright-core/package.json" ] &&
    [ -f "$HERE/node_modules/@api.video/video-uploader/dist/index.js" ] &&
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "node_modules up to date ($HERE/node_modules)"
    return 0
  fi
  log "installing node packages (npm ci, node $(node --version))"
  rm -f "$stamp"
  # playwright-core has no install script, and none is needed: no browser is downloaded.
  (cd "$HERE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null) || return 1
  printf '%s\n' "$want" >"$stamp"
}
(
  # One install at a time: two runs started together share node_modules.
  if command -v flock >/dev/null 2>&1; then
    flock 9
  fi
  install_packages
) 9>"$OUT/setup.lock" || fail "npm ci failed"

# ------------------------------------------------------------------ the mock
mkdir -p "$OUT/runs"
# Keep the last few runs' logs and screenshots.
ls -1dt "$OUT"/runs/run.* 2>/dev/null | tail -n +10 | xargs -r rm -rf
RUN_DIR=$(mktemp -d "$OUT/runs/run.XXXXXX")
RESULTS="$RUN_DIR/results.json"
ARTIFACTS="$RUN_DIR/artifacts"
# The dashboard is opened as /__vidmock/?token=…, the way a token-guarded server is used.
ADMIN_TOKEN=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

# shellcheck source=../lib/vidmock.sh
source "$HERE/../lib/vidmock.sh"
# The local certificate authority is kept with the run, not in the user's data directory.
start_vidmock "$RUN_DIR" "$BINARY" --port 0 --tls --data-dir "$RUN_DIR/data" --admin-token "$ADMIN_TOKEN"
wait_first_line "$START_TIMEOUT"
if [[ ! "$FIRST_LINE" =~ ^vidmock\ listening\ on\ (https://[^[:space:]]+)$ ]]; then
  log "vidmock did not announce an https address (first stdout line: '${FIRST_LINE}')"
  tail -n 20 "$STDERR_LOG" >&2
  summary 0 1
  exit 1
fi
export VIDMOCK_URL=${BASH_REMATCH[1]}

# The credentials follow the first line.
printed() { sed -n "s/^$1: *\\([^[:space:]]*\\)\$/\\1/p" "$STDOUT_LOG" | head -n 1; }
for _ in $(seq 1 50); do
  API_KEY=$(printed "apivideo api key")
  CERTIFICATE=$(printed "tls certificate")
  [ -n "$API_KEY" ] && [ -n "$CERTIFICATE" ] && break
  sleep 0.1
done
[ -n "$API_KEY" ] || fail "vidmock printed no 'apivideo api key:' line"
# `kaltura partner: ID admin secret: SECRET[ user secret: …]`, the first partner printed.
KALTURA_LINE=$(grep -m 1 '^kaltura partner: ' "$STDOUT_LOG")
if [[ "$KALTURA_LINE" =~ ^kaltura\ partner:\ ([0-9]+)\ admin\ secret:\ ([^[:space:]]+) ]]; then
  export VIDMOCK_KALTURA_PARTNER=${BASH_REMATCH[1]}
  export VIDMOCK_KALTURA_ADMIN_SECRET=${BASH_REMATCH[2]}
else
  fail "vidmock printed no 'kaltura partner: ID admin secret: SECRET' line ('$KALTURA_LINE')"
fi
[ -f "$CERTIFICATE" ] || fail "vidmock printed no readable 'tls certificate:' line ('$CERTIFICATE')"
export VIDMOCK_APIVIDEO_KEY=$API_KEY
export VIDMOCK_ADMIN_TOKEN=$ADMIN_TOKEN
export VIDMOCK_CHROMIUM=$CHROMIUM
export VIDMOCK_BROWSER_RESULTS=$RESULTS
export VIDMOCK_BROWSER_ARTIFACTS=$ARTIFACTS
log "vidmock at $VIDMOCK_URL (pid $MOCK_PID), certificate $CERTIFICATE"

# Node calls the mock with the certificate vidmock printed; Chromium ignores certificate errors.
NODE_EXTRA_CA_CERTS=$CERTIFICATE timeout "$TEST_TIMEOUT" node "$HERE/run.mjs"
CODE=$?
stop_vidmock
trap - EXIT

# Count the checks; a run that failed without reporting a failing check (crash, timeout)
# counts as one failed check.
counts=$(node -e '
const fs = require("fs");
let checks = [];
try { checks = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).checks; }
catch (e) { console.error("browser: no results (" + e.message + ")"); }
let passed = checks.filter((c) => c.ok === true).length;
let failed = checks.length - passed;
if (Number(process.argv[2]) !== 0 && failed === 0) failed = 1;
console.log(passed + " " + failed);
' "$RESULTS" "$CODE")
read -r PASSED FAILED <<<"${counts:-0 1}"
[ "$CODE" -eq 124 ] && log "the browser run timed out after ${TEST_TIMEOUT}s"
log "results and screenshots in $RUN_DIR"
summary "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
