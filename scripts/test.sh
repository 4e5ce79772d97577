#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests, the store conformance suite
# (with a real etcd), the CRI client against a real containerd, and the end-to-end
# tests (real kubectl, Python and kube-rs clients).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Incremental caches only cost disk in a one-shot run.
export CARGO_INCREMENTAL=0
cargo fmt --all -- --check
# The services the real-container tests need: the local image registry and
# containerd, stopped (by PID) when this script ends; then the test images.
# Services that already ran before this script (a developer's) are left running.
if scripts/node-services.sh status >/dev/null 2>&1; then started_here=0; else started_here=1; fi
scripts/node-services.sh start
trap 'if [ "$started_here" = 1 ]; then scripts/node-services.sh stop || true; fi; du -sh target 2>/dev/null | sed "s/^/target dir size: /"' EXIT
images/build.sh
df -h . | tail -1 | awk '{print "disk free before build: " $4}'
cargo clippy --workspace --all-targets -- -D warnings
cargo build -p rkube
# A hung test must fail the run, not stall it: every kubectl call in the
# end-to-end tests is killed after RKUBE_TEST_KUBECTL_LIMIT seconds, and the
# whole test step after RKUBE_TEST_LIMIT seconds.
timeout --kill-after=30 "${RKUBE_TEST_LIMIT:-2700}" cargo test --workspace --no-fail-fast
