#!/usr/bin/env bash
# stop-clusters.sh WORKDIR: stops every kube-apiserver and etcd that
# start-clusters.sh started in WORKDIR (via the pid files). Idempotent: a
# stopped cluster or a missing directory is not an error. Data and logs stay.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -eq 1 ] || kube_env_die "usage: stop-clusters.sh WORKDIR"
[ -d "$1" ] || exit 0
shopt -s nullglob
# API servers first, so none logs a storm of etcd errors while stopping.
for dir in "$1"/cluster-*/; do stop_pidfile "${dir}pids/kube-apiserver.pid"; done
for dir in "$1"/cluster-*/; do stop_pidfile "${dir}pids/etcd.pid"; done
