#!/usr/bin/env bash
# Installs, builds and runs the xDS demo: the ProPsy xDS server serving
# resources.json over ADS to a real Envoy, which proxies to a small backend.
# Prints a request through Envoy, then keeps running until Ctrl-C. Edit
# resources.json while it runs and Envoy picks the change up.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja >/dev/null
ninja -C "$root/build" static_xds_server

run="$(mktemp -d)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

mkdir -p "$run/www" && echo "hello from backend-a" > "$run/www/index.html"
python3 -m http.server 18080 --bind 127.0.0.1 --directory "$run/www" >"$run/backend.log" 2>&1 &
pids+=($!)
"$root/build/examples/xds-demo/static_xds_server" 127.0.0.1:18000 demo-envoy "$here/resources.json" \
  >"$run/xds.log" 2>&1 &
pids+=($!)
envoy -c "$here/envoy.yaml" --base-id "$$" -l warning >"$run/envoy.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 100); do
  if body=$(curl -sf http://127.0.0.1:10000/ 2>/dev/null); then break; fi
  sleep 0.2
done
if [ -z "${body:-}" ]; then
  echo "demo: no answer through Envoy; logs in $run" >&2
  tail -n 20 "$run/xds.log" "$run/envoy.log" >&2
  exit 1
fi
echo
echo "$ curl http://127.0.0.1:10000/"
echo "$body"
echo
echo "Envoy got its listener, route, cluster and endpoints from ProPsy over ADS."
echo "Try: curl -s 127.0.0.1:19901/config_dump | less    (Envoy's view)"
echo "     $HOME/.cache/propsy/bin/grpcurl -plaintext -d '{\"node\":{\"id\":\"demo-envoy\"}}' \\"
echo "       127.0.0.1:18000 envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus"
echo "Logs: $run. Ctrl-C stops everything."
if [ -n "${PROPSY_DEMO_ONESHOT:-}" ]; then exit 0; fi
wait
