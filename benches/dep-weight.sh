#!/bin/sh
# What vidmock weighs as a dev-dependency, beside wiremock-rs: two scratch crates, one whose
# dev-dependencies are vidmock (this checkout, default features) and tokio, one with wiremock
# 0.6 and tokio, each with one `#[tokio::test]`. Each is built from cold (`cargo test
# --no-run`, a target directory of its own, no compiler cache), one after the other, and the
# script prints the packages in each Cargo.lock and the build times side by side, with the
# ratios and the targets (reported, not asserted).
#
#   benches/dep-weight.sh            # from the checkout's root, or from anywhere
#   KEEP=1 benches/dep-weight.sh     # keep the scratch crates and their target directories
#
# Both lock files start from this checkout's Cargo.lock, so both resolve to the versions the
# checkout is tested with (Cargo drops what a crate does not use and adds what is missing).
# Everything is taken from Cargo's local registry cache when it is there (`--offline`); the
# network is used only when something is missing from it.
#
# Targets: at most 130 packages for the vidmock crate; its cold build at most 1.3x the
# wiremock crate's.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/vidmock-dep-weight.XXXXXX")
if [ "${KEEP:-}" = 1 ]; then
    echo "scratch crates kept in $work" >&2
else
    trap 'rm -rf "$work"' EXIT
fi
# A cold build means no compiler cache either.
unset RUSTC_WRAPPER CARGO_BUILD_RUSTC_WRAPPER CARGO_TARGET_DIR

tokio='tokio = { version = "1", features = ["macros", "rt"] }'

# scratch NAME DEPENDENCY_LINE TEST_BODY
scratch() {
    dir="$work/$1"
    mkdir -p "$dir/src" "$dir/tests"
    cat >"$dir/Cargo.toml" <<EOF
[package]
name = "dep-weight-$1"
version = "0.0.0"
edition = "2021"
publish = false

[dev-dependencies]
$2
$tokio

[workspace]
EOF
    : >"$dir/src/lib.rs"
    cat >"$dir/tests/starts.rs" <<EOF
#[tokio::test]
async fn a_mock_server_starts() {
$3
}
EOF
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
}

scratch vidmock "vidmock = { path = \"$root\" }" \
    '    let server = vidmock::MockServer::start().await;
    assert!(server.uri().starts_with("http://"));'
scratch wiremock 'wiremock = "0.6"' \
    '    let server = wiremock::MockServer::start().await;
    assert!(server.uri().starts_with("http://"));'

now() { date +%s.%N; }

# build NAME: resolves, fetches (offline when the cache has everything), builds from cold;
# sets packages_NAME and seconds_NAME.
build() {
    dir="$work/$1"
    offline=--offline
    if ! (cd "$dir" && cargo fetch --offline --quiet) 2>/dev/null; then
        echo "$1: fetching what the local registry cache lacks" >&2
        (cd "$dir" && cargo fetch --quiet)
        offline=
    fi
    packages=$(grep -c '^name = ' "$dir/Cargo.lock")
    echo "$1: cargo test --no-run from cold ($packages packages)..." >&2
    start=$(now)
    (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo test --no-run --quiet $offline)
    end=$(now)
    seconds=$(echo "$start $end" | awk '{ printf "%.1f", $2 - $1 }')
    eval "packages_$1=\$packages seconds_$1=\$seconds"
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a); $(rustc --version)" >&2
build wiremock
build vidmock
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)

awk -v vp="$packages_vidmock" -v wp="$packages_wiremock" \
    -v vs="$seconds_vidmock" -v ws="$seconds_wiremock" -v load="$load_after" 'BEGIN {
    pr = vp / wp; sr = vs / ws
    printf "Dev-dependency weight: a test crate with the mock and tokio, cold `cargo test --no-run` (load average after: %s)\n\n", load
    printf "| crate | packages in Cargo.lock | cold build (s) |\n"
    printf "| :-- | --: | --: |\n"
    printf "| wiremock 0.6 + tokio | %d | %.1f |\n", wp, ws
    printf "| vidmock (default features) + tokio | %d | %.1f |\n", vp, vs
    printf "| ratio vidmock / wiremock | %.2fx | %.2fx |\n\n", pr, sr
    printf "| target | goal | measured | met |\n"
    printf "| :-- | --: | --: | :-: |\n"
    printf "| packages, vidmock crate | <= 130 | %d | %s |\n", vp, (vp <= 130 ? "yes" : "NO")
    printf "| cold build, vidmock vs wiremock | <= 1.3x | %.2fx | %s |\n", sr, (sr <= 1.3 ? "yes" : "NO")
}'
