#!/usr/bin/env bash
# start-clusters.sh N WORKDIR: starts N independent Kubernetes API servers on
# 127.0.0.1, each with its own etcd, certificates and admin token, waits until
# every /readyz answers "ok", and writes WORKDIR/cluster-<i>/kubeconfig.
# Builds the binaries first when they are not cached (see build.sh).
#
# Each cluster gets its own etcd rather than a prefix in a shared one: clusters
# then fail, compact and restart independently, with revisions of their own,
# as real clusters do.
#
# Environment:
#   KUBE_ENV_READY_TIMEOUT    seconds to wait for each server (default 180)
#   KUBE_ENV_WATCH_CACHE      kube-apiserver --watch-cache (default true; false
#                             serves watches from etcd, so compaction → 410)
#   KUBE_ENV_APISERVER_FLAGS  extra kube-apiserver flags, whitespace separated
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

[ $# -eq 2 ] || kube_env_die "usage: start-clusters.sh N WORKDIR"
count="$1"
[[ "$count" =~ ^[1-9][0-9]*$ ]] || kube_env_die "N must be a positive integer, got '$count'"
mkdir -p "$2"
workdir="$(cd "$2" && pwd)"
if compgen -G "$workdir/cluster-*" >/dev/null; then
  kube_env_die "$workdir already holds clusters: stop-clusters.sh it and use a fresh directory"
fi

BIN_DIR="$("$here/build.sh" | tail -n 1)"
if [ ! -x "$BIN_DIR/kube-apiserver" ] || [ ! -x "$BIN_DIR/etcd" ]; then
  kube_env_die "build.sh gave no binaries"
fi
echo "BIN_DIR=$BIN_DIR" >"$workdir/bin.env"
echo "$count" >"$workdir/clusters"

started=0
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$started" -eq 1 ]; then
    echo "kube-env: start failed; stopping what was started" >&2
    "$here/stop-clusters.sh" "$workdir" || true
  fi
}
trap cleanup EXIT

# make_pki DIR I: a CA, the serving certificate, an admin client certificate
# and the service-account key pair. EC P-256 keeps generation fast.
make_pki() {
  local pki="$1/pki" i="$2"
  mkdir -p "$pki"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 3650 \
    -subj "/CN=propsy-test-ca-$i" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  cat >"$pki/serving.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1
EOF
  cat >"$pki/client.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EOF
  local name subj
  for name in apiserver admin; do
    subj="/CN=kube-apiserver"
    [ "$name" = admin ] && subj="/O=system:masters/CN=propsy-admin"
    openssl req -new "${ec[@]}" -keyout "$pki/$name.key" -out "$pki/$name.csr" \
      -subj "$subj" 2>/dev/null
    local ext="$pki/serving.ext"
    [ "$name" = admin ] && ext="$pki/client.ext"
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile "$ext" \
      -out "$pki/$name.crt" 2>/dev/null
  done
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

# write_args DIR I: ports.env, tokens and both command lines of cluster I.
write_args() {
  local dir="$1" i="$2" pki="$1/pki" token
  local -a ports
  mapfile -t ports < <(free_ports 3)
  cat >"$dir/ports.env" <<EOF
ETCD_CLIENT_PORT=${ports[0]}
ETCD_PEER_PORT=${ports[1]}
APISERVER_PORT=${ports[2]}
EOF
  token="$(openssl rand -hex 24)"
  echo "$token" >"$dir/token"
  echo "$token,propsy-admin,propsy-admin-uid,\"system:masters\"" >"$dir/tokens.csv"
  chmod 600 "$dir/token" "$dir/tokens.csv"

  local etcd_url="http://127.0.0.1:${ports[0]}" peer_url="http://127.0.0.1:${ports[1]}"
  printf '%s\n' \
    "--name=cluster-$i" \
    "--data-dir=$dir/etcd-data" \
    "--listen-client-urls=$etcd_url" \
    "--advertise-client-urls=$etcd_url" \
    "--listen-peer-urls=$peer_url" \
    "--initial-advertise-peer-urls=$peer_url" \
    "--initial-cluster=cluster-$i=$peer_url" \
    "--initial-cluster-state=new" \
    "--unsafe-no-fsync=true" >"$dir/etcd.args"

  local -a extra=()
  if [ -n "${KUBE_ENV_APISERVER_FLAGS:-}" ]; then
    read -r -a extra <<<"$KUBE_ENV_APISERVER_FLAGS"
  fi
  printf '%s\n' \
    "--etcd-servers=$etcd_url" \
    "--bind-address=127.0.0.1" \
    "--advertise-address=127.0.0.1" \
    "--secure-port=${ports[2]}" \
    "--cert-dir=$pki" \
    "--tls-cert-file=$pki/apiserver.crt" \
    "--tls-private-key-file=$pki/apiserver.key" \
    "--client-ca-file=$pki/ca.crt" \
    "--token-auth-file=$dir/tokens.csv" \
    "--authorization-mode=RBAC" \
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local" \
    "--service-account-key-file=$pki/sa.pub" \
    "--service-account-signing-key-file=$pki/sa.key" \
    "--service-cluster-ip-range=10.0.0.0/24" \
    "--disable-admission-plugins=ServiceAccount" \
    "--allow-privileged=true" \
    "--profiling=false" \
    "--watch-cache=${KUBE_ENV_WATCH_CACHE:-true}" \
    "${extra[@]}" >"$dir/apiserver.args"
}

# write_kubeconfigs DIR I: bearer-token and client-certificate kubeconfigs.
write_kubeconfigs() {
  local dir="$1" i="$2" ca_data user_block kind
  # shellcheck source=/dev/null
  . "$dir/ports.env"
  ca_data="$(base64 -w0 <"$dir/pki/ca.crt")"
  for kind in token clientcert; do
    if [ "$kind" = token ]; then
      user_block="    token: $(cat "$dir/token")"
    else
      user_block="    client-certificate-data: $(base64 -w0 <"$dir/pki/admin.crt")
    client-key-data: $(base64 -w0 <"$dir/pki/admin.key")"
    fi
    local file="$dir/kubeconfig"
    [ "$kind" = clientcert ] && file="$dir/kubeconfig-clientcert"
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: cluster-$i
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $ca_data
users:
- name: propsy-admin
  user:
$user_block
contexts:
- name: cluster-$i
  context:
    cluster: cluster-$i
    user: propsy-admin
current-context: cluster-$i
EOF
    chmod 600 "$file"
  done
}

start=$SECONDS
for i in $(seq 1 "$count"); do
  dir="$workdir/cluster-$i"
  mkdir -p "$dir/logs" "$dir/pids"
  make_pki "$dir" "$i"
  write_args "$dir" "$i"
done

started=1
for i in $(seq 1 "$count"); do start_from_args "$workdir/cluster-$i" etcd; done
for i in $(seq 1 "$count"); do wait_etcd "$workdir/cluster-$i"; done
for i in $(seq 1 "$count"); do start_from_args "$workdir/cluster-$i" kube-apiserver; done
for i in $(seq 1 "$count"); do wait_apiserver "$workdir/cluster-$i"; done
for i in $(seq 1 "$count"); do write_kubeconfigs "$workdir/cluster-$i" "$i"; done

echo "kube-env: $count cluster(s) ready in $((SECONDS - start)) s under $workdir" >&2
for i in $(seq 1 "$count"); do echo "$workdir/cluster-$i/kubeconfig"; done
