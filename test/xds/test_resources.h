#pragma once

// Builders for real Envoy resources and xDS requests, shared by the xds unit
// tests. Everything here is deterministic: equal arguments give equal bytes.

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "xds/resource.h"
#include "xds/resource_type.h"
#include "xds/snapshot.h"

namespace propsy::xds::test {

// An EDS cluster whose endpoints come over ADS. `timeout_ms` lets a test make
// a changed version of the same cluster.
inline envoy::config::cluster::v3::Cluster EdsCluster(const std::string& name,
                                                      int64_t timeout_ms = 250) {
  envoy::config::cluster::v3::Cluster cluster;
  cluster.set_name(name);
  cluster.set_type(envoy::config::cluster::v3::Cluster::EDS);
  cluster.mutable_eds_cluster_config()->mutable_eds_config()->mutable_ads();
  cluster.mutable_connect_timeout()->set_seconds(timeout_ms / 1000);
  cluster.mutable_connect_timeout()->set_nanos(static_cast<int32_t>(timeout_ms % 1000) * 1000000);
  return cluster;
}

// A STATIC cluster: it needs no ClusterLoadAssignment resource.
inline envoy::config::cluster::v3::Cluster StaticCluster(const std::string& name) {
  envoy::config::cluster::v3::Cluster cluster;
  cluster.set_name(name);
  cluster.set_type(envoy::config::cluster::v3::Cluster::STATIC);
  auto* address = cluster.mutable_load_assignment()
                      ->add_endpoints()
                      ->add_lb_endpoints()
                      ->mutable_endpoint()
                      ->mutable_address()
                      ->mutable_socket_address();
  address->set_address("127.0.0.1");
  address->set_port_value(9000);
  cluster.mutable_load_assignment()->set_cluster_name(name);
  return cluster;
}

inline envoy::config::endpoint::v3::ClusterLoadAssignment Endpoints(const std::string& cluster_name,
                                                                    const std::string& ip,
                                                                    uint32_t port = 8080) {
  envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
  assignment.set_cluster_name(cluster_name);
  auto* address = assignment.add_endpoints()
                      ->add_lb_endpoints()
                      ->mutable_endpoint()
                      ->mutable_address()
                      ->mutable_socket_address();
  address->set_address(ip);
  address->set_port_value(port);
  return assignment;
}

// A listener whose HTTP connection manager gets `route_name` over RDS (ADS).
inline envoy::config::listener::v3::Listener RdsListener(const std::string& name,
                                                         const std::string& route_name,
                                                         uint32_t port = 10000) {
  using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
  HttpConnectionManager hcm;
  hcm.set_stat_prefix(name);
  hcm.mutable_rds()->set_route_config_name(route_name);
  hcm.mutable_rds()->mutable_config_source()->mutable_ads();
  hcm.add_http_filters()->set_name("envoy.filters.http.router");

  envoy::config::listener::v3::Listener listener;
  listener.set_name(name);
  auto* address = listener.mutable_address()->mutable_socket_address();
  address->set_address("0.0.0.0");
  address->set_port_value(port);
  auto* filter = listener.add_filter_chains()->add_filters();
  filter->set_name("envoy.filters.network.http_connection_manager");
  filter->mutable_typed_config()->PackFrom(hcm);
  return listener;
}

inline envoy::config::route::v3::RouteConfiguration Routes(const std::string& name,
                                                           const std::string& cluster,
                                                           const std::string& prefix = "/") {
  envoy::config::route::v3::RouteConfiguration config;
  config.set_name(name);
  auto* host = config.add_virtual_hosts();
  host->set_name(fmt::format("{}-host", name));
  host->add_domains("*");
  auto* route = host->add_routes();
  route->mutable_match()->set_prefix(prefix);
  route->mutable_route()->set_cluster(cluster);
  return config;
}

inline envoy::extensions::transport_sockets::tls::v3::Secret TlsSecret(
    const std::string& name, const std::string& pem = "cert") {
  envoy::extensions::transport_sockets::tls::v3::Secret secret;
  secret.set_name(name);
  secret.mutable_tls_certificate()->mutable_certificate_chain()->set_inline_string(pem);
  return secret;
}

// Resource wrappers (name taken from the message).
inline ResourcePtr ClusterRes(const std::string& name, int64_t timeout_ms = 250) {
  return MakeResource(name, EdsCluster(name, timeout_ms));
}
inline ResourcePtr EndpointRes(const std::string& name, const std::string& ip = "10.0.0.1") {
  return MakeResource(name, Endpoints(name, ip));
}
inline ResourcePtr ListenerRes(const std::string& name, const std::string& route_name,
                               uint32_t port = 10000) {
  return MakeResource(name, RdsListener(name, route_name, port));
}
inline ResourcePtr RouteRes(const std::string& name, const std::string& cluster,
                            const std::string& prefix = "/") {
  return MakeResource(name, Routes(name, cluster, prefix));
}
inline ResourcePtr SecretRes(const std::string& name, const std::string& pem = "cert") {
  return MakeResource(name, TlsSecret(name, pem));
}

// The name inside an Any holding one of the five resource types.
inline std::string NameOf(const google::protobuf::Any& any) {
  std::optional<ResourceType> type = ResourceTypeFromUrl(any.type_url());
  if (!type.has_value()) return fmt::format("<unknown type {}>", any.type_url());
  switch (*type) {
    case ResourceType::kSecret: {
      envoy::extensions::transport_sockets::tls::v3::Secret m;
      return any.UnpackTo(&m) ? m.name() : "<undecodable>";
    }
    case ResourceType::kCluster: {
      envoy::config::cluster::v3::Cluster m;
      return any.UnpackTo(&m) ? m.name() : "<undecodable>";
    }
    case ResourceType::kEndpoint: {
      envoy::config::endpoint::v3::ClusterLoadAssignment m;
      return any.UnpackTo(&m) ? m.cluster_name() : "<undecodable>";
    }
    case ResourceType::kListener: {
      envoy::config::listener::v3::Listener m;
      return any.UnpackTo(&m) ? m.name() : "<undecodable>";
    }
    case ResourceType::kRoute: {
      envoy::config::route::v3::RouteConfiguration m;
      return any.UnpackTo(&m) ? m.name() : "<undecodable>";
    }
  }
  return "<unreachable>";
}

// Names of the resources in a state-of-the-world response, decoded from the
// bodies themselves (not from bookkeeping).
inline std::vector<std::string> NamesIn(
    const envoy::service::discovery::v3::DiscoveryResponse& response) {
  std::vector<std::string> names;
  for (const auto& any : response.resources()) names.push_back(NameOf(any));
  return names;
}

// Names of the resources added or updated in a delta response.
inline std::vector<std::string> NamesIn(
    const envoy::service::discovery::v3::DeltaDiscoveryResponse& response) {
  std::vector<std::string> names;
  for (const auto& resource : response.resources()) names.push_back(resource.name());
  return names;
}

inline std::vector<std::string> RemovedIn(
    const envoy::service::discovery::v3::DeltaDiscoveryResponse& response) {
  return {response.removed_resources().begin(), response.removed_resources().end()};
}

// A snapshot with one of everything, wired together: secret s1; EDS clusters
// c1, c2 with endpoints; listener l1 → route r1 → c1; listener l2 → route r2
// → c2.
inline SnapshotPtr FullSnapshot() {
  return NodeSnapshotBuilder()
      .Add(ResourceType::kSecret, SecretRes("s1"))
      .Add(ResourceType::kCluster, ClusterRes("c1"))
      .Add(ResourceType::kCluster, ClusterRes("c2"))
      .Add(ResourceType::kEndpoint, EndpointRes("c1"))
      .Add(ResourceType::kEndpoint, EndpointRes("c2"))
      .Add(ResourceType::kListener, ListenerRes("l1", "r1", 10001))
      .Add(ResourceType::kListener, ListenerRes("l2", "r2", 10002))
      .Add(ResourceType::kRoute, RouteRes("r1", "c1"))
      .Add(ResourceType::kRoute, RouteRes("r2", "c2"))
      .Build();
}

}  // namespace propsy::xds::test
