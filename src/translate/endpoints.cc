#include "translate/endpoints.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

namespace propsy::translate {
namespace {

using envoy::config::core::v3::HealthStatus;

// Higher is healthier; decides which status a duplicate host keeps.
int HealthRank(HealthStatus status) {
  switch (status) {
    case envoy::config::core::v3::HEALTHY:
      return 2;
    case envoy::config::core::v3::DRAINING:
      return 1;
    default:
      return 0;
  }
}

HealthStatus StatusOf(const model::EndpointEntry& endpoint) {
  if (endpoint.ready) return envoy::config::core::v3::HEALTHY;
  // Kubernetes marks terminating endpoints not ready; whether they still
  // serve or not, new connections should go elsewhere first.
  if (endpoint.terminating) return envoy::config::core::v3::DRAINING;
  return envoy::config::core::v3::UNHEALTHY;
}

using HostMap = std::map<std::pair<std::string, uint32_t>, HealthStatus>;

void AddSlice(const model::EndpointSlice& slice, const PortSelector& selector, HostMap& hosts) {
  if (slice.address_type == model::AddressType::kFqdn) return;
  uint32_t port = selector.port;
  if (!selector.port_name.empty()) {
    auto it = std::find_if(
        slice.ports.begin(), slice.ports.end(),
        [&selector](const model::EndpointPort& p) { return p.name == selector.port_name; });
    if (it == slice.ports.end()) return;
    port = it->port;
  }
  if (port == 0) return;
  for (const model::EndpointEntry& endpoint : slice.endpoints) {
    HealthStatus status = StatusOf(endpoint);
    for (const std::string& address : endpoint.addresses) {
      auto [it, inserted] = hosts.try_emplace({address, port}, status);
      if (!inserted && HealthRank(status) > HealthRank(it->second)) it->second = status;
    }
  }
}

}  // namespace

std::vector<HostEndpoint> CollectEndpoints(const model::ClusterObjects& objects,
                                           const model::ObjectKey& service,
                                           const PortSelector& port) {
  auto it = objects.endpoints.find(service);
  if (it == objects.endpoints.end() || it->second == nullptr) return {};
  const model::ServiceEndpoints& sets = *it->second;
  HostMap hosts;
  if (model::UsesCoreEndpoints(sets)) {
    for (const model::EndpointSlice& slice : *sets.core_endpoints->last_good) {
      AddSlice(slice, port, hosts);
    }
  } else {
    for (const auto& [name, entry] : sets.slices) {
      if (entry.last_good) AddSlice(*entry.last_good, port, hosts);
    }
  }
  std::vector<HostEndpoint> result;
  result.reserve(hosts.size());
  for (const auto& [address_port, status] : hosts) {
    result.push_back(
        {.address = address_port.first, .port = address_port.second, .health = status});
  }
  return result;
}

std::vector<size_t> OrderEndpointClusters(const model::World& world, std::string_view local_zone) {
  std::vector<size_t> order(world.endpoint_clusters.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto rank = [&](size_t i) {
    const model::ClusterInfo& info = world.endpoint_clusters[i].info;
    return std::make_tuple(info.zone == local_zone ? 0 : 1, info.priority, i);
  };
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return rank(a) < rank(b); });
  return order;
}

UpstreamPlan PlanUpstreams(const model::World& world, std::string_view local_zone,
                           const std::string& namespace_name, const model::ProPsyServiceSpec& spec,
                           bool with_canary) {
  const PortSelector port{.port = spec.service_port, .port_name = spec.service_port_name};
  const model::ObjectKey service{namespace_name, spec.service};
  UpstreamPlan plan;
  std::vector<EndpointGroup> groups;
  for (size_t index : OrderEndpointClusters(world, local_zone)) {
    const model::ClusterView& cluster = world.endpoint_clusters[index];
    groups.push_back(
        {.cluster = &cluster.info, .hosts = CollectEndpoints(*cluster.objects, service, port)});
  }
  auto primary = std::find_if(groups.begin(), groups.end(),
                              [](const EndpointGroup& group) { return !group.hosts.empty(); });
  if (primary == groups.end()) primary = groups.begin();
  for (auto it = groups.begin(); it != groups.end(); ++it) {
    if (it == primary) {
      plan.primary = std::move(*it);
    } else if (!it->hosts.empty()) {
      plan.remotes.push_back(std::move(*it));
    }
  }
  if (with_canary && !spec.canary_service.empty()) {
    const model::ObjectKey canary{namespace_name, spec.canary_service};
    for (size_t index : OrderEndpointClusters(world, local_zone)) {
      const model::ClusterView& cluster = world.endpoint_clusters[index];
      if (cluster.info.zone != local_zone) continue;
      std::vector<HostEndpoint> hosts = CollectEndpoints(*cluster.objects, canary, port);
      if (!hosts.empty())
        plan.canary.push_back({.cluster = &cluster.info, .hosts = std::move(hosts)});
    }
  }
  return plan;
}

envoy::config::endpoint::v3::ClusterLoadAssignment BuildLoadAssignment(
    const std::string& cluster_name, const std::vector<const EndpointGroup*>& levels) {
  envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
  assignment.set_cluster_name(cluster_name);
  for (size_t priority = 0; priority < levels.size(); ++priority) {
    const EndpointGroup& group = *levels[priority];
    auto* locality_endpoints = assignment.add_endpoints();
    locality_endpoints->mutable_locality()->set_zone(group.cluster->zone);
    locality_endpoints->mutable_locality()->set_sub_zone(group.cluster->name);
    locality_endpoints->set_priority(static_cast<uint32_t>(priority));
    for (const HostEndpoint& host : group.hosts) {
      auto* lb_endpoint = locality_endpoints->add_lb_endpoints();
      lb_endpoint->set_health_status(host.health);
      auto* socket = lb_endpoint->mutable_endpoint()->mutable_address()->mutable_socket_address();
      socket->set_address(host.address);
      socket->set_port_value(host.port);
    }
  }
  return assignment;
}

}  // namespace propsy::translate
