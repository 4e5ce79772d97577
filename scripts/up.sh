#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running cluster:
# installs packages, builds rkube, and runs `rkube server` in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/node-services.sh start
images/build.sh
cargo build --release -p rkube
exec target/release/rkube server --data-dir "${RKUBE_DATA_DIR:-/var/lib/rkube}" "$@"
