#pragma once

// Read-only views into translated resources for assertions.

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "translate/translate.h"

namespace propsy::translate::test {

using Weights = std::vector<std::pair<std::string, uint32_t>>;

template <typename Message>
std::vector<std::string> Names(const std::vector<Message>& messages) {
  std::vector<std::string> names;
  for (const Message& message : messages) names.push_back(message.name());
  return names;
}

inline std::vector<std::string> AssignmentNames(const NodeResources& resources) {
  std::vector<std::string> names;
  for (const auto& assignment : resources.endpoints) names.push_back(assignment.cluster_name());
  return names;
}

inline const envoy::config::listener::v3::Listener* FindListener(const NodeResources& resources,
                                                                 const std::string& name) {
  for (const auto& listener : resources.listeners) {
    if (listener.name() == name) return &listener;
  }
  return nullptr;
}

inline const envoy::config::route::v3::RouteConfiguration* FindRoutes(
    const NodeResources& resources, const std::string& name) {
  for (const auto& routes : resources.routes) {
    if (routes.name() == name) return &routes;
  }
  return nullptr;
}

inline const envoy::config::cluster::v3::Cluster* FindCluster(const NodeResources& resources,
                                                              const std::string& name) {
  for (const auto& cluster : resources.clusters) {
    if (cluster.name() == name) return &cluster;
  }
  return nullptr;
}

inline const envoy::config::endpoint::v3::ClusterLoadAssignment* FindAssignment(
    const NodeResources& resources, const std::string& name) {
  for (const auto& assignment : resources.endpoints) {
    if (assignment.cluster_name() == name) return &assignment;
  }
  return nullptr;
}

// Prefixes of the routes of a route configuration, in order.
inline std::vector<std::string> RoutePrefixes(
    const envoy::config::route::v3::RouteConfiguration& config) {
  std::vector<std::string> prefixes;
  for (const auto& route : config.virtual_hosts(0).routes())
    prefixes.push_back(route.match().prefix());
  return prefixes;
}

// The weighted clusters of the route with `prefix`; empty if none.
inline Weights RouteWeights(const envoy::config::route::v3::RouteConfiguration& config,
                            const std::string& prefix) {
  Weights weights;
  for (const auto& route : config.virtual_hosts(0).routes()) {
    if (route.match().prefix() != prefix) continue;
    for (const auto& cluster : route.route().weighted_clusters().clusters()) {
      weights.emplace_back(cluster.name(), cluster.weight().value());
    }
  }
  return weights;
}

inline envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy TcpProxyOf(
    const envoy::config::listener::v3::Listener& listener) {
  envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy proxy;
  EXPECT_TRUE(listener.filter_chains(0).filters(0).typed_config().UnpackTo(&proxy));
  return proxy;
}

inline envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager
HcmOf(const envoy::config::listener::v3::Listener& listener) {
  envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager manager;
  EXPECT_TRUE(listener.filter_chains(0).filters(0).typed_config().UnpackTo(&manager));
  return manager;
}

// The weights a TCP listener proxies with ("cluster" alone counts as weight 1).
inline Weights TcpWeights(const envoy::config::listener::v3::Listener& listener) {
  const auto proxy = TcpProxyOf(listener);
  if (!proxy.cluster().empty()) return {{proxy.cluster(), 1}};
  Weights weights;
  for (const auto& cluster : proxy.weighted_clusters().clusters()) {
    weights.emplace_back(cluster.name(), cluster.weight());
  }
  return weights;
}

// Every resource, deterministically serialized, in order: equal strings mean
// byte-identical resources.
inline std::string SerializeAll(const NodeResources& resources) {
  std::string out;
  auto add = [&out](const google::protobuf::Message& message) {
    std::string bytes;
    {
      google::protobuf::io::StringOutputStream stream(&bytes);
      google::protobuf::io::CodedOutputStream coded(&stream);
      coded.SetSerializationDeterministic(true);
      message.SerializeToCodedStream(&coded);
    }
    out += bytes;
    out += '\n';
  };
  for (const auto& m : resources.listeners) add(m);
  for (const auto& m : resources.routes) add(m);
  for (const auto& m : resources.clusters) add(m);
  for (const auto& m : resources.endpoints) add(m);
  for (const auto& m : resources.secrets) add(m);
  return out;
}

}  // namespace propsy::translate::test
