#!/usr/bin/env bash
# start-apiserver.sh WORKDIR I: starts the kube-apiserver of cluster I again,
# with the same port, flags and certificates, and waits for /readyz. Its etcd
# must be running (stop-apiserver.sh keeps it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -eq 2 ] || kube_env_die "usage: start-apiserver.sh WORKDIR I"
dir="$(cluster_dir "$1" "$2")"
load_bin_dir "$1"
pid_alive "$dir/pids/etcd.pid" || kube_env_die "etcd of cluster $2 is not running"
start_from_args "$dir" kube-apiserver
if ! wait_apiserver "$dir"; then
  stop_pidfile "$dir/pids/kube-apiserver.pid"
  exit 1
fi
