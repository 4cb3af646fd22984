#!/usr/bin/env bash
# stop-apiserver.sh WORKDIR I: stops the kube-apiserver of cluster I, keeping
# its etcd, for outage tests. Idempotent. start-apiserver.sh brings it back.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -eq 2 ] || kube_env_die "usage: stop-apiserver.sh WORKDIR I"
dir="$(cluster_dir "$1" "$2")"
stop_pidfile "$dir/pids/kube-apiserver.pid"
