#pragma once

// The in-memory workload the translation and World benchmarks share: the
// same shape bench/workload.py writes as manifests (services spread over
// namespaces, each targeting one group of nodes; HTTP services sharing
// listeners by path, every tenth service TCP on its own port; endpoint
// clusters in alternating zones), built directly as a model::World so no
// file or decoder time is measured.

#include <cstddef>
#include <string>

#include "bench_scale.h"
#include "model/world.h"

namespace propsy::bench {

// How big the workload is.
struct WorkloadShape {
  int nodes = 0;
  int services = 0;
  // Endpoints over every (service, endpoint cluster) pair, spread evenly.
  int endpoints = 0;
  // cluster-1, cluster-2, …: zones alternate zone-a, zone-b; priority = index.
  int endpoint_clusters = 0;
  // Node i is in group (i / 2) % groups, so each group spans both zones
  // (2 × groups node classes); service s targets group s % groups.
  int groups = 0;
};

// kDefault: the scale (5,000 nodes, 2,000 services, 50,000
// endpoints over 3 clusters, 10 groups: ~200 services per node, 20 node
// classes).
WorkloadShape ShapeFor(Scale scale);

// Every config cluster of the World is in this zone (ProPsy's -zone).
inline constexpr char kLocalZone[] = "zone-a";

// "node-0000" …; even nodes are in zone-a, odd ones in zone-b.
std::string NodeId(int node);
std::string NodeZone(int node);
// The key of service s: "ns-{s % 20}/svc-{s}".
model::ObjectKey ServiceKey(int service);

// Node `node`'s group, how many services it gets, and how many nodes get
// `service`.
int NodeGroup(const WorkloadShape& shape, int node);
int ServicesPerNode(const WorkloadShape& shape, int node);
int NodesPerService(const WorkloadShape& shape, int service);

// The World of `shape`: one config cluster ("config", zone-a) holding every
// ProPsyService, and shape.endpoint_clusters endpoint clusters holding one
// EndpointSlice per service (plus small canary Services). Every service is
// valid and free of conflicts. Throws std::invalid_argument naming the bad
// field of an unusable shape.
model::WorldPtr BuildWorld(const WorkloadShape& shape);

// A copy of `world` in which the first endpoint of `service` in endpoint
// cluster `endpoint_cluster` has address `address`. Everything else is
// shared with `world`, as the object store shares what did not change.
// Throws std::invalid_argument when the cluster or the service's endpoints
// do not exist.
model::WorldPtr WithEndpointAddress(const model::World& world, size_t endpoint_cluster,
                                    const model::ObjectKey& service, const std::string& address);

}  // namespace propsy::bench
