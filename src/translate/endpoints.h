#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "envoy/config/core/v3/health_check.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "model/world.h"

namespace propsy::translate {

// One upstream host of a service in one endpoint cluster.
struct HostEndpoint {
  std::string address;  // IP literal, IPv6 without brackets
  uint32_t port = 0;
  envoy::config::core::v3::HealthStatus health = envoy::config::core::v3::HEALTHY;
};

// Which port of a slice traffic goes to: `port`, or when `port_name` is set,
// the slice port of that name (slices without it contribute nothing).
struct PortSelector {
  uint32_t port = 0;
  std::string port_name;
};

// The endpoints of `service` in one endpoint cluster: every slice's last good
// version (core/v1 Endpoints only when no slice has one), IPv4 and IPv6 only.
// ready -> HEALTHY; not ready but terminating -> DRAINING; else UNHEALTHY.
// A host listed twice keeps its healthiest status. Sorted by (address, port).
std::vector<HostEndpoint> CollectEndpoints(const model::ClusterObjects& objects,
                                           const model::ObjectKey& service,
                                           const PortSelector& port);

// The endpoints of one service in one endpoint cluster.
struct EndpointGroup {
  const model::ClusterInfo* cluster = nullptr;  // never null
  std::vector<HostEndpoint> hosts;
};

// Where a service's traffic can go, seen from one local zone (SPEC §3).
struct UpstreamPlan {
  // The first endpoint cluster in order with endpoints, else the first in
  // order with none; cluster is null only when the World has no endpoint
  // clusters at all.
  EndpointGroup primary;
  std::vector<EndpointGroup> remotes;  // every other cluster with endpoints, in order
  // The canary Service's endpoints in the local zone's endpoint clusters,
  // one group per cluster that has any, by priority. Empty unless asked for.
  std::vector<EndpointGroup> canary;
};

// Endpoint cluster indices in traffic order: the local zone's by ascending
// priority, then the others by ascending priority.
std::vector<size_t> OrderEndpointClusters(const model::World& world, std::string_view local_zone);

// `with_canary`: look up `spec.canary_service` (only for a local definition).
UpstreamPlan PlanUpstreams(const model::World& world, std::string_view local_zone,
                           const std::string& namespace_name, const model::ProPsyServiceSpec& spec,
                           bool with_canary);

// A load assignment named `cluster_name` with priority i = levels[i], each
// level carrying its endpoint cluster as locality {zone, sub_zone: name}.
envoy::config::endpoint::v3::ClusterLoadAssignment BuildLoadAssignment(
    const std::string& cluster_name, const std::vector<const EndpointGroup*>& levels);

}  // namespace propsy::translate
