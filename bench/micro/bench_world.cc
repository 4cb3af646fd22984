#include "bench_world.h"

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace propsy::bench {
namespace {

constexpr int kNamespaces = 20;
constexpr uint32_t kServicePort = 8080;
constexpr int kCanaryEndpointsPerCluster = 2;

void Require(bool ok, const char* field, int value, const char* rule) {
  if (!ok) {
    throw std::invalid_argument(fmt::format("workload shape: {} = {}: {}", field, value, rule));
  }
}

void CheckShape(const WorkloadShape& shape) {
  Require(shape.nodes > 0, "nodes", shape.nodes, "must be positive");
  Require(shape.nodes <= 10000, "nodes", shape.nodes, "node ids have 4 digits");
  Require(shape.services > 0, "services", shape.services, "must be positive");
  Require(shape.services <= 10000, "services", shape.services, "service names have 4 digits");
  Require(shape.endpoint_clusters > 0 && shape.endpoint_clusters <= 16, "endpoint_clusters",
          shape.endpoint_clusters, "must be between 1 and 16 (see EndpointAddress)");
  Require(shape.groups > 0 && 2 * shape.groups - 1 <= shape.nodes, "groups", shape.groups,
          "must be at least 1, and every group needs a node (group g's first is node 2g)");
  Require(shape.endpoints >= shape.services * shape.endpoint_clusters, "endpoints", shape.endpoints,
          "every service needs an endpoint in every cluster");
  Require(shape.endpoints <= 1000000, "endpoints", shape.endpoints,
          "must be at most 1,000,000 (see EndpointAddress)");
}

std::string ServiceName(int service) { return fmt::format("svc-{:04d}", service); }
std::string CanaryName(int service) { return ServiceName(service) + "-canary"; }
std::string EndpointClusterName(int cluster) { return fmt::format("cluster-{}", cluster + 1); }
std::string EndpointClusterZone(int cluster) { return cluster % 2 == 0 ? "zone-a" : "zone-b"; }

// Unique per (cluster, index): 4 bits of cluster and 20 bits of index under
// 10.0.0.0/8, so up to 16 clusters of 2^20 - 1 addresses each.
std::string EndpointAddress(int cluster, uint32_t index) {
  const uint32_t ip = (10u << 24) | (static_cast<uint32_t>(cluster) << 20) | (index + 1);
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

// Service s's position among the services of its group decides its options,
// so every group (and so every node) sees the same mix.
model::ProPsyService MakeService(const WorkloadShape& shape, int service,
                                 const std::vector<std::string>& group_nodes) {
  const int local = service / shape.groups;
  model::ProPsyService pps;
  pps.meta.key = ServiceKey(service);
  pps.meta.generation = 1;
  pps.meta.resource_version = "1";
  model::ProPsyServiceSpec& spec = pps.spec;
  spec.service = ServiceName(service);
  spec.service_port = kServicePort;
  spec.nodes = group_nodes;
  // Mostly all traffic local; every fifth service keeps 80 % local and
  // spreads the rest over the other endpoint clusters.
  spec.percent = local % 5 == 1 ? 80 : 100;
  if (local % 10 == 9) {
    // TCP services cannot share a listener: each gets a port of its own.
    spec.type = model::ServiceType::kTcp;
    spec.listen = {.host = "0.0.0.0", .port = 20000 + static_cast<uint32_t>(local)};
    return pps;
  }
  // HTTP services share listeners, 20 per port, told apart by path.
  spec.type = model::ServiceType::kHttp;
  spec.listen = {.host = "0.0.0.0", .port = 10000 + static_cast<uint32_t>(local / 20)};
  spec.path_prefix = "/" + ServiceName(service) + "/";
  if (local % 3 == 0) {
    spec.timeout_ms = 5000;
    spec.connect_timeout_ms = 5000;
  }
  if (local % 4 == 0) {
    spec.health_check = model::HealthCheckSpec{.type = model::HealthCheckType::kHttp,
                                               .timeout_ms = 1000,
                                               .interval_ms = 5000,
                                               .healthy_threshold = 2,
                                               .unhealthy_threshold = 3,
                                               .reuse_connection = true,
                                               .http_path = "/healthz",
                                               .http_host = ""};
  }
  if (local % 25 == 3) {
    spec.canary_service = CanaryName(service);
    spec.canary_percent = 10;
  }
  return pps;
}

// One slice of `count` endpoints of Service `name`; a few are not ready or
// terminating, as during a rollout.
model::EndpointSlice MakeSlice(const std::string& namespace_name, const std::string& name,
                               int cluster, int count, uint32_t* next_address) {
  model::EndpointSlice slice;
  slice.meta.key = {.namespace_name = namespace_name,
                    .name = fmt::format("{}-{}", name, EndpointClusterName(cluster))};
  slice.meta.resource_version = "1";
  slice.meta.labels["kubernetes.io/service-name"] = name;
  slice.service_name = name;
  slice.address_type = model::AddressType::kIpv4;
  slice.ports = {{.name = "http", .port = kServicePort}};
  for (int i = 0; i < count; ++i) {
    const uint32_t index = (*next_address)++;
    const bool terminating = index % 40 == 39;
    slice.endpoints.push_back({.addresses = {EndpointAddress(cluster, index)},
                               .ready = !terminating,
                               .serving = true,
                               .terminating = terminating,
                               .zone = EndpointClusterZone(cluster)});
  }
  return slice;
}

void AddSlice(model::ClusterObjects& objects, model::EndpointSlice slice) {
  auto endpoints = std::make_shared<model::ServiceEndpoints>();
  const std::string slice_name = slice.meta.key.name;
  const model::ObjectKey service = slice.ServiceKey();
  model::ObjectMeta meta = slice.meta;
  endpoints->slices[slice_name] = {
      .last_good = std::move(slice), .latest_meta = std::move(meta), .error = absl::OkStatus()};
  objects.endpoints[service] = std::move(endpoints);
}

model::ClusterView View(model::ClusterInfo info,
                        std::shared_ptr<const model::ClusterObjects> objects) {
  return {.info = std::move(info),
          .objects = std::move(objects),
          .synced = true,
          .stale = false,
          .stale_since_unix_ms = 0,
          .statuses = nullptr};
}

}  // namespace

WorkloadShape ShapeFor(Scale scale) {
  if (scale == Scale::kSmall) {
    return {.nodes = 50, .services = 100, .endpoints = 2000, .endpoint_clusters = 3, .groups = 10};
  }
  return {
      .nodes = 5000, .services = 2000, .endpoints = 50000, .endpoint_clusters = 3, .groups = 10};
}

std::string NodeId(int node) { return fmt::format("node-{:04d}", node); }
std::string NodeZone(int node) { return node % 2 == 0 ? "zone-a" : "zone-b"; }

model::ObjectKey ServiceKey(int service) {
  return {.namespace_name = fmt::format("ns-{:02d}", service % kNamespaces),
          .name = ServiceName(service)};
}

int NodeGroup(const WorkloadShape& shape, int node) { return (node / 2) % shape.groups; }

int ServicesPerNode(const WorkloadShape& shape, int node) {
  const int group = NodeGroup(shape, node);
  return shape.services / shape.groups + (group < shape.services % shape.groups ? 1 : 0);
}

int NodesPerService(const WorkloadShape& shape, int service) {
  const int group = service % shape.groups;
  int count = 0;
  for (int node = 0; node < shape.nodes; ++node) {
    count += NodeGroup(shape, node) == group ? 1 : 0;
  }
  return count;
}

model::WorldPtr BuildWorld(const WorkloadShape& shape) {
  CheckShape(shape);
  std::vector<std::vector<std::string>> group_nodes(shape.groups);
  for (int node = 0; node < shape.nodes; ++node) {
    group_nodes[NodeGroup(shape, node)].push_back(NodeId(node));
  }

  auto config = std::make_shared<model::ClusterObjects>();
  for (int service = 0; service < shape.services; ++service) {
    model::ProPsyService pps = MakeService(shape, service, group_nodes[service % shape.groups]);
    const model::ObjectKey key = pps.meta.key;
    model::ObjectMeta meta = pps.meta;
    config->services[key] = {
        .last_good = std::move(pps), .latest_meta = std::move(meta), .error = absl::OkStatus()};
  }

  auto world = std::make_shared<model::World>();
  world->config_clusters.push_back(
      View({.name = "config", .source = "dir:config", .zone = kLocalZone, .priority = 0}, config));

  const int pairs = shape.services * shape.endpoint_clusters;
  for (int cluster = 0; cluster < shape.endpoint_clusters; ++cluster) {
    auto objects = std::make_shared<model::ClusterObjects>();
    uint32_t next_address = 0;
    for (int service = 0; service < shape.services; ++service) {
      const int pair = service * shape.endpoint_clusters + cluster;
      const int count = shape.endpoints / pairs + (pair < shape.endpoints % pairs ? 1 : 0);
      const model::ObjectKey key = ServiceKey(service);
      AddSlice(*objects, MakeSlice(key.namespace_name, key.name, cluster, count, &next_address));
      const model::ProPsyService& pps = *config->services.at(key).last_good;
      if (!pps.spec.canary_service.empty()) {
        AddSlice(*objects, MakeSlice(key.namespace_name, pps.spec.canary_service, cluster,
                                     kCanaryEndpointsPerCluster, &next_address));
      }
    }
    world->endpoint_clusters.push_back(View({.name = EndpointClusterName(cluster),
                                             .source = "dir:" + EndpointClusterName(cluster),
                                             .zone = EndpointClusterZone(cluster),
                                             .priority = cluster},
                                            std::move(objects)));
  }
  return world;
}

model::WorldPtr WithEndpointAddress(const model::World& world, size_t endpoint_cluster,
                                    const model::ObjectKey& service, const std::string& address) {
  if (endpoint_cluster >= world.endpoint_clusters.size()) {
    throw std::invalid_argument(fmt::format("endpoint cluster index {} out of range (have {})",
                                            endpoint_cluster, world.endpoint_clusters.size()));
  }
  auto changed = std::make_shared<model::World>(world);
  model::ClusterView& view = changed->endpoint_clusters[endpoint_cluster];
  auto objects = std::make_shared<model::ClusterObjects>(*view.objects);
  auto found = objects->endpoints.find(service);
  if (found == objects->endpoints.end()) {
    throw std::invalid_argument(fmt::format("endpoint cluster {} has no endpoints of {}",
                                            view.info.name, service.ToString()));
  }
  auto endpoints = std::make_shared<model::ServiceEndpoints>(*found->second);
  for (auto& [name, entry] : endpoints->slices) {
    if (!entry.last_good.has_value() || entry.last_good->endpoints.empty()) continue;
    entry.last_good->endpoints.front().addresses = {address};
    found->second = std::move(endpoints);
    view.objects = std::move(objects);
    return changed;
  }
  throw std::invalid_argument(fmt::format("endpoint cluster {}: {} has no valid endpoint",
                                          view.info.name, service.ToString()));
}

}  // namespace propsy::bench
