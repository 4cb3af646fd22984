#!/usr/bin/env bash
# Installs, builds and runs ProPsy on the quickstart manifests: two zones
# (dir: sources), small backends that answer with their own name, and a real
# Envoy that gets everything from ProPsy over ADS. Prints requests through
# Envoy, then keeps running until Ctrl-C. Edit the manifests under the printed
# run directory while it runs: ProPsy applies changes live.
# PROPSY_QUICKSTART_ONESHOT=1 exits after the requests (used by the tests).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# PROPSY_BINARY: use an already built propsy (the tests do) instead of
# installing and building.
propsy="${PROPSY_BINARY:-}"
if [ -z "$propsy" ]; then
  "$root/scripts/install-deps.sh"
  cmake -S "$root" -B "$root/build" -G Ninja >/dev/null
  ninja -C "$root/build" propsy
  propsy="$root/build/src/main/propsy"
fi

# Envoy (and Go when the system's is too old) as scripts/install-deps.sh
# installs them.
export PATH="${PROPSY_CACHE:-$HOME/.cache/propsy}/bin:$PATH"
run="$(mktemp -d /tmp/propsy-quickstart.XXXXXX)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# Manifests are copied so the live copies can be edited freely.
cp -r "$here/zone-a" "$here/zone-b" "$run/"
# The HTTPS listener's certificate, generated now, as a kubernetes.io/tls Secret.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=quickstart.local" -addext "subjectAltName=DNS:quickstart.local" \
  -keyout "$run/tls.key" -out "$run/tls.crt" 2>/dev/null
{
  echo "apiVersion: v1"
  echo "kind: Secret"
  echo "metadata: { name: web-tls, namespace: shop }"
  echo "type: kubernetes.io/tls"
  echo "stringData:"
  echo "  tls.crt: |"; sed 's/^/    /' "$run/tls.crt"
  echo "  tls.key: |"; sed 's/^/    /' "$run/tls.key"
} >"$run/zone-a/tls.yaml"

python3 "$here/backends.py" http:web-a@127.0.0.11:8080 http:web-canary-a@127.0.0.12:8080 \
  http:api-a@127.0.0.13:8080 tcp:db-a@127.0.0.14:9000 http:web-b@127.0.0.21:8080 \
  >"$run/backends.log" 2>&1 &
pids+=($!)

"$propsy" -listen 127.0.0.1:18000 -listenhealth 127.0.0.1:18001 -zone zone-a \
  -configcluster "dir:$run/zone-a:zone-a" -configcluster "dir:$run/zone-b:zone-b" \
  -endpointcluster "dir:$run/zone-a:zone-a:0" -endpointcluster "dir:$run/zone-b:zone-b:1" \
  >"$run/propsy.log" 2>&1 &
pids+=($!)
envoy -c "$here/envoy.yaml" --base-id "$$" -l warning >"$run/envoy.log" 2>&1 &
pids+=($!)

fail() {
  echo "quickstart: $1; logs in $run" >&2
  tail -n 20 "$run/propsy.log" "$run/envoy.log" "$run/backends.log" >&2
  exit 1
}
for _ in $(seq 1 150); do
  if body=$(curl -sf http://127.0.0.1:10080/ 2>/dev/null); then break; fi
  sleep 0.2
done
[ -n "${body:-}" ] || fail "no answer through Envoy"

show() { echo "\$ $*"; "$@"; echo; }
echo
show curl -s http://127.0.0.1:10080/hello
show curl -s http://127.0.0.1:10080/api/users
show curl -sk --resolve quickstart.local:10443:127.0.0.1 https://quickstart.local:10443/
echo "\$ echo ping | nc 127.0.0.1 15432   (TCP proxy; the backend greets, then echoes)"
python3 - <<'PY'
import socket
s = socket.create_connection(("127.0.0.1", 15432), timeout=5)
s.sendall(b"ping\n")
data = b""
while data.count(b"\n") < 2:
    chunk = s.recv(100)
    if not chunk:
        break
    data += chunk
print(data.decode(), end="")
PY
echo
echo "200 requests to http://127.0.0.1:10080/ (weights: web-a 80, web-b 20, web-canary-a 10):"
for _ in $(seq 1 200); do curl -s http://127.0.0.1:10080/ | cut -d: -f1; done | sort | uniq -c
echo
echo "ProPsy admin:  curl -s 127.0.0.1:18001/debug/config_dump?node=edge-1 | less"
echo "               curl -s 127.0.0.1:18001/debug/services ; curl -s 127.0.0.1:18001/metrics"
echo "Envoy admin:   curl -s 127.0.0.1:19901/config_dump | less"
echo "Manifests (edit live): $run/zone-a $run/zone-b    Logs: $run"
if [ -n "${PROPSY_QUICKSTART_ONESHOT:-}" ]; then exit 0; fi
echo "Ctrl-C stops everything."
wait
