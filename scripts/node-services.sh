#!/usr/bin/env bash
# Starts, stops and reports the node's services: the local image registry
# (docker-registry on 127.0.0.1:5000) and containerd (CRI on
# /run/containerd/containerd.sock), as background processes with PID files.
# Configure the machine first with scripts/node-setup.sh (same environment
# variables). Run as root.
#
#   scripts/node-services.sh start    start what is not running; wait until both answer
#   scripts/node-services.sh stop     stop both by PID (containers and their shims keep running)
#   scripts/node-services.sh status   exit 0 when both run
set -euo pipefail

ETC=${RKUBE_NODE_ETC:-/etc/rkube-node}
DATA=${RKUBE_NODE_DATA:-/var/lib/rkube-node}
RUN=${RKUBE_NODE_RUN:-/run/rkube-node}
SOCKET=${RKUBE_CONTAINERD_SOCKET:-/run/containerd/containerd.sock}
REGISTRY=${RKUBE_REGISTRY_ADDR:-127.0.0.1:5000}
LOG=$DATA/log

# pid_of NAME: the PID in RUN/NAME.pid if that process still runs the program.
pid_of() {
  local pid
  pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$2" || return 1
  echo "$pid"
}

registry_answers() {
  curl -fsS --noproxy "*" -o /dev/null --max-time 2 "http://$REGISTRY/v2/" 2>/dev/null
}

containerd_answers() {
  [ -S "$SOCKET" ] && ctr --address "$SOCKET" --timeout 2s version >/dev/null 2>&1
}

# wait_for WHAT CHECK PID: polls CHECK for up to 30 s while PID lives.
wait_for() {
  local what=$1 check=$2 pid=$3
  for _ in $(seq 300); do
    if $check; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "node-services: $what exited; last lines of its log:" >&2
      tail -n 20 "$LOG/$what.log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  echo "node-services: $what did not answer within 30 s (log: $LOG/$what.log)" >&2
  return 1
}

start() {
  if [ ! -f "$ETC/containerd.toml" ] || [ ! -f "$ETC/registry.yml" ]; then
    echo "node-services: no configuration in $ETC; run scripts/node-setup.sh first" >&2
    exit 1
  fi
  mkdir -p "$RUN" "$LOG" "$DATA/registry" "$DATA/containerd" "$(dirname "$SOCKET")"

  local pid
  if pid=$(pid_of registry docker-registry); then
    echo "node-services: registry already runs (pid $pid)"
  elif registry_answers; then
    echo "node-services: something else already answers on $REGISTRY" >&2
    exit 1
  else
    env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY \
      setsid docker-registry serve "$ETC/registry.yml" </dev/null >>"$LOG/registry.log" 2>&1 &
    pid=$!
    echo "$pid" >"$RUN/registry.pid"
    wait_for registry registry_answers "$pid"
    echo "node-services: registry on http://$REGISTRY (pid $pid)"
  fi

  if pid=$(pid_of containerd "containerd --config"); then
    echo "node-services: containerd already runs (pid $pid)"
  elif containerd_answers; then
    echo "node-services: another containerd already answers on $SOCKET" >&2
    exit 1
  else
    env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY \
      setsid containerd --config "$ETC/containerd.toml" --root "$DATA/containerd" \
      --state "$RUN/containerd" --address "$SOCKET" </dev/null >>"$LOG/containerd.log" 2>&1 &
    pid=$!
    echo "$pid" >"$RUN/containerd.pid"
    wait_for containerd containerd_answers "$pid"
    echo "node-services: containerd on unix://$SOCKET (pid $pid)"
  fi
}

# stop_one NAME PATTERN: SIGTERM, then SIGKILL after 10 s.
stop_one() {
  local pid
  if ! pid=$(pid_of "$1" "$2"); then
    rm -f "$RUN/$1.pid"
    echo "node-services: $1 not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "node-services: $1 (pid $pid) ignored SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$1.pid"
  echo "node-services: stopped $1 (pid $pid)"
}

status() {
  local rc=0 pid
  if pid=$(pid_of registry docker-registry) && registry_answers; then
    echo "registry: running (pid $pid) on http://$REGISTRY"
  else
    echo "registry: not running"
    rc=1
  fi
  if pid=$(pid_of containerd "containerd --config") && containerd_answers; then
    echo "containerd: running (pid $pid) on unix://$SOCKET"
  else
    echo "containerd: not running"
    rc=1
  fi
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop)
    stop_one containerd "containerd --config"
    stop_one registry docker-registry
    ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
