#!/usr/bin/env bash
# Runs ProPsy and a go-control-plane peer in turn under the same simulated
# Envoys (bench/xds_load) and prints one table: initial sync, update
# convergence, server CPU and peak RSS for each, and their ratio.
#
# The peer serves exactly what ProPsy served: xds_load dumps every node's
# resources from the ProPsy run (before and after the update), and the peer
# loads both dumps into its snapshot cache, so the two servers push the same
# bytes to the same nodes and only the serving machinery differs.
#
#   bench/compare.sh [--mode sotw|delta] [--source dir|kube] [--smoke] [--keep]
#                    [--nodes N] [--services S] [--endpoints E] [--clusters C]
#                    [--updates K] [--stuck N]
#
# Defaults: state-of-the-world, 5,000 nodes, 2,000 services, 50,000 endpoints
# over 3 clusters, 5 updates. --smoke is 50 nodes, 100 services, 2,000
# endpoints, 2 updates (scale options given as well still win).
#
# --source dir (the default) gives ProPsy the workload as dir: sources and
# updates by renaming a changed file into place. --source kube starts one
# real API server per endpoint cluster (test/kube-env; the ProPsyServices go
# to the first), loads the workload into them through the API
# (bench/kube_world.py), starts ProPsy on their kubeconfigs and changes one
# EndpointSlice per update with a merge patch through the API; the API
# servers are stopped before the peer runs. Before its timed updates it
# waits until ProPsy's status write-back after start-up is over (every
# ProPsyService's conditions written: `kube_world.py await-status`), so the
# update figures are the updates'; the table says how long that took.
#
# Each update moves one endpoint of the first service, each once the
# previous one settled; latencies of all are pooled, CPU and bytes are per
# update. The peer's updates switch between the two dumps (each a real
# change of the same size). --stuck N adds N streams that ask for every
# cluster and load assignment and never read (xds_load -stuck), to show what
# a hung Envoy costs the others. PROPSY_BINARY picks the ProPsy binary
# (default build/src/main/propsy). Logs and data go to a fresh run directory,
# removed at the end unless --keep or a step failed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }
die() { echo "compare: $*" >&2; exit 2; }

mode=sotw source=dir smoke=0 keep=0
nodes="" services="" endpoints="" clusters="" updates="" stuck=0
while [ $# -gt 0 ]; do
  opt="$1" value=""
  case "$opt" in
    --*=*) value="${opt#*=}" opt="${opt%%=*}" ;;
  esac
  case "$opt" in
    -h | --help) usage; exit 0 ;;
    --smoke) smoke=1; shift; continue ;;
    --keep) keep=1; shift; continue ;;
    --mode | --source | --nodes | --services | --endpoints | --clusters | --updates | --stuck)
      if [ -z "$value" ]; then
        [ $# -ge 2 ] || die "$opt needs a value"
        value="$2"; shift
      fi
      shift ;;
    *) die "unknown option '$opt' (see --help)" ;;
  esac
  case "$opt" in
    --mode)
      case "$value" in sotw | delta) mode="$value" ;; *) die "--mode must be sotw or delta, not '$value'" ;; esac ;;
    --source)
      case "$value" in dir | kube) source="$value" ;; *) die "--source must be dir or kube, not '$value'" ;; esac ;;
    --stuck)
      [[ "$value" =~ ^[0-9]+$ ]] || die "--stuck must be a whole number, not '$value'"
      stuck="$value" ;;
    *)
      [[ "$value" =~ ^[1-9][0-9]*$ ]] || die "$opt must be a positive integer, not '$value'"
      printf -v "${opt#--}" '%s' "$value" ;;
  esac
done
if [ "$smoke" = 1 ]; then
  nodes="${nodes:-50}" services="${services:-100}" endpoints="${endpoints:-2000}" updates="${updates:-2}"
fi
nodes="${nodes:-5000}" services="${services:-2000}" endpoints="${endpoints:-50000}" clusters="${clusters:-3}"
updates="${updates:-5}"

propsy="${PROPSY_BINARY:-$root/build/src/main/propsy}"
[ -x "$propsy" ] || die "ProPsy binary '$propsy' is not an executable file (set PROPSY_BINARY)"
for tool in go python3 curl $([ "$source" = kube ] && echo kubectl); do
  command -v "$tool" >/dev/null || die "'$tool' is required but not on PATH"
done

run="$(mktemp -d /tmp/propsy-compare.XXXXXX)"
echo "compare: run directory $run"
echo "compare: mode $mode, source $source, $nodes nodes, $services services, $endpoints endpoints over $clusters clusters, $updates updates$([ "$stuck" = 0 ] || echo ", $stuck streams that never read")"

server_pid="" server_log="" step_pid="" failed=0 kube_env=""
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
stop_kube() {
  [ -n "$kube_env" ] || return 0
  "$root/test/kube-env/stop-clusters.sh" "$kube_env" >/dev/null 2>&1 || true
  kube_env=""
}
cleanup() {
  if [ -n "$step_pid" ]; then
    # The step's whole process group: go build's compilers, update commands.
    kill -TERM -- "-$step_pid" 2>/dev/null || kill -TERM "$step_pid" 2>/dev/null || true
    wait "$step_pid" 2>/dev/null || true
  fi
  stop_server
  stop_kube
  if [ "$keep" = 0 ] && [ "$failed" = 0 ]; then rm -rf "$run"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fail STEP LOG...: names the failed step and shows the ends of its logs.
fail() {
  local step="$1"; shift
  failed=1
  echo "compare: step '$step' failed; run directory kept: $run" >&2
  local log
  for log in "$@"; do
    [ -s "$log" ] || continue
    echo "---- last lines of $log" >&2
    tail -n 30 "$log" >&2
  done
  exit 1
}

# step NAME LOG COMMAND...: runs one step with its output in LOG. It runs in
# the background of its own process group so that Ctrl-C or TERM interrupt
# the wait at once and the cleanup can end the step's processes.
step() {
  local name="$1" log="$2"; shift 2
  echo "compare: $name"
  setsid "$@" >"$log" 2>&1 &
  step_pid=$!
  if ! wait "$step_pid"; then
    step_pid=""
    fail "$name" "$log" ${server_log:+"$server_log"}
  fi
  step_pid=""
}

# wait_ready NAME URL: waits until URL answers 200 while the server lives.
wait_ready() {
  local name="$1" url="$2"
  # Start-up reads the whole workload (or both dumps): allow minutes at scale.
  for _ in $(seq 1 3000); do
    if curl -sf -o /dev/null "$url"; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || fail "start $name (it exited)" "$server_log"
    sleep 0.2
  done
  fail "start $name (not ready after 600 s)" "$server_log"
}

bin="$run/bin"
mkdir -p "$bin"
step "build xds_load" "$run/build.log" go build -C "$here" -o "$bin/xds_load" ./xds_load
step "build gcp" "$run/build-gcp.log" go build -C "$here" -o "$bin/gcp" ./peers/gcp

work="$run/work"
step "generate the workload" "$run/workload.log" \
  python3 "$here/workload.py" generate --out "$work" \
    --nodes "$nodes" --services "$services" --endpoints "$endpoints" --clusters "$clusters"
affected="$(python3 "$here/workload.py" affected --dir "$work" 2>>"$run/workload.log" | tail -n 1)" ||
  fail "count the nodes the update affects" "$run/workload.log"
[[ "$affected" =~ ^[0-9]+$ ]] || fail "count the nodes the update affects (got '$affected')" "$run/workload.log"

load_args=(-nodes "$nodes" -mode "$mode" -updates "$updates" -stuck "$stuck")
update_cmd="python3 $(printf %q "$here/workload.py") update --dir $(printf %q "$work") --kind endpoint"
load_seconds="" ready_seconds=""
if [ "$source" = dir ]; then
  mapfile -t propsy_args <"$work/propsy.args"
else
  kube_env="$run/kube"
  step "start $clusters API servers (test/kube-env)" "$run/kube-env.log" \
    "$root/test/kube-env/start-clusters.sh" "$clusters" "$kube_env"
  step "install the ProPsyService CRD" "$run/crd.log" sh -c '
    kubectl --kubeconfig "$1" apply -f "$2" &&
    kubectl --kubeconfig "$1" wait --for condition=established --timeout=120s \
      crd/propsyservices.propsy.seznam.cz' sh "$kube_env/cluster-1/kubeconfig" \
    "$root/deploy/kubernetes/crd-propsyservice.yaml"
  started=$(date +%s%N)
  step "load the workload into the API servers" "$run/kube-load.log" \
    python3 "$here/kube_world.py" load --dir "$work" --kube-env "$kube_env"
  load_seconds=$(( ($(date +%s%N) - started) / 1000000 ))
  cat "$run/kube-load.log"
  python3 "$here/kube_world.py" propsy-args --dir "$work" --kube-env "$kube_env" \
    >"$run/propsy.args" 2>>"$run/kube-load.log" || fail "ProPsy's flags for the API servers" "$run/kube-load.log"
  mapfile -t propsy_args <"$run/propsy.args"
  update_cmd="python3 $(printf %q "$here/kube_world.py") update --dir $(printf %q "$work") --kube-env $(printf %q "$kube_env") --kind endpoint"
fi

# Free loopback ports: bound to port 0 and released, so a clash is unlikely
# (picked only now: the API servers and their etcds took ports meanwhile).
read -r propsy_xds propsy_health peer_xds peer_admin < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
')

# ---- ProPsy
server_log="$run/propsy.log"
echo "compare: start ProPsy"
started=$(date +%s%N)
"$propsy" -listen "127.0.0.1:$propsy_xds" -listenhealth "127.0.0.1:$propsy_health" \
  "${propsy_args[@]}" >"$server_log" 2>&1 &
server_pid=$!
wait_ready ProPsy "http://127.0.0.1:$propsy_health/readyz"
ready_seconds=$(( ($(date +%s%N) - started) / 1000000 ))
# The counters before the first update and after the last: ProPsy's work.
metrics_before="$(printf %q "$run/metrics-before.txt")"
# Kubernetes: the status write-back first (it is not the update's work).
before_updates=()
if [ "$source" = kube ]; then
  before_updates=(-before-updates "python3 $(printf %q "$here/kube_world.py") await-status --metrics http://127.0.0.1:$propsy_health/metrics --started-ns $started --pid $server_pid --json $(printf %q "$run/status-settle.json")")
fi
step "load ProPsy (initial sync, $updates endpoint updates to $affected nodes each)" "$run/load-propsy.log" \
  "$bin/xds_load" -server "127.0.0.1:$propsy_xds" "${load_args[@]}" -pid "$server_pid" \
    "${before_updates[@]}" \
    -update-cmd "{ [ -e $metrics_before ] || curl -sf -o $metrics_before http://127.0.0.1:$propsy_health/metrics; } && $update_cmd" \
    -expect-affected "$affected" \
    -dump-before "$run/dump-initial" -dump-after "$run/dump-update" \
    -json "$run/propsy.json"
# ProPsy's own counters around the update: the work it caused.
curl -sf -o "$run/metrics-after.txt" "http://127.0.0.1:$propsy_health/metrics" ||
  fail "read ProPsy's metrics after the update" "$server_log"
stop_server
stop_kube

# ---- go-control-plane peer, serving what ProPsy served (it ends on the
# update dump after an odd number of updates, on the initial one otherwise)
final_dump="$run/dump-update"
[ $((updates % 2)) = 1 ] || final_dump="$run/dump-initial"
server_log="$run/gcp.log"
echo "compare: start go-control-plane peer"
"$bin/gcp" -listen "127.0.0.1:$peer_xds" -admin "127.0.0.1:$peer_admin" \
  -initial "$run/dump-initial" -update "$run/dump-update" >"$server_log" 2>&1 &
server_pid=$!
wait_ready "go-control-plane peer" "http://127.0.0.1:$peer_admin/ready"
step "load go-control-plane peer (same update, verified against ProPsy's)" "$run/load-peer.log" \
  "$bin/xds_load" -server "127.0.0.1:$peer_xds" "${load_args[@]}" -pid "$server_pid" \
    -update-cmd "curl -sf -X POST http://127.0.0.1:$peer_admin/update" \
    -expect-affected "$affected" \
    -verify "$final_dump" \
    -json "$run/peer.json"
stop_server
server_log=""

targets=1
[ "$smoke" = 0 ] || targets=0
python3 - "$run/propsy.json" "$run/peer.json" \
  "$mode, $source source, $nodes nodes, $services services, $endpoints endpoints, $clusters clusters" \
  "$targets" "$source" "$updates" "$load_seconds" "$ready_seconds" \
  "$run/metrics-before.txt" "$run/metrics-after.txt" "$run/status-settle.json" \
  >"$run/table.log" 2>&1 <<'PY' || fail "print the table" "$run/table.log"
import json
import sys

(propsy_path, peer_path, title, targets, source, updates, load_ms, ready_ms,
 metrics_before, metrics_after, status_path) = sys.argv[1:12]
updates = int(updates)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        sys.exit(f"{path}: {err}")


def figure(data, path):
    value = data
    for key in path:
        if not isinstance(value, dict) or key not in value:
            sys.exit(f"figure {'.'.join(path)} missing from the load generator's JSON")
        value = value[key]
    return float(value)


propsy, peer = load(propsy_path), load(peer_path)
rows = [
    ("initial sync p50 (ms)", ("initial", "p50_ms"), "{:.1f}"),
    ("initial sync p99 (ms)", ("initial", "p99_ms"), "{:.1f}"),
    ("initial sync max (ms)", ("initial", "max_ms"), "{:.1f}"),
    ("update convergence p50 (ms)", ("update", "p50_ms"), "{:.1f}"),
    ("update convergence p99 (ms)", ("update", "p99_ms"), "{:.1f}"),
    ("update convergence max (ms)", ("update", "max_ms"), "{:.1f}"),
    ("server CPU s, initial sync", ("initial", "cpu_s"), "{:.2f}"),
    ("server CPU ms per update", ("update", "cpu_s"), "{:.1f}"),
    ("peak RSS (MB)", ("peak_rss_mb",), "{:.1f}"),
    ("bytes received, initial sync", ("initial", "bytes"), "{:.0f}"),
    ("bytes received per update", ("update", "bytes"), "{:.0f}"),
]
affected = figure(propsy, ("update", "affected"))
print(f"{title}; {updates} updates, each reached {affected:.0f} nodes")
print(f"{'':30} {'ProPsy':>14} {'go-control-plane':>17} {'ratio':>7}")
for label, path, fmt in rows:
    mine, theirs = figure(propsy, path), figure(peer, path)
    if path == ("update", "cpu_s"):
        mine, theirs = mine * 1000, theirs * 1000
    ratio = f"{mine / theirs:.2f}" if theirs else "-"
    print(f"{label:30} {fmt.format(mine):>14} {fmt.format(theirs):>17} {ratio:>7}")
if source == "kube":
    print(f"{'world loaded into API servers (s)':36} {int(load_ms) / 1000:>8.1f}")
    print(f"{'ProPsy start to ready (s)':36} {int(ready_ms) / 1000:>8.1f}")
    total = (int(load_ms) + int(ready_ms)) / 1000 + figure(propsy, ("initial", "max_ms")) / 1000
    print(f"{'load + ready + all nodes synced (s)':36} {total:>8.1f}")
    # The status write-back after start-up, waited for before the updates.
    status = load(status_path)
    for label, value in (
        ("status write-back over, after start (s)", f"{status['settled_after_start_s']:.1f}"),
        ("  waited for it after all synced (s)", f"{status['waited_s']:.1f}"),
        ("  ProPsy CPU s meanwhile", f"{status['cpu_s']:.1f}"),
        ("  status writes (conflicts, errors)",
         f"{status['writes']:.0f} ({status['conflicts']:.0f}, {status['errors']:.0f})"),
        ("  status-only updates, publishes",
         f"{status['status_updates']:.0f}, {status['publishes']:.0f}"),
    ):
        print(f"{label:40} {value:>12}")


def counters(path):
    values = {}
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("#") or " " not in line:
                    continue
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
    except OSError as err:
        sys.exit(f"{path}: {err}")
    return values


before, after = counters(metrics_before), counters(metrics_after)
# Counter families, each summed over its series (the xDS ones are per type).
work = [
    ("services re-translated", "propsy_translation_services_translated_total"),
    ("services reused unchanged", "propsy_translation_services_reused_total"),
    ("node classes re-assembled", "propsy_translation_node_classes_built_total"),
    ("xDS responses sent", "propsy_xds_responses_total"),
    ("resources in those responses", "propsy_xds_response_resources_total"),
]


def family_sum(values, family):
    series = [v for name, v in values.items() if name == family or name.startswith(family + "{")]
    if not series:
        sys.exit(f"metric {family} missing from ProPsy's /metrics")
    return sum(series)


print()
print("ProPsy's work per update (/metrics counters, after the last minus before the first, / updates):")
for label, family in work:
    print(f"  {label:36} {(family_sum(after, family) - family_sum(before, family)) / updates:>8.1f}")

if targets == "1":
    p99_target = 100 if source == "kube" else 50
    update_p99 = figure(propsy, ("update", "p99_ms"))
    sync_max = figure(propsy, ("initial", "max_ms")) / 1000
    rss = figure(propsy, ("peak_rss_mb",))
    cpu, peer_cpu = figure(propsy, ("update", "cpu_s")), figure(peer, ("update", "cpu_s"))
    checks = [
        (f"update p99 <= {p99_target} ms", update_p99 <= p99_target, f"{update_p99:.1f} ms"),
        ("all nodes synced <= 10 s", sync_max <= 10, f"{sync_max:.2f} s"),
        ("peak RSS <= 400 MB", rss <= 400, f"{rss:.1f} MB"),
        ("CPU per update <= 1/3 of the peer's", cpu * 3 <= peer_cpu,
         f"{cpu * 1000:.1f} ms vs {peer_cpu * 1000:.1f} ms"),
        ("CPU per update <= 10 ms", cpu <= 0.010, f"{cpu * 1000:.1f} ms"),
    ]
    print()
    print("ProPsy targets:")
    for label, met, value in checks:
        print(f"  {label:38} {'met' if met else 'MISSED':7} ({value})")
PY
echo
cat "$run/table.log"
