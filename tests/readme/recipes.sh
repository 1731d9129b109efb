#!/usr/bin/env bash
# Runs every curl recipe of the README against a vidmock binary, and fails if one breaks.
#
#   bash tests/readme/recipes.sh target/debug/vidmock [README.md]
#
# A recipe is a fenced block opened with "```sh recipe". The blocks run in the README's order,
# in one bash shell with `set -euo pipefail` (they share the variables they set), in a scratch
# directory, against the binary started with `--port 0`: the README's address
# (127.0.0.1:8484, localhost:8484) is replaced by the one it listens on. A failing command names
# its recipe and the README line it starts on. Ends with the line `N passed, M failed`.
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 VIDMOCK_BINARY [README]" >&2
  exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINARY=$1
case "$BINARY" in /*) ;; *) BINARY="$PWD/$BINARY" ;; esac
README=${2:-$HERE/../../README.md}

fail() {
  echo "recipes: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}
for tool in curl jq; do
  command -v "$tool" >/dev/null || fail "$tool is needed to run the README's recipes (apt-get install -y $tool)"
done

WORK=$(mktemp -d)
MOCK_PID=
cleanup() {
  [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# The recipes, each preceded by a line naming it for the ERR trap.
awk '
  /^```sh recipe[[:space:]]*$/ { inside = 1; count++; printf "RECIPE=\"recipe %d (README line %d)\"\n", count, NR; next }
  inside && /^```[[:space:]]*$/ { inside = 0; printf "printf \"\\nok   %%s\\n\" \"$RECIPE\"; echo \"$RECIPE\" >>\"$RECIPES_DONE\"\n"; next }
  inside { print }
  END { if (inside) exit 3 }
' "$README" >"$WORK/recipes.body" || fail "a recipe block in $README is not closed"
COUNT=$(grep -c '^RECIPE=' "$WORK/recipes.body" || true)
[ "$COUNT" -gt 0 ] || fail "no \`\`\`sh recipe block in $README"

env -u VIDMOCK_APIVIDEO_KEY -u VIDMOCK_KALTURA_PARTNER -u VIDMOCK_ADMIN_TOKEN -u VIDMOCK_TLS \
  "$BINARY" --port 0 --quiet >"$WORK/vidmock.out" 2>"$WORK/vidmock.err" </dev/null &
MOCK_PID=$!
FIRST=
for _ in $(seq 1 100); do
  FIRST=$(head -n 1 "$WORK/vidmock.out")
  [ -n "$FIRST" ] && break
  sleep 0.1
done
[[ "$FIRST" =~ ^vidmock\ listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]] ||
  fail "vidmock did not start (first line: '$FIRST'): $(cat "$WORK/vidmock.err")"
PORT=${BASH_REMATCH[1]}

{
  echo 'set -euo pipefail'
  echo 'trap '"'"'echo "FAIL $RECIPE: the command on line $LINENO of the script failed" >&2'"'"' ERR'
  sed -e "s/127\.0\.0\.1:8484/127.0.0.1:$PORT/g" -e "s/localhost:8484/localhost:$PORT/g" "$WORK/recipes.body"
} >"$WORK/recipes.sh"

mkdir -p "$WORK/scratch"
: >"$WORK/done"
(cd "$WORK/scratch" && RECIPES_DONE="$WORK/done" bash "$WORK/recipes.sh")
CODE=$?
PASSED=$(grep -c '' "$WORK/done" || true)
if [ "$CODE" -eq 0 ] && [ "$PASSED" -eq "$COUNT" ]; then
  echo "$COUNT passed, 0 failed"
else
  echo "the recipes as run (with line numbers):" >&2
  cat -n "$WORK/recipes.sh" >&2
  echo "$PASSED passed, $((COUNT - PASSED)) failed"
  exit 1
fi
