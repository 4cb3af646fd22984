#!/usr/bin/env python3
"""ProPsy's benchmark workload in real Kubernetes API servers.

    kube_world.py load        --dir DIR --kube-env WORKDIR [--workers 16]
    kube_world.py propsy-args --dir DIR --kube-env WORKDIR
    kube_world.py update      --dir DIR --kube-env WORKDIR --kind endpoint|roll [--service NS/NAME]
    kube_world.py await-status --metrics URL [--started-ns NS] [--pid PID] [--quiet S] [--timeout S] [--json FILE]

DIR is a tree written by `workload.py generate`; WORKDIR holds clusters
started by test/kube-env/start-clusters.sh (at least as many as the
workload has endpoint clusters). Workload cluster `cluster-<c>` is API
server c; the ProPsyServices (the workload's config cluster, zone-a) go to
API server 1, which is zone-a too and so is the config and an endpoint
cluster at once, as in a real single-cluster setup.

`load` creates the namespaces in every API server and every object of the
tree (the ProPsyService CRD must already be established in API server 1:
`kubectl apply -f deploy/kubernetes/crd-propsyservice.yaml`), with
--workers requests in flight, and prints the objects per cluster and the
time taken. `propsy-args` prints ProPsy's source flags for those API
servers, one a line (as DIR/propsy.args does for dir: sources). `update`
makes the same change as `workload.py update` (the tree's files follow it)
and sends each changed EndpointSlice to its API server as a JSON merge
patch of its `endpoints`; the last stdout line is the change time in Unix
ns, taken right before the first patch is sent (on an open connection), so
the time measured from it includes the API server's write and its watch.

`await-status` waits until ProPsy's status write-back after start-up is
over: its /metrics (URL) show a status writer leading, no object queued
(`propsy_status_queued_objects` 0) and no status write, conflict, error,
status-only update or publish for --quiet seconds (default 5). It prints
(and with --json writes) how many writes there were and when the last
counter moved, in seconds after --started-ns (ProPsy's start, Unix ns),
and with --pid the CPU seconds ProPsy spent while it waited.
compare.sh runs it before the timed updates, so that they measure the
update and not the write-back.

Only the standard library is used: requests go over HTTPS with the
cluster's CA (WORKDIR/cluster-<i>/pki/ca.crt) and admin bearer token
(WORKDIR/cluster-<i>/token), the port comes from ports.env. Bad input and
failed requests exit with status 2 and a message naming the object and the
API server's answer.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import ssl
import sys
import threading
import time
import urllib.request
from pathlib import Path

import workload
from workload_layout import NAMESPACES, PROPSY_ZONE, WorkloadError

PPS_PATH = "/apis/propsy.seznam.cz/v1/namespaces/{namespace}/propsyservices"
SLICE_PATH = "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
REQUEST_TIMEOUT_S = 60


class ApiServer:
    """One test API server: where it listens and how to authenticate.
    Connections are kept per thread (http.client connections are not
    thread-safe) and reused across requests."""

    def __init__(self, number: int, directory: Path):
        self.number = number
        self.directory = directory
        try:
            ports = dict(
                line.split("=", 1)
                for line in (directory / "ports.env").read_text().split()
                if "=" in line
            )
            self.port = int(ports["APISERVER_PORT"])
            self.token = (directory / "token").read_text().strip()
            self.tls = ssl.create_default_context(cafile=str(directory / "pki" / "ca.crt"))
        except (OSError, KeyError, ValueError, ssl.SSLError) as error:
            raise WorkloadError(
                f"{directory}: not a test/kube-env cluster directory ({error!r})"
            ) from None
        self.kubeconfig = directory / "kubeconfig"
        self._local = threading.local()

    def connection(self) -> http.client.HTTPSConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.port, context=self.tls, timeout=REQUEST_TIMEOUT_S
            )
            conn.connect()
            self._local.conn = conn
        return conn

    def request(self, method: str, path: str, body: dict | None, content_type: str) -> tuple:
        """Sends one request; returns (status, parsed JSON body or text).
        A dropped keep-alive connection is reopened once."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            conn = self.connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                text = response.read().decode(errors="replace")
                break
            except (http.client.HTTPException, ConnectionError) as error:
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise WorkloadError(
                        f"API server {self.number} (127.0.0.1:{self.port}): {method} {path}: {error!r}"
                    ) from None
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text

    def call(self, method: str, path: str, body: dict | None = None,
             content_type: str = "application/json", ok=(200, 201)) -> dict:
        status, answer = self.request(method, path, body, content_type)
        if status not in ok:
            message = answer.get("message", answer) if isinstance(answer, dict) else answer
            raise WorkloadError(
                f"API server {self.number}: {method} {path}: HTTP {status}: {message}"
            )
        return answer


def api_servers(kube_env: Path) -> list[ApiServer]:
    try:
        count = int((kube_env / "clusters").read_text())
    except (OSError, ValueError) as error:
        raise WorkloadError(
            f"--kube-env {kube_env}: no clusters file; start them with "
            f"test/kube-env/start-clusters.sh ({error!r})"
        ) from None
    return [ApiServer(i, kube_env / f"cluster-{i}") for i in range(1, count + 1)]


def servers_for(info: dict, kube_env: Path) -> list[ApiServer]:
    """The API servers of the workload's endpoint clusters, in order."""
    servers = api_servers(kube_env)
    wanted = len(info["clusters"])
    if len(servers) < wanted:
        raise WorkloadError(
            f"--kube-env {kube_env} has {len(servers)} clusters; the workload needs {wanted} "
            "(one API server per endpoint cluster)"
        )
    zone = info["clusters"][0]["zone"]
    if zone != PROPSY_ZONE or info["propsy_zone"] != PROPSY_ZONE:
        raise WorkloadError(f"workload: cluster-1 must be in {PROPSY_ZONE}, the config zone")
    return servers[:wanted]


def cluster_server(servers: list[ApiServer], cluster_name: str) -> ApiServer:
    try:
        number = int(cluster_name.rsplit("-", 1)[1])
        return servers[number - 1]
    except (IndexError, ValueError):
        raise WorkloadError(f"{cluster_name}: not an endpoint cluster of this workload") from None


def read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text())
        manifest["metadata"]["namespace"]
        return manifest
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise WorkloadError(f"{path}: not a generated manifest ({error!r})") from None


def load_jobs(directory: Path, info: dict, servers: list[ApiServer]) -> list[tuple]:
    """(server, collection path, manifest file) for every object of the tree."""
    jobs = [
        (servers[0], PPS_PATH, path) for path in sorted((directory / "config").glob("*.json"))
    ]
    for cluster in info["clusters"]:
        server = cluster_server(servers, cluster["name"])
        jobs += [
            (server, SLICE_PATH, path)
            for path in sorted((directory / cluster["name"]).glob("*.json"))
        ]
    return jobs


def create_namespaces(servers: list[ApiServer]) -> None:
    for server in servers:
        for n in range(NAMESPACES):
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{n:02d}"}}
            server.call("POST", "/api/v1/namespaces", body, ok=(201, 409))


def load(directory: Path, kube_env: Path, workers: int) -> str:
    info = workload.load_workload(directory)
    servers = servers_for(info, kube_env)
    started = time.monotonic()
    create_namespaces(servers)
    jobs = load_jobs(directory, info, servers)
    counts: dict[int, int] = {}

    def create(job):
        server, collection, path = job
        manifest = read_manifest(path)
        manifest["metadata"].pop("creationTimestamp", None)  # the API server sets it
        server.call("POST", collection.format(namespace=manifest["metadata"]["namespace"]), manifest)
        return server.number

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for number in pool.map(create, jobs):
            counts[number] = counts.get(number, 0) + 1
    elapsed = time.monotonic() - started
    per_server = ", ".join(f"API server {n}: {counts.get(n, 0)}" for n in range(1, len(servers) + 1))
    return f"loaded {len(jobs)} objects ({per_server}) in {elapsed:.1f} s"


def propsy_args(directory: Path, kube_env: Path) -> list[str]:
    info = workload.load_workload(directory)
    servers = servers_for(info, kube_env)
    lines = ["-zone", PROPSY_ZONE, "-configcluster", f"{servers[0].kubeconfig}:{PROPSY_ZONE}"]
    for cluster in info["clusters"]:
        server = cluster_server(servers, cluster["name"])
        lines += ["-endpointcluster", f"{server.kubeconfig}:{cluster['zone']}:{cluster['priority']}"]
    return lines


def update(directory: Path, kube_env: Path, kind: str, service_key: str | None):
    info = workload.load_workload(directory)
    servers = servers_for(info, kube_env)

    def publish(files: list[tuple[Path, str]]) -> int:
        patches = []
        for path, text in files:
            server = cluster_server(servers, path.parent.name)
            manifest = json.loads(text)
            meta = manifest["metadata"]
            patches.append(
                (server, f"{SLICE_PATH.format(namespace=meta['namespace'])}/{meta['name']}",
                 {"endpoints": manifest["endpoints"]})
            )
        for server, _, _ in patches:
            server.connection()  # TLS handshakes before the clock starts
        changed_at = time.time_ns()
        for server, path, body in patches:
            server.call("PATCH", path, body, content_type="application/merge-patch+json")
        return changed_at

    return workload.update(directory, kind, service_key, publish)


# The counters that move while the status write-back goes on.
WRITE_BACK_COUNTERS = (
    "propsy_status_writes_total",
    "propsy_status_write_conflicts_total",
    "propsy_status_write_errors_total",
    "propsy_world_status_updates_total",
    "propsy_world_publishes_total",
)


def metric_sums(page: str) -> dict[str, float]:
    """Each family of a Prometheus text page summed over its series."""
    sums: dict[str, float] = {}
    for line in page.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        family = series.split("{", 1)[0]
        try:
            sums[family] = sums.get(family, 0.0) + float(value)
        except ValueError:
            raise WorkloadError(f"unreadable metrics line: {line!r}") from None
    return sums


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError as error:
        raise WorkloadError(f"process {pid}: {error}") from None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def await_status(metrics_url: str, started_ns: int | None, quiet_s: float, timeout_s: float,
                 poll_s: float = 0.5, pid: int | None = None) -> dict:
    """Waits until the status write-back is over (see the module's doc) and
    returns what it did."""
    began = time.monotonic()
    cpu_before = cpu_seconds(pid) if pid else None
    last_counters = None
    last_move_ns = time.time_ns()
    still_since = time.monotonic()
    sums: dict[str, float] = {}
    while True:
        try:
            with urllib.request.urlopen(metrics_url, timeout=REQUEST_TIMEOUT_S) as answer:
                sums = metric_sums(answer.read().decode())
        except OSError as error:
            raise WorkloadError(f"{metrics_url}: {error}") from None
        missing = [f for f in ("propsy_status_leader", "propsy_status_queued_objects")
                   + WRITE_BACK_COUNTERS if f not in sums]
        if missing:
            raise WorkloadError(f"{metrics_url}: no {', '.join(missing)} (not a ProPsy with a "
                                "Kubernetes config cluster?)")
        counters = tuple(sums[f] for f in WRITE_BACK_COUNTERS)
        now = time.monotonic()
        if counters != last_counters:
            last_counters, still_since, last_move_ns = counters, now, time.time_ns()
        elif (sums["propsy_status_leader"] >= 1 and sums["propsy_status_queued_objects"] == 0
              and now - still_since >= quiet_s):
            break
        if now - began >= timeout_s:
            raise WorkloadError(
                f"the status write-back did not settle within {timeout_s:.0f} s: "
                f"leader {sums['propsy_status_leader']:.0f}, "
                f"{sums['propsy_status_queued_objects']:.0f} objects queued, "
                f"{sums['propsy_status_writes_total']:.0f} writes so far")
        time.sleep(poll_s)
    result = {
        "writes": sums["propsy_status_writes_total"],
        "conflicts": sums["propsy_status_write_conflicts_total"],
        "errors": sums["propsy_status_write_errors_total"],
        "status_updates": sums["propsy_world_status_updates_total"],
        "publishes": sums["propsy_world_publishes_total"],
        "waited_s": round(time.monotonic() - began, 1),
    }
    if pid:
        result["cpu_s"] = round(cpu_seconds(pid) - cpu_before, 2)
    if started_ns is not None:
        result["settled_after_start_s"] = round((last_move_ns - started_ns) / 1e9, 1)
    return result


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="kube_world.py", description="ProPsy's benchmark workload in real API servers."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("load", "create every object of a workload tree"),
        ("propsy-args", "print ProPsy's source flags for the API servers"),
        ("update", "change endpoints through the API"),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--dir", required=True, help="a tree written by workload.py generate")
        sub.add_argument("--kube-env", required=True, help="test/kube-env work directory")
        if name == "load":
            sub.add_argument("--workers", type=int, default=16, help="requests in flight")
        if name == "update":
            sub.add_argument("--kind", required=True, choices=("endpoint", "roll"))
            sub.add_argument("--service", help="NAMESPACE/NAME (default: the first service)")
    sub = commands.add_parser("await-status", help="wait until ProPsy's status write-back is over")
    sub.add_argument("--metrics", required=True, help="ProPsy's /metrics URL")
    sub.add_argument("--started-ns", type=int, help="ProPsy's start (Unix ns), for the report")
    sub.add_argument("--quiet", type=float, default=5.0, help="seconds without a write")
    sub.add_argument("--timeout", type=float, default=900.0, help="give up after this long")
    sub.add_argument("--json", help="also write the figures to this file")
    sub.add_argument("--pid", type=int, help="ProPsy's process: report its CPU seconds meanwhile")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "await-status":
            if args.quiet <= 0 or args.timeout <= 0:
                raise WorkloadError("--quiet and --timeout must be positive")
            result = await_status(args.metrics, args.started_ns, args.quiet, args.timeout,
                                  pid=args.pid)
            after = (f", the last {result['settled_after_start_s']} s after ProPsy started"
                     if "settled_after_start_s" in result else "")
            print(f"status write-back over: {result['writes']:.0f} writes "
                  f"({result['conflicts']:.0f} conflicts, {result['errors']:.0f} errors), "
                  f"{result['status_updates']:.0f} status-only updates, "
                  f"{result['publishes']:.0f} publishes{after}; waited {result['waited_s']} s"
                  + (f" (ProPsy's CPU meanwhile: {result['cpu_s']} s)" if "cpu_s" in result else ""))
            if args.json:
                Path(args.json).write_text(json.dumps(result) + "\n")
            return 0
        directory, kube_env = Path(args.dir).resolve(), Path(args.kube_env).resolve()
        if args.command == "load":
            if args.workers < 1:
                raise WorkloadError(f"--workers must be at least 1, got {args.workers}")
            print(load(directory, kube_env, args.workers), file=sys.stderr)
        elif args.command == "propsy-args":
            print("\n".join(propsy_args(directory, kube_env)))
        else:
            changed_at, changes, affected = update(directory, kube_env, args.kind, args.service)
            for line in changes:
                print(f"{args.kind}: {line}", file=sys.stderr)
            print(f"{args.kind}: {affected} nodes affected", file=sys.stderr)
            print(changed_at)
    except WorkloadError as error:
        print(f"kube_world.py {args.command}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
