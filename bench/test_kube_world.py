"""Tests of bench/kube_world.py against fake API servers: HTTPS servers with
their own CA and token, laid out as test/kube-env lays out a cluster, that
record what they are sent. (compare.sh --source kube runs the tool against
real API servers; CI runs it at smoke scale.)

Run: python3 -m pytest bench/test_kube_world.py
"""

import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import kube_world  # noqa: E402
import workload  # noqa: E402

SCRIPT = Path(__file__).with_name("kube_world.py")
SMALL = ["--nodes", "8", "--services", "8", "--endpoints", "48", "--clusters", "2", "--groups", "2"]


class FakeApiServer(http.server.ThreadingHTTPServer):
    """Answers 201 to POST and 200 to PATCH when the bearer token is right
    (401 otherwise), 409 to a second POST of the same object, and keeps
    every request as (method, path, content type, body)."""

    def __init__(self, token: str, tls: ssl.SSLContext):
        super().__init__(("127.0.0.1", 0), Handler)
        self.token = token
        self.requests: list[tuple] = []
        self.created: set[str] = set()
        self.lock = threading.Lock()
        self.socket = tls.wrap_socket(self.socket, server_side=True)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_write(self):
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        server = self.server
        with server.lock:
            server.requests.append((self.command, self.path, self.headers["Content-Type"], body))
        if self.headers.get("Authorization") != f"Bearer {server.token}":
            return self.answer(401, {"message": "Unauthorized"})
        if self.command == "POST":
            key = f"{self.path}/{body['metadata']['name']}"
            with server.lock:
                exists = key in server.created
                server.created.add(key)
            if exists:
                return self.answer(409, {"message": f"{key} already exists"})
            return self.answer(201, body)
        return self.answer(200, body)

    do_POST = handle_write
    do_PATCH = handle_write


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA and a serving certificate for 127.0.0.1 (openssl, as test/kube-env does)."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    subprocess.run(
        ["openssl", "req", "-x509", *ec, "-keyout", d / "ca.key", "-out", d / "ca.crt",
         "-days", "1", "-subj", "/CN=test-ca"],
        check=True, capture_output=True,
    )
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(
        ["openssl", "req", "-new", *ec, "-keyout", d / "server.key", "-out", d / "server.csr",
         "-subj", "/CN=apiserver"],
        check=True, capture_output=True,
    )
    subprocess.run(
        ["openssl", "x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.crt", "-CAkey",
         d / "ca.key", "-CAcreateserial", "-days", "1", "-extfile", d / "ext", "-out",
         d / "server.crt"],
        check=True, capture_output=True,
    )
    return d


@pytest.fixture()
def kube_env(tmp_path, pki):
    """Two fake API servers in a test/kube-env-shaped work directory."""
    env = tmp_path / "kube"
    servers = []
    for i in (1, 2):
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(pki / "server.crt", pki / "server.key")
        server = FakeApiServer(f"token-{i}", tls)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        d = env / f"cluster-{i}"
        (d / "pki").mkdir(parents=True)
        (d / "pki" / "ca.crt").write_bytes((pki / "ca.crt").read_bytes())
        (d / "token").write_text(f"token-{i}\n")
        (d / "ports.env").write_text(
            f"ETCD_CLIENT_PORT=1\nETCD_PEER_PORT=2\nAPISERVER_PORT={server.server_address[1]}\n"
        )
    (env / "clusters").write_text("2\n")
    yield env, servers
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def tree(tmp_path):
    out = tmp_path / "wl"
    result = subprocess.run(
        [sys.executable, str(SCRIPT.with_name("workload.py")), "generate", "--out", out, *SMALL],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    return out


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_load_puts_every_object_in_its_cluster(tree, kube_env):
    env, (first, second) = kube_env
    result = run("load", "--dir", tree, "--kube-env", env, "--workers", 4)
    assert result.returncode == 0, result.stderr
    # 8 services and 8 + 2 canary slices per cluster.
    assert "loaded 28 objects (API server 1: 18, API server 2: 10)" in result.stderr
    for server in (first, second):
        namespaces = [r for r in server.requests if r[1] == "/api/v1/namespaces"]
        assert len(namespaces) == 20 and all(r[0] == "POST" for r in namespaces)
    pps = [r for r in first.requests if "propsyservices" in r[1]]
    assert len(pps) == 8
    method, path, content_type, body = pps[0]
    assert method == "POST" and content_type == "application/json"
    assert path == f"/apis/propsy.seznam.cz/v1/namespaces/{body['metadata']['namespace']}/propsyservices"
    assert "creationTimestamp" not in body["metadata"], "the API server sets it"
    config = json.loads(next((tree / "config").glob("*.json")).read_text())
    assert any(r[3]["spec"] == config["spec"] for r in pps)
    for server, cluster in ((first, "cluster-1"), (second, "cluster-2")):
        slices = [r for r in server.requests if "endpointslices" in r[1]]
        sent = sorted(r[3]["metadata"]["name"] for r in slices)
        files = sorted(json.loads(p.read_text())["metadata"]["name"]
                       for p in (tree / cluster).glob("*.json"))
        assert sent == files


def test_propsy_args(tree, kube_env):
    env, _ = kube_env
    result = run("propsy-args", "--dir", tree, "--kube-env", env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:-1] == [
        "-zone", "zone-a",
        "-configcluster", f"{env.resolve()}/cluster-1/kubeconfig:zone-a",
        "-endpointcluster", f"{env.resolve()}/cluster-1/kubeconfig:zone-a:0",
        "-endpointcluster", f"{env.resolve()}/cluster-2/kubeconfig:zone-b:1",
    ]


def test_update_patches_the_changed_slice(tree, kube_env):
    env, (first, second) = kube_env
    for turn, server in enumerate((first, second, first)):
        before = time.time_ns()
        result = run("update", "--dir", tree, "--kube-env", env, "--kind", "endpoint")
        assert result.returncode == 0, result.stderr
        changed_at = int(result.stdout.strip().split("\n")[-1])
        assert before <= changed_at <= time.time_ns()
        method, path, content_type, body = server.requests[-1]
        assert method == "PATCH" and content_type == "application/merge-patch+json"
        cluster = f"cluster-{1 if server is first else 2}"
        manifest = json.loads((tree / cluster / "ns-00_svc-0000.json").read_text())
        name = manifest["metadata"]["name"]
        assert path == f"/apis/discovery.k8s.io/v1/namespaces/ns-00/endpointslices/{name}"
        assert body == {"endpoints": manifest["endpoints"]}, "the tree follows the API"
    patches = [r for s in (first, second) for r in s.requests if r[0] == "PATCH"]
    assert len(patches) == 3


def test_roll_patches_every_cluster(tree, kube_env):
    env, servers = kube_env
    result = run("update", "--dir", tree, "--kind", "roll", "--kube-env", env,
                 "--service", "ns-01/svc-0001")
    assert result.returncode == 0, result.stderr
    for server in servers:
        (patch,) = [r for r in server.requests if r[0] == "PATCH"]
        assert patch[1].startswith("/apis/discovery.k8s.io/v1/namespaces/ns-01/endpointslices/svc-0001-")


def test_errors_name_what_is_wrong(tree, kube_env, tmp_path):
    env, (first, _) = kube_env
    result = run("load", "--dir", tree, "--kube-env", tmp_path)
    assert result.returncode == 2 and "no clusters file" in result.stderr
    (env / "cluster-2" / "token").write_text("wrong\n")
    result = run("load", "--dir", tree, "--kube-env", env)
    assert result.returncode == 2
    assert "API server 2: POST /api/v1/namespaces: HTTP 401: Unauthorized" in result.stderr
    (env / "clusters").write_text("1\n")
    result = run("propsy-args", "--dir", tree, "--kube-env", env)
    assert result.returncode == 2 and "has 1 clusters; the workload needs 2" in result.stderr


def test_a_second_load_is_refused(tree, kube_env):
    env, _ = kube_env
    assert run("load", "--dir", tree, "--kube-env", env).returncode == 0
    result = run("load", "--dir", tree, "--kube-env", env)
    assert result.returncode == 2 and "HTTP 409" in result.stderr and "already exists" in result.stderr


def test_cluster_server_names_bad_clusters(kube_env):
    env, _ = kube_env
    servers = kube_world.api_servers(env)
    assert kube_world.cluster_server(servers, "cluster-2").number == 2
    with pytest.raises(workload.WorkloadError, match="cluster-3: not an endpoint cluster"):
        kube_world.cluster_server(servers, "cluster-3")


class FakeMetrics(http.server.ThreadingHTTPServer):
    """Serves ProPsy-like /metrics: status writes go up by one for each of
    the first `moving` requests, with objects queued meanwhile; then nothing
    moves and nothing is queued (unless `stuck`)."""

    def __init__(self, moving: int, stuck: bool = False, families: bool = True):
        super().__init__(("127.0.0.1", 0), MetricsHandler)
        self.moving, self.stuck, self.families = moving, stuck, families
        self.requests = 0
        self.lock = threading.Lock()

    def page(self) -> str:
        with self.lock:
            self.requests += 1
            writes = min(self.requests, self.moving)
            queued = 1 if self.stuck or self.requests < self.moving else 0
        if not self.families:
            return "propsy_world_publishes_total 1\n"
        return (
            "# TYPE propsy_status_writes_total counter\n"
            f'propsy_status_writes_total{{cluster="zone-a"}} {writes}\n'
            'propsy_status_writes_total{cluster="zone-b"} 0\n'
            'propsy_status_write_conflicts_total{cluster="zone-a"} 2\n'
            'propsy_status_write_errors_total{cluster="zone-a"} 0\n'
            f"propsy_world_status_updates_total {writes}\n"
            "propsy_world_publishes_total 3\n"
            'propsy_status_leader{cluster="zone-a"} 1\n'
            f'propsy_status_queued_objects{{cluster="zone-a"}} {queued}\n'
        )


class MetricsHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        data = self.server.page().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def metrics_server():
    servers = []

    def start(**kwargs):
        server = FakeMetrics(**kwargs)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_address[1]}/metrics"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_await_status_waits_until_the_write_back_is_over(metrics_server):
    server, url = metrics_server(moving=6)
    started = time.time_ns()
    result = kube_world.await_status(url, started, quiet_s=0.3, timeout_s=20, poll_s=0.05,
                                     pid=os.getpid())
    assert result["cpu_s"] >= 0
    assert result["writes"] == 6
    assert result["conflicts"] == 2 and result["status_updates"] == 6 and result["publishes"] == 3
    assert server.requests > 6, "returned while the writes still moved"
    assert 0 <= result["settled_after_start_s"] < result["waited_s"]


def test_await_status_names_what_is_still_queued(metrics_server):
    _, url = metrics_server(moving=1, stuck=True)
    with pytest.raises(kube_world.WorkloadError, match="1 objects queued"):
        kube_world.await_status(url, None, quiet_s=0.1, timeout_s=0.5, poll_s=0.05)


def test_await_status_needs_propsys_status_metrics(metrics_server, tmp_path):
    _, url = metrics_server(moving=1, families=False)
    with pytest.raises(kube_world.WorkloadError, match="no propsy_status_leader, .*propsy_status_writes_total"):
        kube_world.await_status(url, None, quiet_s=0.1, timeout_s=5, poll_s=0.05)
    # The command line says so and exits 2; with a live page it writes --json.
    done = subprocess.run([sys.executable, str(SCRIPT), "await-status", "--metrics", url],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "propsy_status_leader" in done.stderr
    _, url = metrics_server(moving=2)
    out = tmp_path / "status.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "await-status", "--metrics", url,
                           "--quiet", "0.3", "--json", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "status write-back over: 2 writes" in done.stdout
    assert json.loads(out.read_text())["writes"] == 2
