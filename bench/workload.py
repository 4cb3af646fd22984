#!/usr/bin/env python3
"""Benchmark workload for ProPsy: `dir:` manifests at scale, and live updates.

    workload.py generate --out DIR [--nodes 5000] [--services 2000]
                         [--endpoints 50000] [--clusters 3] [--groups 10] [--seed 1]
    workload.py update   --dir DIR --kind endpoint|roll [--service NS/NAME]
    workload.py affected --dir DIR [--service NS/NAME]

Layout written by `generate` (every manifest is one JSON object in its own file,
which ProPsy's dir: source reads like YAML and which parses unambiguously):

    DIR/config/<ns>_<name>.json        one ProPsyService per file
    DIR/cluster-<c>/<ns>_<svc>.json    one EndpointSlice per Service per cluster
    DIR/propsy.args                    ProPsy's flags, one per line (no -listen*)
    DIR/workload.json                  parameters, nodes, clusters, services
    DIR/.update-state.json             what `update` has handed out so far

Nodes: `node-0000` ... ; node i is in zone `zone-a` when i is even, else
`zone-b`, and in node group (i // 2) % groups: each pair of nodes shares a
group, so every group spans both zones and the world has 2 x groups node
classes (zone-b nodes have no local definition, as the only config cluster
is zone-a, so they get no percent split and no canary, and their primary
endpoint cluster differs). Every group needs a node: --nodes must be at least
2 x groups - 1.

Services: `svc-0000` ... in namespaces ns-00 ... ns-19 (round-robin). Service s
targets node group s % groups and lists that group's node ids explicitly, so
every node receives services/groups services. Within a group the j-th service
(j = s // groups) is TCP when j % 10 == 9 and gets a listen port of its own
(20000 + its TCP index); the others are HTTP and share listeners, 20 per port
(10000 + HTTP index // 20), told apart by pathPrefix `/<name>/`. Ports are
numbered per group: a node belongs to exactly one group, so nothing conflicts.
Options vary with j so the translation sees a realistic mix:
  HTTP: percent 80 when j % 5 == 2 (else 100); canary `<name>-canary` at 5 %
        when j % 50 == 3; timeout 2000 when j % 3 == 0, timeout 15000 with
        connectTimeout 500 when j % 3 == 1; HTTP health check on /healthz when
        j % 4 == 1; outlier detection when j % 8 == 6; maxRequestsPerConnection
        1000 when j % 7 == 5; prefixRewrite `/` when j % 6 == 4.
  TCP:  connectTimeout 1000; percent 80 when j % 20 == 19; TCP health check
        when j % 20 == 9.

Endpoint clusters: cluster-1 zone-a priority 0, cluster-2 zone-b priority 1,
cluster-3 zone-a priority 2, further ones alternate zones with rising priority.
The config cluster is DIR/config in zone-a, and ProPsy's -zone is zone-a.
--endpoints is spread evenly over services x clusters (the first slices get
one more when it does not divide); canary Services get 2 endpoints per cluster
on top (counted separately in workload.json). Every EndpointSlice has port
`http` 8080, ready endpoints with one address each, unique per cluster
(10.<c>.x.y, handed out in order), a Pod targetRef and, for even-numbered
services, the endpoint's zone. --seed only picks the random-looking Pod and
slice name suffixes; the layout does not depend on it.

`update` rewrites slice files atomically (a dot-file beside the target, which
the dir: source skips, renamed over it) and prints the change time (Unix ns,
taken right after the last rename) as the last line of stdout:
  endpoint: one endpoint of the service gets a new address (and Pod) in one
            cluster; successive updates of a service go round the clusters and
            the endpoint positions.
  roll:     in every cluster, max(1, n // 10) of the service's n endpoints get
            new addresses, continuing where the previous roll stopped.
New addresses are never reused: DIR/.update-state.json keeps the next free one
per cluster. Updates of one DIR are serialized by a lock file.
Bad input exits with status 2 and a message naming what is wrong.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import re
import sys
import time
from pathlib import Path

from workload_layout import (
    CANARY_ENDPOINTS,
    PROPSY_ZONE,
    STATE_FILE,
    LOCK_FILE,
    WorkloadError,
    node_id,
    node_zone,
    node_group,
    min_nodes,
    cluster_layout,
    address,
    plan_services,
    manifest_name,
    pps_manifest,
    random_suffix,
    endpoint_entry,
    slice_manifest,
    dump_json,
)


def check_params(args: argparse.Namespace) -> None:
    for flag in ("nodes", "services", "clusters", "groups", "endpoints"):
        if getattr(args, flag) < 1:
            raise WorkloadError(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    if args.nodes < min_nodes(args.groups):
        raise WorkloadError(
            f"--groups {args.groups} needs at least {min_nodes(args.groups)} nodes, got "
            f"--nodes {args.nodes}: every group needs a node (node i is in group (i // 2) % groups)"
        )
    if args.clusters > 254:
        raise WorkloadError(f"--clusters must be at most 254 (10.<c>.x.y), got {args.clusters}")
    if args.endpoints < args.services * args.clusters:
        raise WorkloadError(
            f"--endpoints {args.endpoints} is fewer than services x clusters = "
            f"{args.services * args.clusters}: every service needs an endpoint in every cluster"
        )


def write_endpoint_cluster(
    out: Path, cluster: dict, clusters: int, plans: list[dict], total: int, rng: random.Random
) -> tuple[int, int]:
    """Writes one of `clusters` clusters' slices, `total` endpoints over all of
    them (recording each plan's count); returns (addresses handed out, canary
    endpoints among them)."""
    directory = out / cluster["name"]
    directory.mkdir()
    base, extra = divmod(total, len(plans) * clusters)
    index = 0
    canary = 0

    def write_slice(namespace: str, service: str, count: int, zone: str | None) -> None:
        nonlocal index
        template = random_suffix(rng, 10)  # like a ReplicaSet's pod-template-hash
        endpoints = []
        for _ in range(count):
            ip = address(cluster["number"], index)
            pod = f"{service}-{template}-{random_suffix(rng)}"
            endpoints.append(endpoint_entry(ip, pod, namespace, zone))
            index += 1
        name = f"{service}-{random_suffix(rng)}"
        manifest = slice_manifest(namespace, service, name, endpoints)
        (directory / manifest_name(namespace, service)).write_text(dump_json(manifest))

    for plan in plans:
        # Slices in (service, cluster) order; the first `extra` get one more.
        count = base + (1 if plan["index"] * clusters + cluster["number"] - 1 < extra else 0)
        plan.setdefault("endpoints", {})[cluster["name"]] = count
        zone = cluster["zone"] if plan["index"] % 2 == 0 else None
        write_slice(plan["namespace"], plan["name"], count, zone)
        if plan["canary"]:
            write_slice(plan["namespace"], plan["canary"], CANARY_ENDPOINTS, None)
            canary += CANARY_ENDPOINTS
    return index, canary


def propsy_args(out: Path, clusters: list[dict]) -> list[str]:
    lines = ["-zone", PROPSY_ZONE, "-configcluster", f"dir:{out / 'config'}:{PROPSY_ZONE}"]
    for cluster in clusters:
        source = f"dir:{out / cluster['name']}:{cluster['zone']}:{cluster['priority']}"
        lines += ["-endpointcluster", source]
    return lines


def workload_summary(args: argparse.Namespace, plans: list[dict], clusters: list[dict]) -> dict:
    """What workload.json holds: enough for the load generator and `update`."""
    params = ("nodes", "services", "endpoints", "clusters", "groups", "seed")
    return {
        "params": {name: getattr(args, name) for name in params},
        "propsy_zone": PROPSY_ZONE,
        "endpoints_total": args.endpoints,
        "nodes": [
            {"id": node_id(i), "zone": node_zone(i), "group": node_group(i, args.groups)}
            for i in range(args.nodes)
        ],
        "clusters": [
            {"name": c["name"], "zone": c["zone"], "priority": c["priority"]} for c in clusters
        ],
        "services": [
            {
                "key": p["key"],
                "namespace": p["namespace"],
                "name": p["name"],
                "type": p["spec"]["type"],
                "listen": p["spec"]["listen"],
                "pathPrefix": p["spec"].get("pathPrefix"),
                "percent": p["spec"]["percent"],
                "canaryService": p["canary"],
                "group": p["group"],
                "endpoints": p["endpoints"],
                "nodes": p["nodes"],
            }
            for p in plans
        ],
    }


def generate(args: argparse.Namespace) -> dict:
    check_params(args)
    out = Path(args.out).resolve()
    if re.search(r"\s", str(out)):
        raise WorkloadError(f"--out {out}: whitespace in the path would split propsy.args")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise WorkloadError(f"--out {out}: exists and is not an empty directory; remove it first")
    plans = plan_services(args.services, args.groups, args.nodes)
    clusters = cluster_layout(args.clusters)
    rng = random.Random(args.seed)

    (out / "config").mkdir(parents=True, exist_ok=True)
    for plan in plans:
        path = out / "config" / manifest_name(plan["namespace"], plan["name"])
        path.write_text(dump_json(pps_manifest(plan)))
    next_index = {}
    canary_total = 0
    for cluster in clusters:
        handed_out, canary = write_endpoint_cluster(
            out, cluster, len(clusters), plans, args.endpoints, rng
        )
        next_index[cluster["name"]] = handed_out
        canary_total += canary

    (out / "propsy.args").write_text("\n".join(propsy_args(out, clusters)) + "\n")
    workload = workload_summary(args, plans, clusters)
    workload["canary_endpoints_total"] = canary_total
    (out / "workload.json").write_text(json.dumps(workload, separators=(",", ":")) + "\n")
    state = {"seed": args.seed, "updates": 0, "next_index": next_index, "cursors": {}}
    (out / STATE_FILE).write_text(json.dumps(state, indent=1) + "\n")
    return workload


# ---------------------------------------------------------------- update


def load_workload(directory: Path) -> dict:
    path = directory / "workload.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise WorkloadError(f"--dir {directory}: no workload.json (run `generate` first)") from None
    except json.JSONDecodeError as error:
        raise WorkloadError(f"{path}: not valid JSON: {error}") from None


def find_service(workload: dict, key: str | None) -> dict:
    if key is None:
        return workload["services"][0]
    if "/" not in key:
        raise WorkloadError(f"--service {key!r}: expected NAMESPACE/NAME, e.g. ns-00/svc-0000")
    for service in workload["services"]:
        if service["key"] == key:
            return service
    raise WorkloadError(f"--service {key}: no such service in this workload")


def write_atomically(path: Path, text: str) -> None:
    """Writes a dot-file beside `path` (the dir: source skips it), then renames it over `path`."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def new_address(state: dict, cluster: dict) -> str:
    name = cluster["name"]
    index = state["next_index"][name]
    state["next_index"][name] = index + 1
    return address(int(name.rsplit("-", 1)[1]), index)


def replace_endpoints(directory: Path, service: dict, cluster: dict, pick, state: dict, rng):
    """Gives the endpoints at positions pick(endpoint count) of the service's
    slice in `cluster` new addresses and Pods; returns the file, its new text
    and one line per change."""
    path = directory / cluster["name"] / manifest_name(service["namespace"], service["name"])
    try:
        manifest = json.loads(path.read_text())
        endpoints = manifest["endpoints"]
        if not endpoints:
            raise WorkloadError(f"{path}: the slice has no endpoints to change")
        changes = []
        for position in pick(len(endpoints)):
            endpoint = endpoints[position]
            old = endpoint["addresses"][0]
            endpoint["addresses"] = [new_address(state, cluster)]
            pod = endpoint["targetRef"]["name"].rsplit("-", 1)[0]
            endpoint["targetRef"]["name"] = f"{pod}-{random_suffix(rng)}"
            new = endpoint["addresses"][0]
            changes.append(f"{cluster['name']} {service['key']}: {old} -> {new}")
    except (OSError, ValueError, LookupError, TypeError) as error:
        raise WorkloadError(f"{path}: not a generated EndpointSlice ({error!r})") from None
    return path, dump_json(manifest), changes


def update(
    directory: Path, kind: str, service_key: str | None, publish=None
) -> tuple[int, list[str], int]:
    """Applies one update; returns (change time in Unix ns, change lines, affected nodes).

    The tree's files are rewritten in any case. `publish`, when given, is
    called with the rewritten files' (path, text) afterwards and returns the
    change time (kube_world.py sends them to API servers); otherwise the
    change time is taken right after the last rename."""
    workload = load_workload(directory)
    service = find_service(workload, service_key)
    state_path = directory / STATE_FILE
    with open(directory / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError) as error:
            raise WorkloadError(f"{state_path}: unreadable update state ({error})") from None
        state["updates"] += 1
        rng = random.Random(f"{state['seed']}/{state['updates']}")
        cursors = state["cursors"].setdefault(service["key"], {"endpoint": 0, "roll": 0})
        clusters = workload["clusters"]
        writes = []
        if kind == "endpoint":
            # Round the clusters first, then move on to the next position.
            turn = cursors["endpoint"]
            cluster = clusters[turn % len(clusters)]

            def pick(count: int) -> list[int]:
                return [(turn // len(clusters)) % count]

            writes.append(replace_endpoints(directory, service, cluster, pick, state, rng))
            cursors["endpoint"] += 1
        else:
            # Like a rolling update: the next 10 % of the pods, wrapping around.
            def pick(count: int) -> list[int]:
                batch = max(1, count // 10)
                return sorted({(cursors["roll"] * batch + k) % count for k in range(batch)})

            for cluster in clusters:
                writes.append(replace_endpoints(directory, service, cluster, pick, state, rng))
            cursors["roll"] += 1
        # The state goes first: a crash in between never hands out an address twice.
        write_atomically(state_path, json.dumps(state, indent=1) + "\n")
        for path, text, _ in writes:
            write_atomically(path, text)
        if publish is None:
            changed_at = time.time_ns()
        else:
            changed_at = publish([(path, text) for path, text, _ in writes])
    return changed_at, [line for _, _, lines in writes for line in lines], len(service["nodes"])


# ------------------------------------------------------------------- CLI


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="workload.py", description="ProPsy benchmark workload: dir: manifests, live updates."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write a new workload tree")
    gen.add_argument("--out", required=True, help="directory to create (must be new or empty)")
    gen.add_argument("--nodes", type=int, default=5000)
    gen.add_argument("--services", type=int, default=2000)
    gen.add_argument("--endpoints", type=int, default=50000, help="over all services, clusters")
    gen.add_argument("--clusters", type=int, default=3, help="endpoint clusters")
    gen.add_argument("--groups", type=int, default=10, help="node groups; a service targets one")
    gen.add_argument("--seed", type=int, default=1)
    upd = commands.add_parser("update", help="change endpoints in a live workload tree")
    upd.add_argument("--dir", required=True)
    upd.add_argument("--kind", required=True, choices=("endpoint", "roll"))
    upd.add_argument("--service", help="NAMESPACE/NAME (default: the first service)")
    aff = commands.add_parser("affected", help="print how many nodes a service targets")
    aff.add_argument("--dir", required=True)
    aff.add_argument("--service", help="NAMESPACE/NAME (default: the first service)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "generate":
            started = time.monotonic()
            workload = generate(args)
            print(
                f"wrote {args.services} services, {workload['endpoints_total']} endpoints "
                f"(+{workload['canary_endpoints_total']} canary) over {args.clusters} clusters "
                f"for {args.nodes} nodes to {Path(args.out).resolve()} "
                f"in {time.monotonic() - started:.1f} s",
                file=sys.stderr,
            )
        elif args.command == "update":
            changed_at, changes, affected = update(Path(args.dir), args.kind, args.service)
            for line in changes:
                print(f"{args.kind}: {line}", file=sys.stderr)
            print(f"{args.kind}: {affected} nodes affected", file=sys.stderr)
            print(changed_at)
        else:
            print(len(find_service(load_workload(Path(args.dir)), args.service)["nodes"]))
    except WorkloadError as error:
        print(f"workload.py {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
