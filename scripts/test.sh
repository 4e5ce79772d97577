#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests, the store conformance suite
# (with a real etcd), and the end-to-end tests (real kubectl, Python and kube-rs clients).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Incremental caches only cost disk in a one-shot run.
export CARGO_INCREMENTAL=0
trap 'du -sh target 2>/dev/null | sed "s/^/target dir size: /"' EXIT
df -h . | tail -1 | awk '{print "disk free before build: " $4}'
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build -p rkube
cargo test --workspace --no-fail-fast
