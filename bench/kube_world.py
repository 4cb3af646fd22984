#!/usr/bin/env python3
"""ProPsy's benchmark workload in real Kubernetes API servers.

    kube_world.py load        --dir DIR --kube-env WORKDIR [--workers 16]
    kube_world.py propsy-args --dir DIR --kube-env WORKDIR
    kube_world.py update      --dir DIR --kube-env WORKDIR --kind endpoint|roll [--service NS/NAME]

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
import ssl
import sys
import threading
import time
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
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    directory, kube_env = Path(args.dir).resolve(), Path(args.kube_env).resolve()
    try:
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
