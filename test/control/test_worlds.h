#pragma once

// Small Worlds for tests of the control layer: one config cluster and one
// endpoint cluster ("a"), services in namespace "shop".

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/world.h"

namespace propsy::control::testing {

// An HTTP service on 0.0.0.0:`port` for `nodes` ("*": every node).
inline model::ProPsyService Service(const std::string& name, uint32_t port,
                                    std::vector<std::string> nodes = {"*"}) {
  model::ProPsyService service;
  service.meta.key = {"shop", name};
  service.spec.service = name;
  service.spec.service_port = 8080;
  service.spec.listen = {.host = "0.0.0.0", .port = port};
  service.spec.nodes = std::move(nodes);
  service.spec.percent = 100;
  return service;
}

// The endpoint set of `service_name` with one endpoint at `ip`.
inline std::shared_ptr<const model::ServiceEndpoints> EndpointsAt(const std::string& service_name,
                                                                  const std::string& ip) {
  model::EndpointSlice slice;
  slice.meta.key = {"shop", service_name + "-1"};
  slice.service_name = service_name;
  model::EndpointEntry endpoint;
  endpoint.addresses = {ip};
  slice.endpoints.push_back(endpoint);
  auto set = std::make_shared<model::ServiceEndpoints>();
  set->slices[slice.meta.key.name] = model::Entry<model::EndpointSlice>{
      .last_good = slice, .latest_meta = slice.meta, .error = absl::OkStatus()};
  return set;
}

inline model::ClusterObjectsPtr ConfigObjects(const std::vector<model::ProPsyService>& services) {
  auto config = std::make_shared<model::ClusterObjects>();
  for (const auto& service : services) {
    config->services[service.meta.key] = model::Entry<model::ProPsyService>{
        .last_good = service, .latest_meta = service.meta, .error = absl::OkStatus()};
  }
  return config;
}

// A World of one config and one endpoint cluster, both synced.
inline model::WorldPtr WorldOf(model::ClusterObjectsPtr config,
                               model::ClusterObjectsPtr endpoints) {
  auto world = std::make_shared<model::World>();
  world->config_clusters.push_back(
      model::ClusterView{.info = {.name = "a", .source = "dir:a", .zone = "a", .priority = 0},
                         .objects = std::move(config),
                         .synced = true,
                         .stale = false,
                         .stale_since_unix_ms = 0,
                         .statuses = nullptr});
  world->endpoint_clusters.push_back(
      model::ClusterView{.info = {.name = "a0", .source = "dir:a", .zone = "a", .priority = 0},
                         .objects = std::move(endpoints),
                         .synced = true,
                         .stale = false,
                         .stale_since_unix_ms = 0,
                         .statuses = nullptr});
  return world;
}

// `services`, each with one endpoint at `endpoint_ip`.
inline model::WorldPtr WorldWith(const std::vector<model::ProPsyService>& services,
                                 const std::string& endpoint_ip = "10.0.0.1") {
  auto endpoints = std::make_shared<model::ClusterObjects>();
  for (const auto& service : services) {
    endpoints->endpoints[{"shop", service.spec.service}] =
        EndpointsAt(service.spec.service, endpoint_ip);
  }
  return WorldOf(ConfigObjects(services), endpoints);
}

}  // namespace propsy::control::testing
