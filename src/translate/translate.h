#pragma once

#include <string>
#include <vector>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb.h"
#include "model/world.h"

namespace propsy::translate {

// Process-wide settings that shape every node's configuration.
struct TranslateOptions {
  std::string default_zone;                      // -zone: the local zone of nodes that report none
  std::string xds_cluster_name = "xds_cluster";  // -xdscluster
};

// What translation needs to know about one Envoy node.
struct NodeContext {
  std::string id;
  // The node's own locality.zone; when non-empty it overrides default_zone.
  std::string zone;
  // The node talks ADS: config sources point at ADS instead of xds_cluster.
  bool uses_ads = false;
};

// Everything one node is served. Each list is sorted by resource name, and
// every name a resource refers to (RDS route configuration, EDS service name,
// SDS secret) is present in the same NodeResources.
struct NodeResources {
  std::vector<envoy::config::listener::v3::Listener> listeners;
  std::vector<envoy::config::route::v3::RouteConfiguration> routes;
  std::vector<envoy::config::cluster::v3::Cluster> clusters;
  std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment> endpoints;
  std::vector<envoy::extensions::transport_sockets::tls::v3::Secret> secrets;
};

// The Envoy configuration of `node` for `world` (SPEC §3; docs/translation.md
// has the rules). Pure and deterministic: no I/O, clocks or randomness, and
// equal inputs give byte-identical resources.
NodeResources Translate(const model::World& world, const NodeContext& node,
                        const TranslateOptions& options);

}  // namespace propsy::translate
