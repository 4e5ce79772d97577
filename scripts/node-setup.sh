#!/usr/bin/env bash
# Installs and configures a node's container runtime from Debian: containerd + runc,
# the CNI plugins, a local image registry (docker-registry) that containerd uses as
# the mirror of every public registry, and what images/build.sh packs into images.
# Run as root; safe to run again (it rewrites only what changed).
#
# Paths (override with the environment; scripts/node-services.sh reads the same):
#   RKUBE_NODE_ETC    /etc/rkube-node      containerd.toml, certs.d/, registry.yml
#   RKUBE_NODE_DATA   /var/lib/rkube-node  containerd/ (root), registry/ (storage), log/
#   RKUBE_NODE_RUN    /run/rkube-node      containerd/ (state), *.pid
#   RKUBE_CONTAINERD_SOCKET  /run/containerd/containerd.sock
#   RKUBE_CNI_CONF_DIR       /etc/cni/net.d   (the agent writes its network there)
#   RKUBE_REGISTRY_ADDR      127.0.0.1:5000
set -euo pipefail

ETC=${RKUBE_NODE_ETC:-/etc/rkube-node}
CNI_CONF_DIR=${RKUBE_CNI_CONF_DIR:-/etc/cni/net.d}
REGISTRY=${RKUBE_REGISTRY_ADDR:-127.0.0.1:5000}
DATA=${RKUBE_NODE_DATA:-/var/lib/rkube-node}
# The tag of the pause image images/build.sh pushes (kubelet 1.33's default).
PAUSE_IMAGE=registry.k8s.io/pause:3.10
# Every registry an image name may point at is served by the local registry, so
# nothing is ever fetched from outside the machine.
MIRRORED=(docker.io registry-1.docker.io registry.k8s.io k8s.gcr.io gcr.io quay.io ghcr.io mcr.microsoft.com public.ecr.aws)

if [ "$(id -u)" != 0 ]; then
  echo "node-setup: run as root" >&2
  exit 1
fi

packages=(containerd runc containernetworking-plugins docker-registry busybox-static nginx-light
          iptables curl ca-certificates python3 binutils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "node-setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's service scripts do not start the daemons here (no init system);
  # scripts/node-services.sh runs them with our configuration.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Writes stdin to $1 unless the file already has exactly that content.
put() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
  else
    mkdir -p "$(dirname "$1")"
    install -m 0644 "$tmp" "$1"
    rm -f "$tmp"
    echo "node-setup: wrote $1"
  fi
}

mkdir -p "$ETC" "$CNI_CONF_DIR" "$DATA"

put "$ETC/containerd.toml" <<TOML
# containerd for rkube (written by scripts/node-setup.sh; root, state and socket
# are passed on the command line by scripts/node-services.sh).
version = 2
oom_score = 0
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  max_recv_message_size = 16777216
  max_send_message_size = 16777216

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root here lacks CAP_SYS_RESOURCE: without this runc cannot lower
  # oom_score_adj and every sandbox fails.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # cgroup v1 (hybrid) without systemd: the cgroupfs driver.
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CNI_CONF_DIR"

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$ETC/certs.d"
TOML

# containerd 1.6 rejects a hosts.toml without a [host] table; "server" replaces
# the upstream host, so a pull never leaves the machine.
for host in "${MIRRORED[@]}" _default; do
  put "$ETC/certs.d/$host/hosts.toml" <<TOML
server = "http://$REGISTRY"

[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
TOML
done

put "$ETC/registry.yml" <<YAML
# The local image registry (docker-registry) that containerd pulls every image from.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DATA/registry
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY
  headers:
    X-Content-Type-Options: [nosniff]
YAML

echo "node-setup: ok (start the services with scripts/node-services.sh start; images with images/build.sh)"
