#!/usr/bin/env bash
# smoke.sh: end-to-end check of the Kubernetes test environment. Builds the
# binaries (cached), starts two clusters in a temporary directory and, with
# kubectl, checks readiness, a CustomResourceDefinition and an object of it,
# an EndpointSlice, client-certificate auth, that the clusters are independent,
# an API server outage and restart, and etcd compaction (410 Gone). Stops
# everything on exit; exits non-zero on any failure.
#
# KUBE_ENV_KEEP=1 keeps the temporary directory (logs) afterwards.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v kubectl >/dev/null || { echo "smoke: kubectl is not installed" >&2; exit 1; }

start=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/propsy-kube-env.XXXXXX")"
cleanup() {
  local rc=$?
  "$here/stop-clusters.sh" "$work" || rc=1
  if [ -n "${KUBE_ENV_KEEP:-}" ]; then
    echo "smoke: kept $work" >&2
  else
    rm -rf "$work"
  fi
  if [ "$rc" -eq 0 ]; then
    echo "smoke: PASS in $((SECONDS - start)) s"
  else
    echo "smoke: FAIL (exit $rc) after $((SECONDS - start)) s" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT

fail() {
  echo "smoke: $*" >&2
  exit 1
}

# kc I ARGS...: kubectl against cluster I with a bounded request time.
kc() {
  local i="$1"
  shift
  kubectl --kubeconfig "$work/cluster-$i/kubeconfig" --request-timeout=20s "$@"
}

# expect_eq WHAT GOT WANT
expect_eq() {
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
  echo "smoke: ok: $1 = $3"
}

"$here/start-clusters.sh" 2 "$work" >/dev/null
echo "smoke: clusters up after $((SECONDS - start)) s"

crd='apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.propsy.test
spec:
  group: smoke.propsy.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}'

for i in 1 2; do
  expect_eq "cluster $i /readyz" "$(kc "$i" get --raw /readyz)" ok
  kc "$i" create namespace smoke >/dev/null
  kc "$i" apply -f - <<<"$crd" >/dev/null
  kc "$i" wait --for condition=established --timeout=60s crd/widgets.smoke.propsy.test >/dev/null
  # A different size per cluster shows that each reads back its own store.
  kc "$i" apply -f - >/dev/null <<EOF
apiVersion: smoke.propsy.test/v1
kind: Widget
metadata: {name: w1, namespace: smoke}
spec: {size: $((i * 10))}
EOF
  expect_eq "cluster $i widget size" \
    "$(kc "$i" -n smoke get wdg w1 -o jsonpath='{.spec.size}')" "$((i * 10))"
  # Addresses are data only (nothing connects to them). The API server rejects
  # loopback, link-local and unspecified addresses in EndpointSlices, so the
  # documentation range TEST-NET-1 (192.0.2.0/24) stands in.
  kc "$i" apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-$i
  namespace: smoke
  labels: {kubernetes.io/service-name: echo}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: ["192.0.2.$((i + 10))"]
  conditions: {ready: true}
EOF
  expect_eq "cluster $i endpointslices of echo" \
    "$(kc "$i" -n smoke get endpointslices -l kubernetes.io/service-name=echo \
      -o jsonpath='{.items[*].endpoints[*].addresses[0]}')" "192.0.2.$((i + 10))"
done

# The schema is enforced, so the CRD is structural and served for real.
if kc 1 -n smoke apply -f - >/dev/null 2>&1 <<'EOF'
apiVersion: smoke.propsy.test/v1
kind: Widget
metadata: {name: bad, namespace: smoke}
spec: {size: 0}
EOF
then fail "a widget of size 0 was accepted"; fi
echo "smoke: ok: schema rejects size 0"

expect_eq "client certificate auth" \
  "$(kubectl --kubeconfig "$work/cluster-1/kubeconfig-clientcert" --request-timeout=20s \
    -n smoke get wdg w1 -o jsonpath='{.spec.size}')" 10

# Outage of one API server: the other keeps serving, the data survives.
"$here/stop-apiserver.sh" "$work" 1
if kc 1 get --raw /readyz >/dev/null 2>&1; then fail "cluster 1 answers while stopped"; fi
expect_eq "cluster 2 /readyz during the outage of 1" "$(kc 2 get --raw /readyz)" ok
"$here/start-apiserver.sh" "$work" 1
expect_eq "cluster 1 widget after restart" \
  "$(kc 1 -n smoke get wdg w1 -o jsonpath='{.spec.size}')" 10

# Compaction: a continue token from before it is answered 410 Gone (Expired).
for n in a b c; do kc 2 -n smoke create configmap "cm-$n" >/dev/null; done
token="$(kc 2 get --raw '/api/v1/namespaces/smoke/configmaps?limit=1' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["continue"])')"
[ -n "$token" ] || fail "no continue token from a list with limit=1"
kc 2 -n smoke create configmap cm-d >/dev/null
revision="$("$here/compact-etcd.sh" "$work" 2)"
echo "smoke: compacted cluster 2 at revision $revision"
if out="$(kc 2 get --raw "/api/v1/namespaces/smoke/configmaps?limit=1&continue=$token" 2>&1)"; then
  fail "continue token still valid after compaction: $out"
fi
grep -q Expired <<<"$out" || fail "expected Expired (410) after compaction, got: $out"
echo "smoke: ok: 410 Expired after compaction"
