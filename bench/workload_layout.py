"""The layout of ProPsy's benchmark workload: nodes, services, endpoint
clusters and the manifests that describe them (workload.py has the whole
layout in its docstring and the commands that write and update it)."""

from __future__ import annotations

import datetime
import json
import random

NAMESPACES = 20
HTTP_PER_LISTENER = 20
TCP_EVERY = 10
HTTP_PORT_BASE = 10000
TCP_PORT_BASE = 20000
SERVICE_PORT = 8080
CANARY_ENDPOINTS = 2
CANARY_PERCENT = 5
ZONES = ("zone-a", "zone-b")
PROPSY_ZONE = "zone-a"
# 10.<c>.x.y with y in 1..254: the addresses one cluster can hand out.
ADDRESSES_PER_CLUSTER = 256 * 254
# Kubernetes' alphabet for generated name suffixes (no vowels, no look-alikes).
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
STATE_FILE = ".update-state.json"
LOCK_FILE = ".update-lock"
CREATED_BASE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


class WorkloadError(Exception):
    """Bad input or a DIR that is not a generated workload; the message says which."""


# ---------------------------------------------------------------- layout


def node_id(index: int) -> str:
    return f"node-{index:04d}"


def node_zone(index: int) -> str:
    return ZONES[index % len(ZONES)]


def node_group(index: int, groups: int) -> int:
    """Consecutive nodes share a group, one of each zone, so every group spans
    the zones and the world has a node class per (group, zone)."""
    return (index // len(ZONES)) % groups


def min_nodes(groups: int) -> int:
    """The fewest nodes that give every group a node: group g's first is node
    len(ZONES) * g."""
    return len(ZONES) * (groups - 1) + 1


def cluster_layout(count: int) -> list[dict]:
    """Endpoint clusters: zones alternate a, b, a, ...; priorities 0, 1, 2, ..."""
    return [
        {"name": f"cluster-{c + 1}", "number": c + 1, "zone": ZONES[c % len(ZONES)], "priority": c}
        for c in range(count)
    ]


def address(cluster_number: int, index: int) -> str:
    if index >= ADDRESSES_PER_CLUSTER:
        raise WorkloadError(
            f"cluster-{cluster_number} ran out of addresses (10.{cluster_number}.0.0/16 holds "
            f"{ADDRESSES_PER_CLUSTER}); generate with fewer endpoints"
        )
    return f"10.{cluster_number}.{index // 254}.{index % 254 + 1}"


def plan_services(services: int, groups: int, nodes: int) -> list[dict]:
    """Every service's spec-relevant choices (see the module docstring)."""
    members: list[list[str]] = [[] for _ in range(groups)]
    for i in range(nodes):
        members[node_group(i, groups)].append(node_id(i))
    http_count = [0] * groups
    tcp_count = [0] * groups
    plans = []
    for s in range(services):
        group, j = s % groups, s // groups
        name = f"svc-{s:04d}"
        plan = {
            "key": f"ns-{s % NAMESPACES:02d}/{name}",
            "namespace": f"ns-{s % NAMESPACES:02d}",
            "name": name,
            "index": s,
            "group": group,
            "nodes": members[group],
            "canary": None,
        }
        spec: dict = {"service": name, "servicePort": SERVICE_PORT}
        if j % TCP_EVERY == TCP_EVERY - 1:
            port = TCP_PORT_BASE + tcp_count[group]
            tcp_count[group] += 1
            spec.update(listen=f"0:{port}", nodes=members[group], type="TCP", connectTimeout=1000)
            spec["percent"] = 80 if j % 20 == 19 else 100
            if j % 20 == 9:
                spec["healthCheckType"] = "TCP"
        else:
            port = HTTP_PORT_BASE + http_count[group] // HTTP_PER_LISTENER
            http_count[group] += 1
            spec.update(listen=f"0:{port}", nodes=members[group], type="HTTP")
            spec.update(pathPrefix=f"/{name}/", percent=80 if j % 5 == 2 else 100)
            if j % 50 == 3:
                plan["canary"] = f"{name}-canary"
                spec.update(canaryService=plan["canary"], canaryPercent=CANARY_PERCENT)
            if j % 3 == 0:
                spec["timeout"] = 2000
            elif j % 3 == 1:
                spec.update(timeout=15000, connectTimeout=500)
            if j % 4 == 1:
                spec.update(healthCheckType="HTTP", healthCheckHTTPPath="/healthz")
                spec.update(healthCheckTimeout=1000, healthCheckInterval=5000)
                spec.update(healthCheckHealthyTreshold=2, healthCheckUnhealthyTreshold=3)
            if j % 8 == 6:
                spec.update(healthCheckOutlierEnabled=True, healthCheckOutlierConsecutiveErrors=5)
                spec.update(healthCheckOutlierInterval=10000, healthCheckOutlierEjectionTime=30000)
                spec["healthCheckOutlierEjectionPercent"] = 50
            if j % 7 == 5:
                spec["maxRequestsPerConnection"] = 1000
            if j % 6 == 4:
                spec["prefixRewrite"] = "/"
        if port > 65535 or (spec["type"] == "HTTP" and port >= TCP_PORT_BASE):
            raise WorkloadError(
                f"--services {services} with --groups {groups}: too many services per group "
                "for distinct listen ports; use more groups"
            )
        plan["spec"] = spec
        plans.append(plan)
    return plans


def manifest_name(namespace: str, name: str) -> str:
    return f"{namespace}_{name}.json"


def pps_manifest(plan: dict) -> dict:
    created = CREATED_BASE + datetime.timedelta(seconds=plan["index"])
    return {
        "apiVersion": "propsy.seznam.cz/v1",
        "kind": "ProPsyService",
        "metadata": {
            "name": plan["name"],
            "namespace": plan["namespace"],
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": plan["spec"],
    }


def random_suffix(rng: random.Random, length: int = 5) -> str:
    return "".join(rng.choices(SUFFIX_ALPHABET, k=length))


def endpoint_entry(ip: str, pod: str, namespace: str, zone: str | None) -> dict:
    entry = {
        "addresses": [ip],
        "conditions": {"ready": True, "serving": True, "terminating": False},
        "targetRef": {"kind": "Pod", "name": pod, "namespace": namespace},
    }
    if zone is not None:
        entry["zone"] = zone
    return entry


def slice_manifest(namespace: str, service: str, slice_name: str, endpoints: list[dict]) -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name,
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": SERVICE_PORT, "protocol": "TCP"}],
        "endpoints": endpoints,
    }


def dump_json(obj) -> str:
    return json.dumps(obj, separators=(",", ":")) + "\n"


# -------------------------------------------------------------- generate
