#!/usr/bin/env bash
# Installs what rkube needs on a Debian 12 machine (run as root). Safe to run again.
set -euo pipefail

need=()
command -v protoc >/dev/null || need+=(protobuf-compiler)
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
command -v cc >/dev/null || need+=(build-essential)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3 python3-pip)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo (Rust stable) is required; install it with rustup" >&2
  exit 1
fi
if ! command -v kubectl >/dev/null; then
  echo "setup: note: kubectl is not installed; 'rkube kubectl' needs it" >&2
fi
# The Python Kubernetes client, used by the end-to-end tests.
if ! python3 -c 'import kubernetes' 2>/dev/null; then
  python3 -m pip install -q kubernetes >/dev/null 2>&1 || python3 -m pip install -q --break-system-packages kubernetes
fi

# The node's container runtime (containerd, runc, CNI plugins) and a local image
# registry, configured for offline images: see docs/node-setup.md.
"$(dirname "$0")/node-setup.sh"
