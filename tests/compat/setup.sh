#!/usr/bin/env bash
# Installs the official api.video clients used by the compatibility suite:
#   - Python: a venv at $ROOT/target/compat/venv with requirements.txt
#   - Node:   tests/compat/node_modules from package-lock.json (npm ci)
# Idempotent: each half is skipped while its stamp matches the hash of its
# lock file and the interpreter version. Needs python3 (>= 3.11), node and npm.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/target/compat"
VENV="$OUT/venv"

log() { printf 'compat setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

hash_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

mkdir -p "$OUT"

# One setup at a time (two suites started together share target/compat).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$OUT/setup.lock"
  flock 9
fi

# ------------------------------------------------------------------ Python
pick_python() {
  local candidate
  for candidate in "${VIDMOCK_COMPAT_PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      "$candidate" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

PYTHON=$(pick_python) || die "Python >= 3.11 not found (set VIDMOCK_COMPAT_PYTHON)"
PY_VERSION=$("$PYTHON" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')
PY_STAMP="$OUT/python.stamp"
PY_WANT="$(hash_of "$HERE/requirements.txt") python-$PY_VERSION"

if [ -x "$VENV/bin/python" ] && [ -f "$PY_STAMP" ] && [ "$(cat "$PY_STAMP")" = "$PY_WANT" ]; then
  log "python venv up to date ($VENV)"
else
  log "creating python venv with $PYTHON ($PY_VERSION)"
  rm -f "$PY_STAMP"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
    "$VENV/bin/python" -m pip install --quiet --no-input -r "$HERE/requirements.txt"
  "$VENV/bin/python" -m pip check
  printf '%s\n' "$PY_WANT" >"$PY_STAMP"
fi

# ------------------------------------------------------------------ Node
command -v node >/dev/null 2>&1 || die "node not found"
command -v npm >/dev/null 2>&1 || die "npm not found"
NODE_VERSION=$(node --version)
NODE_STAMP="$OUT/node.stamp"
NODE_WANT="$(hash_of "$HERE/package.json" "$HERE/package-lock.json") node-$NODE_VERSION"

if [ -f "$HERE/node_modules/@api.video/nodejs-client/package.json" ] && [ -f "$NODE_STAMP" ] &&
  [ "$(cat "$NODE_STAMP")" = "$NODE_WANT" ]; then
  log "node_modules up to date ($HERE/node_modules)"
else
  log "installing node packages (npm ci, node $NODE_VERSION)"
  rm -f "$NODE_STAMP"
  # The client ships its compiled lib/; its install script only rebuilds a missing one.
  (cd "$HERE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null)
  printf '%s\n' "$NODE_WANT" >"$NODE_STAMP"
fi
