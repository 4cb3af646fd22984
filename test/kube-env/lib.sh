# Shared functions of the kube-env scripts (sourced, never run).
#
# Layout of a work directory made by start-clusters.sh:
#   WORKDIR/bin.env                 BIN_DIR=... (binaries used by every cluster)
#   WORKDIR/clusters                number of clusters
#   WORKDIR/cluster-<i>/ports.env   ETCD_CLIENT_PORT, ETCD_PEER_PORT, APISERVER_PORT
#   WORKDIR/cluster-<i>/pki/        ca, serving cert, admin client cert, SA keys
#   WORKDIR/cluster-<i>/tokens.csv  static token file (admin in system:masters)
#   WORKDIR/cluster-<i>/token       the admin bearer token
#   WORKDIR/cluster-<i>/etcd.args, apiserver.args   command lines, one arg a line
#   WORKDIR/cluster-<i>/etcd-data/  etcd data directory
#   WORKDIR/cluster-<i>/pids/       etcd.pid, kube-apiserver.pid
#   WORKDIR/cluster-<i>/logs/       etcd.log, kube-apiserver.log
#   WORKDIR/cluster-<i>/kubeconfig  server, CA data, bearer token
#   WORKDIR/cluster-<i>/kubeconfig-clientcert  same server, client cert auth
# shellcheck shell=bash

# Seconds to wait for an API server's /readyz (and etcd's /health).
KUBE_ENV_READY_TIMEOUT="${KUBE_ENV_READY_TIMEOUT:-180}"
# Seconds to wait for a process to exit after SIGTERM before SIGKILL.
KUBE_ENV_STOP_TIMEOUT="${KUBE_ENV_STOP_TIMEOUT:-20}"

kube_env_die() {
  echo "kube-env: $*" >&2
  exit 1
}

# cluster_dir WORKDIR I: the directory of cluster I, which must exist.
cluster_dir() {
  local dir="$1/cluster-$2"
  [ -d "$dir" ] || kube_env_die "no cluster $2 in $1"
  echo "$dir"
}

# free_ports N: prints N distinct free TCP ports on 127.0.0.1, one a line.
# All sockets stay bound until every port is chosen, so none repeats.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
    s.close()
EOF
}

# pid_alive PIDFILE: true when the file names a running process.
pid_alive() {
  local pid
  [ -f "$1" ] || return 1
  pid="$(cat "$1")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# stop_pidfile PIDFILE: SIGTERM, bounded wait, then SIGKILL; removes the file.
# Idempotent: a missing file or a dead process is fine.
stop_pidfile() {
  local file="$1" pid deadline
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + KUBE_ENV_STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "kube-env: pid $pid ignored SIGTERM for ${KUBE_ENV_STOP_TIMEOUT}s; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 5))
      while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    fi
  fi
  rm -f "$file"
}

# start_from_args DIR NAME: starts BIN_DIR/NAME with the arguments in
# DIR/NAME.args (for kube-apiserver: DIR/apiserver.args) in the background,
# output to DIR/logs/NAME.log, pid to DIR/pids/NAME.pid.
start_from_args() {
  local dir="$1" name="$2" args_file
  case "$name" in
    kube-apiserver) args_file="$dir/apiserver.args" ;;
    *) args_file="$dir/$name.args" ;;
  esac
  local -a args
  mapfile -t args <"$args_file"
  mkdir -p "$dir/logs" "$dir/pids"
  if pid_alive "$dir/pids/$name.pid"; then
    kube_env_die "$name of $dir already runs (pid $(cat "$dir/pids/$name.pid"))"
  fi
  # A fresh log per start; the previous one is kept for post-mortems.
  if [ -f "$dir/logs/$name.log" ]; then mv -f "$dir/logs/$name.log" "$dir/logs/$name.log.prev"; fi
  "$BIN_DIR/$name" "${args[@]}" </dev/null >"$dir/logs/$name.log" 2>&1 &
  echo $! >"$dir/pids/$name.pid"
}

# fail_with_log DIR NAME MESSAGE: prints MESSAGE and the tail of NAME's log.
fail_with_log() {
  echo "kube-env: $3" >&2
  echo "---- last lines of $1/logs/$2.log ----" >&2
  tail -n 40 "$1/logs/$2.log" >&2 2>/dev/null || true
  echo "----" >&2
  return 1
}

# wait_etcd DIR: waits until the cluster's etcd reports itself healthy.
wait_etcd() {
  local dir="$1" deadline
  # shellcheck source=/dev/null
  . "$dir/ports.env"
  deadline=$((SECONDS + KUBE_ENV_READY_TIMEOUT))
  until curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" 2>/dev/null \
    | grep -q '"health":"true"'; do
    pid_alive "$dir/pids/etcd.pid" || { fail_with_log "$dir" etcd "etcd of $dir exited"; return 1; }
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail_with_log "$dir" etcd "etcd of $dir not healthy after ${KUBE_ENV_READY_TIMEOUT}s"
      return 1
    fi
    sleep 0.2
  done
}

# wait_apiserver DIR: waits until the cluster's /readyz answers "ok".
wait_apiserver() {
  local dir="$1" deadline token body
  # shellcheck source=/dev/null
  . "$dir/ports.env"
  token="$(cat "$dir/token")"
  deadline=$((SECONDS + KUBE_ENV_READY_TIMEOUT))
  while :; do
    body="$(curl -sS --max-time 5 --cacert "$dir/pki/ca.crt" \
      -H "Authorization: Bearer $token" \
      "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null || true)"
    [ "$body" = "ok" ] && return 0
    if ! pid_alive "$dir/pids/kube-apiserver.pid"; then
      fail_with_log "$dir" kube-apiserver "kube-apiserver of $dir exited"
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail_with_log "$dir" kube-apiserver \
        "kube-apiserver of $dir not ready after ${KUBE_ENV_READY_TIMEOUT}s (last /readyz: ${body:-no answer})"
      return 1
    fi
    sleep 0.5
  done
}

# load_bin_dir WORKDIR: sets BIN_DIR from WORKDIR/bin.env.
load_bin_dir() {
  [ -f "$1/bin.env" ] || kube_env_die "$1 was not made by start-clusters.sh (no bin.env)"
  # shellcheck source=/dev/null
  . "$1/bin.env"
  [ -x "$BIN_DIR/kube-apiserver" ] || kube_env_die "no kube-apiserver in $BIN_DIR"
}
