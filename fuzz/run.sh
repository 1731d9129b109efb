#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time from the committed seeds.
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET]      (default 60)
#
# cargo-fuzz drives libFuzzer, which needs compiler flags only nightly accepts; on a stable
# toolchain RUSTC_BOOTSTRAP=1 lets it pass them. New inputs go to target/fuzz-corpus/, never into
# the committed seeds; a crash leaves its input under fuzz/artifacts/TARGET/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")"

SECONDS_PER_TARGET=${1:-60}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${VIDMOCK_FUZZ_TARGET_DIR:-$PWD/target}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --version 0.13.2 --locked
fi

cargo fuzz build -O
for target in $(cargo fuzz list); do
  corpus="$CARGO_TARGET_DIR/fuzz-corpus/$target"
  mkdir -p "$corpus"
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s"
  log="$CARGO_TARGET_DIR/fuzz-$target.log"
  status=0
  cargo fuzz run -O "$target" "$corpus" "seeds/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY)|panicked at" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target failed; inputs under fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
echo "fuzz: every target ran ${SECONDS_PER_TARGET}s without a failure"
