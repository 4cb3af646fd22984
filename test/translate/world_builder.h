#pragma once

// Builds model::World values directly from model structs, for translation
// tests that need no manifests. Everything is deterministic.

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "model/world.h"

namespace propsy::translate::test {

inline model::ObjectKey Key(const std::string& ns, const std::string& name) {
  return {.namespace_name = ns, .name = name};
}

// A valid HTTP ProPsyService "ns/name" for service `service` port 8080,
// listening on 0.0.0.0:80 for every node, 100 percent local.
inline model::ProPsyService Pps(const std::string& ns, const std::string& name,
                                const std::string& service = "app") {
  model::ProPsyService pps;
  pps.meta.key = Key(ns, name);
  pps.meta.generation = 1;
  pps.spec.service = service;
  pps.spec.service_port = 8080;
  pps.spec.listen = {.host = "0.0.0.0", .port = 80};
  pps.spec.nodes = {"*"};
  pps.spec.percent = 100;
  return pps;
}

inline model::EndpointEntry Ready(const std::string& ip) {
  return {.addresses = {ip}, .ready = true, .serving = true, .terminating = false, .zone = ""};
}
inline model::EndpointEntry NotReady(const std::string& ip) {
  return {.addresses = {ip}, .ready = false, .serving = false, .terminating = false, .zone = ""};
}
inline model::EndpointEntry Terminating(const std::string& ip, bool serving) {
  return {.addresses = {ip}, .ready = false, .serving = serving, .terminating = true, .zone = ""};
}

// An EndpointSlice "ns/slice_name" of service "ns/service".
inline model::EndpointSlice Slice(const std::string& ns, const std::string& service,
                                  const std::string& slice_name,
                                  std::vector<model::EndpointEntry> endpoints,
                                  std::vector<model::EndpointPort> ports = {{.name = "",
                                                                             .port = 8080}},
                                  model::AddressType type = model::AddressType::kIpv4) {
  model::EndpointSlice slice;
  slice.meta.key = Key(ns, slice_name);
  slice.meta.labels["kubernetes.io/service-name"] = service;
  slice.service_name = service;
  slice.address_type = type;
  slice.ports = std::move(ports);
  slice.endpoints = std::move(endpoints);
  return slice;
}

class WorldBuilder {
 public:
  WorldBuilder& ConfigCluster(const std::string& name, const std::string& zone) {
    config_.push_back({.info = {.name = name, .source = "dir:" + name, .zone = zone, .priority = 0},
                       .objects = {},
                       .endpoints = {}});
    return *this;
  }
  WorldBuilder& EndpointCluster(const std::string& name, const std::string& zone, int priority) {
    endpoint_.push_back(
        {.info = {.name = name, .source = "dir:" + name, .zone = zone, .priority = priority},
         .objects = {},
         .endpoints = {}});
    return *this;
  }

  // A valid object (its newest version is its last good one).
  WorldBuilder& Service(const std::string& cluster, model::ProPsyService pps) {
    model::ObjectKey key = pps.meta.key;
    model::ObjectMeta meta = pps.meta;
    Find(config_, cluster).objects.services[key] = {
        .last_good = std::move(pps), .latest_meta = std::move(meta), .error = absl::OkStatus()};
    return *this;
  }
  // An object whose newest version failed to decode, with or without a last
  // good version.
  WorldBuilder& InvalidService(const std::string& cluster, const model::ObjectKey& key,
                               const std::string& error,
                               std::optional<model::ProPsyService> last_good = std::nullopt) {
    model::ObjectMeta meta;
    meta.key = key;
    Find(config_, cluster).objects.services[key] = {.last_good = std::move(last_good),
                                                    .latest_meta = std::move(meta),
                                                    .error = absl::InvalidArgumentError(error)};
    return *this;
  }

  WorldBuilder& Secret(const std::string& cluster, const std::string& ns, const std::string& name,
                       const std::string& chain, const std::string& key_pem,
                       const std::string& error = "") {
    model::TlsSecret secret;
    secret.meta.key = Key(ns, name);
    secret.certificate_chain_pem = chain;
    secret.private_key_pem = key_pem;
    model::ObjectMeta meta = secret.meta;
    // Keys are copied before the moves: the right side of `=` runs first.
    const model::ObjectKey key = meta.key;
    Find(config_, cluster).objects.secrets[key] = {
        .last_good = std::move(secret),
        .latest_meta = std::move(meta),
        .error = error.empty() ? absl::OkStatus() : absl::InvalidArgumentError(error)};
    return *this;
  }
  WorldBuilder& InvalidSecret(const std::string& cluster, const std::string& ns,
                              const std::string& name, const std::string& error) {
    model::ObjectMeta meta;
    meta.key = Key(ns, name);
    Find(config_, cluster).objects.secrets[meta.key] = {
        .last_good = std::nullopt, .latest_meta = meta, .error = absl::InvalidArgumentError(error)};
    return *this;
  }

  WorldBuilder& Endpoints(const std::string& cluster, model::EndpointSlice slice) {
    model::ObjectMeta meta = slice.meta;
    std::string slice_name = slice.meta.key.name;
    model::ObjectKey service = slice.ServiceKey();
    Find(endpoint_, cluster).endpoints[service].slices[slice_name] = {
        .last_good = std::move(slice), .latest_meta = std::move(meta), .error = absl::OkStatus()};
    return *this;
  }
  WorldBuilder& InvalidEndpoints(const std::string& cluster, const model::ObjectKey& service,
                                 const std::string& slice_name) {
    model::ObjectMeta meta;
    meta.key = Key(service.namespace_name, slice_name);
    Find(endpoint_, cluster).endpoints[service].slices[slice_name] = {
        .last_good = std::nullopt,
        .latest_meta = std::move(meta),
        .error = absl::InvalidArgumentError("bad slice")};
    return *this;
  }
  WorldBuilder& CoreEndpoints(const std::string& cluster, const model::ObjectKey& service,
                              std::vector<model::EndpointSlice> slices) {
    model::ObjectMeta meta;
    meta.key = service;
    Find(endpoint_, cluster).endpoints[service].core_endpoints =
        model::Entry<std::vector<model::EndpointSlice>>{
            .last_good = std::move(slices), .latest_meta = meta, .error = absl::OkStatus()};
    return *this;
  }

  model::World Build() const {
    model::World world;
    for (const Pending& pending : config_) world.config_clusters.push_back(View(pending));
    for (const Pending& pending : endpoint_) world.endpoint_clusters.push_back(View(pending));
    return world;
  }

 private:
  struct Pending {
    model::ClusterInfo info;
    model::ClusterObjects objects;
    std::map<model::ObjectKey, model::ServiceEndpoints> endpoints;
  };

  static Pending& Find(std::vector<Pending>& clusters, const std::string& name) {
    for (Pending& pending : clusters) {
      if (pending.info.name == name) return pending;
    }
    throw std::logic_error("no cluster " + name);
  }

  static model::ClusterView View(const Pending& pending) {
    auto objects = std::make_shared<model::ClusterObjects>(pending.objects);
    for (const auto& [key, sets] : pending.endpoints) {
      objects->endpoints[key] = std::make_shared<const model::ServiceEndpoints>(sets);
    }
    return {.info = pending.info,
            .objects = std::move(objects),
            .synced = true,
            .stale = false,
            .stale_since_unix_ms = 0,
            .statuses = nullptr};
  }

  std::vector<Pending> config_;
  std::vector<Pending> endpoint_;
};

}  // namespace propsy::translate::test
