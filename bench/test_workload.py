"""Tests of bench/workload.py: layout, manifest validity and live updates.

Run: python3 -m pytest bench/test_workload.py
"""

import importlib.util
import ipaddress
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("workload.py")
_spec = importlib.util.spec_from_file_location("workload", SCRIPT)
workload = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(workload)

SMALL = {"nodes": 24, "services": 40, "endpoints": 500, "clusters": 3, "groups": 4}
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def run(*args, check=True):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(f"workload.py {args} failed: {result.stderr}")
    return result


def generate(out, **params):
    flags = []
    for name, value in {**SMALL, **params}.items():
        flags += [f"--{name}", value]
    run("generate", "--out", out, *flags)
    return json.loads((out / "workload.json").read_text())


def snapshot(root):
    """Every manifest file under root, path -> text."""
    return {p.relative_to(root): p.read_text() for p in sorted(root.glob("*/*.json"))}


def load(root, relative):
    return json.loads((root / relative).read_text())


def addresses(manifest):
    return [e["addresses"][0] for e in manifest["endpoints"]]


@pytest.fixture()
def tree(tmp_path):
    out = tmp_path / "wl"
    return out, generate(out)


def test_counts(tree):
    out, info = tree
    services = sorted((out / "config").glob("*.json"))
    assert len(services) == SMALL["services"]
    canaries = [s for s in info["services"] if s["canaryService"]]
    assert canaries, "the mix has canary services"
    base = SMALL["endpoints"] // (SMALL["services"] * SMALL["clusters"])
    main_total = 0
    for c in range(1, SMALL["clusters"] + 1):
        slices = list((out / f"cluster-{c}").glob("*.json"))
        assert len(slices) == SMALL["services"] + len(canaries)
        for service in info["services"]:
            manifest = load(out, f"cluster-{c}/{service['namespace']}_{service['name']}.json")
            count = len(manifest["endpoints"])
            assert count in (base, base + 1)
            assert count == service["endpoints"][f"cluster-{c}"]
            main_total += count
        for service in canaries:
            name = f"cluster-{c}/{service['namespace']}_{service['canaryService']}.json"
            assert len(load(out, name)["endpoints"]) == workload.CANARY_ENDPOINTS
    assert main_total == SMALL["endpoints"] == info["endpoints_total"]
    assert info["canary_endpoints_total"] == len(canaries) * 2 * SMALL["clusters"]


def test_every_node_receives_its_group(tree):
    out, info = tree
    per_group = SMALL["nodes"] // SMALL["groups"]
    received = Counter()
    for path in (out / "config").glob("*.json"):
        spec = json.loads(path.read_text())["spec"]
        assert len(spec["nodes"]) == per_group
        received.update(spec["nodes"])
    assert len(received) == SMALL["nodes"]
    assert set(received.values()) == {SMALL["services"] // SMALL["groups"]}
    for i, node in enumerate(info["nodes"]):
        zone = ("zone-a", "zone-b")[i % 2]
        assert node == {"id": f"node-{i:04d}", "zone": zone, "group": (i // 2) % 4}
    zones = defaultdict(set)
    for node in info["nodes"]:
        zones[node["group"]].add(node["zone"])
    assert all(z == {"zone-a", "zone-b"} for z in zones.values()), "every group spans both zones"


def test_uneven_split_still_targets_every_node(tmp_path):
    info = generate(tmp_path / "wl", nodes=7, services=10, groups=3, endpoints=30)
    received = Counter(n for s in info["services"] for n in s["nodes"])
    # Group 0 (nodes 0, 1, 6) gets services 0, 3, 6, 9; groups 1 and 2 get three each.
    assert received == {f"node-000{i}": 4 if i in (0, 1, 6) else 3 for i in range(7)}


def test_fewest_nodes_for_the_groups(tmp_path):
    info = generate(tmp_path / "wl", nodes=5, services=6, groups=3, endpoints=18)
    assert [len(s["nodes"]) for s in info["services"][:3]] == [2, 2, 1]
    result = run(
        "generate", "--out", tmp_path / "w2", "--nodes", 4, "--groups", 3, "--services", 6,
        "--endpoints", 18, check=False,
    )
    assert result.returncode == 2 and "needs at least 5 nodes" in result.stderr


def test_default_scale_layout():
    plans = workload.plan_services(2000, 10, 1000)
    received = Counter(n for p in plans for n in p["nodes"])
    assert len(received) == 1000 and set(received.values()) == {200}
    # 10 groups x 2 zones: 20 node classes, 100 nodes per service, 50 in each zone.
    assert {len(p["nodes"]) for p in plans} == {100}
    zones = Counter(workload.node_zone(int(n.split("-")[1])) for n in plans[0]["nodes"])
    assert zones == {"zone-a": 50, "zone-b": 50}
    group0 = [p["spec"] for p in plans if p["group"] == 0]
    assert Counter(s["type"] for s in group0) == {"HTTP": 180, "TCP": 20}
    assert len({s["listen"] for s in group0 if s["type"] == "HTTP"}) == 9


def check_pps(doc):
    assert doc["apiVersion"] == "propsy.seznam.cz/v1" and doc["kind"] == "ProPsyService"
    assert DNS_1035.match(doc["metadata"]["name"]) and doc["metadata"]["namespace"]
    spec = doc["spec"]
    known = set(
        """service servicePort listen nodes percent type pathPrefix prefixRewrite canaryService
        canaryPercent timeout connectTimeout maxRequestsPerConnection healthCheckType
        healthCheckHTTPPath healthCheckTimeout healthCheckInterval healthCheckHealthyTreshold
        healthCheckUnhealthyTreshold healthCheckOutlierEnabled healthCheckOutlierConsecutiveErrors
        healthCheckOutlierInterval healthCheckOutlierEjectionTime
        healthCheckOutlierEjectionPercent""".split()
    )
    assert set(spec) <= known, set(spec) - known
    assert DNS_1035.match(spec["service"]) and 1 <= spec["servicePort"] <= 65535
    assert re.fullmatch(r"0:\d+", spec["listen"]) and 1 <= int(spec["listen"][2:]) <= 65535
    assert spec["nodes"] and all(isinstance(n, str) and n for n in spec["nodes"])
    assert 0 <= spec["percent"] <= 100 and spec["type"] in ("HTTP", "TCP")
    if spec["type"] == "TCP":
        assert "pathPrefix" not in spec and "prefixRewrite" not in spec
        assert spec.get("healthCheckType", "TCP") == "TCP"
    else:
        assert spec["pathPrefix"].startswith("/")
    if "canaryPercent" in spec:
        assert DNS_1035.match(spec["canaryService"]) and 0 <= spec["canaryPercent"] <= 100
    assert 1 <= spec.get("timeout", 1) <= 600000 and 1 <= spec.get("connectTimeout", 1) <= 60000
    return spec


def check_slice(doc, expected_service):
    assert doc["apiVersion"] == "discovery.k8s.io/v1" and doc["kind"] == "EndpointSlice"
    assert doc["metadata"]["labels"]["kubernetes.io/service-name"] == expected_service
    assert doc["addressType"] == "IPv4"
    assert doc["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    for endpoint in doc["endpoints"]:
        assert endpoint["conditions"]["ready"] is True and len(endpoint["addresses"]) == 1
        ipaddress.IPv4Address(endpoint["addresses"][0])
    return addresses(doc)


def test_manifests_are_valid_and_conflict_free(tree):
    out, info = tree
    listeners = defaultdict(dict)  # node -> listen -> "TCP" or set of HTTP paths
    services = {}
    for path in sorted((out / "config").glob("*.json")):
        doc = json.loads(path.read_text())
        spec = check_pps(doc)
        services[doc["metadata"]["namespace"], spec["service"]] = spec
        for node in spec["nodes"]:
            held = listeners[node].get(spec["listen"])
            if spec["type"] == "TCP":
                assert held is None, f"{node}: {spec['listen']} already taken"
                listeners[node][spec["listen"]] = "TCP"
            else:
                assert held != "TCP", f"{node}: {spec['listen']} is a TCP listener"
                paths = listeners[node].setdefault(spec["listen"], set())
                assert spec["pathPrefix"] not in paths
                paths.add(spec["pathPrefix"])
    options = Counter(k for spec in services.values() for k in spec)
    for option in ("timeout", "healthCheckType", "canaryService", "healthCheckOutlierEnabled"):
        assert options[option] > 0, f"no service uses {option}"
    assert {spec["percent"] for spec in services.values()} == {80, 100}
    wanted = {(ns, s) for ns, s in services} | {
        (ns, spec["canaryService"]) for (ns, _), spec in services.items() if "canaryService" in spec
    }
    for c in range(1, SMALL["clusters"] + 1):
        seen = []
        found = set()
        for path in (out / f"cluster-{c}").glob("*.json"):
            doc = json.loads(path.read_text())
            meta = doc["metadata"]
            key = (meta["namespace"], meta["labels"]["kubernetes.io/service-name"])
            found.add(key)
            seen += check_slice(doc, key[1])
        assert found == wanted
        assert len(seen) == len(set(seen)), "addresses are unique within a cluster"
        assert all(a.startswith(f"10.{c}.") for a in seen)


def test_propsy_args(tree):
    out, _ = tree
    lines = (out / "propsy.args").read_text().split()
    assert lines[:4] == ["-zone", "zone-a", "-configcluster", f"dir:{out.resolve()}/config:zone-a"]
    expected = []
    for c, zone in ((1, "zone-a"), (2, "zone-b"), (3, "zone-a")):
        expected += ["-endpointcluster", f"dir:{out.resolve()}/cluster-{c}:{zone}:{c - 1}"]
    assert lines[4:] == expected


def test_same_seed_same_tree(tmp_path):
    generate(tmp_path / "a")
    generate(tmp_path / "b")
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def changed_files(before, after):
    assert before.keys() == after.keys(), "updates neither add nor remove files"
    return [p for p in before if before[p] != after[p]]


def endpoint_diff(before_text, after_text):
    old, new = addresses(json.loads(before_text)), addresses(json.loads(after_text))
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_endpoint_update_changes_one_address(tree):
    out, info = tree
    before = snapshot(out)
    started = time.time_ns()
    result = run("update", "--dir", out, "--kind", "endpoint")
    changed_at = int(result.stdout.strip().splitlines()[-1])
    assert started <= changed_at <= time.time_ns()
    assert f"{len(info['services'][0]['nodes'])} nodes affected" in result.stderr
    after = snapshot(out)
    files = changed_files(before, after)
    assert files == [Path("cluster-1/ns-00_svc-0000.json")]
    diff = endpoint_diff(before[files[0]], after[files[0]])
    assert len(diff) == 1
    assert diff[0][1] not in "".join(before.values()), "the new address is fresh"
    check_slice(json.loads(after[files[0]]), "svc-0000")


def test_repeated_updates_keep_changing(tree):
    out, _ = tree
    clusters = SMALL["clusters"]
    seen = set()
    for turn in range(2 * clusters + 1):
        before = snapshot(out)
        run("update", "--dir", out, "--kind", "endpoint", "--service", "ns-05/svc-0005")
        after = snapshot(out)
        files = changed_files(before, after)
        assert files == [Path(f"cluster-{turn % clusters + 1}/ns-05_svc-0005.json")]
        ((old, new),) = endpoint_diff(before[files[0]], after[files[0]])
        assert (old, new) not in seen and new not in "".join(before.values())
        seen.add((old, new))
    found = defaultdict(list)
    for path, text in snapshot(out).items():
        if path.parts[0] != "config":
            found[path.parts[0]] += addresses(json.loads(text))
    for cluster, held in found.items():
        assert len(held) == len(set(held)), f"{cluster}: an address is used twice"


def test_roll_changes_a_tenth_in_every_cluster(tmp_path):
    out = tmp_path / "wl"
    generate(out, services=10, groups=2, endpoints=10 * 3 * 25)  # 25 per slice
    for roll in range(2):
        before = snapshot(out)
        result = run("update", "--dir", out, "--kind", "roll", "--service", "ns-09/svc-0009")
        assert "12 nodes affected" in result.stderr
        files = changed_files(before, snapshot(out))
        assert sorted(files) == [Path(f"cluster-{c}/ns-09_svc-0009.json") for c in (1, 2, 3)]
        for path in files:
            old, new = addresses(json.loads(before[path])), addresses(load(out, path))
            changed = [i for i in range(25) if old[i] != new[i]]
            assert changed == [2 * roll, 2 * roll + 1], "25 // 10 pods, then the next two"


def test_roll_changes_at_least_one(tmp_path):
    out = tmp_path / "wl"
    generate(out, services=4, groups=2, endpoints=12)  # 1 per slice
    before = snapshot(out)
    run("update", "--dir", out, "--kind", "roll")
    files = changed_files(before, snapshot(out))
    assert len(files) == 3
    for path in files:
        assert len(endpoint_diff(before[path], (out / path).read_text())) == 1


def test_update_renames_a_dot_file_over_the_target(tree, monkeypatch):
    out, _ = tree
    target = out / "cluster-1" / "ns-00_svc-0000.json"
    inode = target.stat().st_ino
    renames = []
    real_replace = workload.os.replace

    def record(src, dst):
        src, dst = Path(src), Path(dst)
        assert src.exists() and src.parent == dst.parent and src.name.startswith(".")
        renames.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(workload.os, "replace", record)
    changed_at, changes, affected = workload.update(out, "endpoint", None)
    assert target in renames and len(changes) == 1 and affected == SMALL["nodes"] // 4
    assert target.stat().st_ino != inode, "replaced by rename, not rewritten in place"
    assert changed_at <= time.time_ns()
    leftovers = [p for p in out.rglob(".*") if p.name not in (".update-state.json", ".update-lock")]
    assert leftovers == []


def test_affected(tree):
    out, info = tree
    assert run("affected", "--dir", out).stdout.strip() == str(SMALL["nodes"] // 4)
    key = info["services"][7]["key"]
    assert run("affected", "--dir", out, "--service", key).stdout.strip() == "6"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--endpoints", "10"], "fewer than services x clusters"),
        (["--groups", "30"], "every group needs a node"),
        (["--nodes", "0"], "--nodes must be at least 1"),
        (["--clusters", "300"], "at most 254"),
    ],
)
def test_bad_generate_input(tmp_path, args, message):
    small = ["--nodes", 20, "--services", 40, "--endpoints", 500]
    result = run("generate", "--out", tmp_path / "wl", *small, *args, check=False)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "wl").exists()


def test_generate_refuses_a_used_directory(tree):
    out, _ = tree
    result = run("generate", "--out", out, check=False)
    assert result.returncode == 2 and "not an empty directory" in result.stderr


def test_bad_update_input(tree, tmp_path):
    out, _ = tree
    result = run(
        "update", "--dir", out, "--kind", "endpoint", "--service", "ns-00/nope", check=False
    )
    assert result.returncode == 2 and "ns-00/nope: no such service" in result.stderr
    result = run("update", "--dir", out, "--kind", "endpoint", "--service", "svc-0000", check=False)
    assert result.returncode == 2 and "expected NAMESPACE/NAME" in result.stderr
    result = run("update", "--dir", tmp_path, "--kind", "roll", check=False)
    assert result.returncode == 2 and "no workload.json" in result.stderr
    result = run("update", "--dir", out, "--kind", "bogus", check=False)
    assert result.returncode == 2 and "invalid choice" in result.stderr
