#!/usr/bin/env bash
# compact-etcd.sh WORKDIR I: compacts the etcd of cluster I at its current
# revision, through etcd's v3 HTTP/JSON gateway, so that requests for older
# resource versions (continue tokens, exact-RV lists, and watches when the
# watch cache is off) get 410 Gone. Prints the revision compacted at.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -eq 2 ] || kube_env_die "usage: compact-etcd.sh WORKDIR I"
dir="$(cluster_dir "$1" "$2")"
# shellcheck source=/dev/null
. "$dir/ports.env"
base="http://127.0.0.1:$ETCD_CLIENT_PORT/v3"

# Any range answers with the store's current revision in its header; "AA==" is
# the key "\0", which never exists.
range="$(curl -fsS --max-time 10 -X POST "$base/kv/range" -d '{"key":"AA=="}')" \
  || kube_env_die "etcd of cluster $2 did not answer a range request"
revision="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])' <<<"$range")"
[[ "$revision" =~ ^[0-9]+$ ]] || kube_env_die "no revision in etcd's answer: $range"
curl -fsS --max-time 30 -X POST "$base/kv/compaction" \
  -d "{\"revision\":\"$revision\",\"physical\":true}" >/dev/null \
  || kube_env_die "etcd of cluster $2 refused compaction at revision $revision"
echo "$revision"
