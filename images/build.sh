#!/usr/bin/env bash
# Builds the test images (busybox, pause, nginx, testapp) offline and pushes them to
# the local registry that containerd mirrors every registry to. Needs
# scripts/node-setup.sh (packages) and a running registry (scripts/node-services.sh
# start). Fast when nothing changed: cargo and the registry skip what they have.
#
#   images/build.sh [--only busybox|pause|nginx|testapp ...]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
target=x86_64-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-$root/target}

# pause and testapp: static binaries, so their images need no libraries.
# (With --target, these RUSTFLAGS reach only the target's crates, not build scripts.)
(cd "$root" && RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --release --target "$target" -p rkube-pause -p rkube-testapp)
bin=$target_dir/$target/release
mkdir -p "$target_dir/images"
for b in pause testapp; do
  if [ ! -f "$target_dir/images/$b" ] || [ "$bin/$b" -nt "$target_dir/images/$b" ]; then
    strip -o "$target_dir/images/$b" "$bin/$b"
  fi
  if readelf -l "$target_dir/images/$b" | grep -q "INTERP"; then
    echo "images: $b is not static" >&2
    exit 1
  fi
done

exec python3 "$here/build.py" --pause "$target_dir/images/pause" --testapp "$target_dir/images/testapp" "$@"
