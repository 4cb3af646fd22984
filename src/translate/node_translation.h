#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include "envoy/config/core/v3/config_source.pb.h"
#include "model/world.h"
#include "translate/conflicts.h"
#include "translate/listeners.h"
#include "translate/service_resolution.h"
#include "translate/translate.h"

// The two halves of Translate(), for callers that cache one of them (the
// incremental translator of the control layer). Translate() is exactly
// TranslateListeners() with TranslateServiceClusters() for every service it
// asks about.
namespace propsy::translate {

// What one service contributes to a node apart from its listener: its Envoy
// clusters and load assignments (only those with a weight) and the weighted
// targets its route points at, in route order.
//
// Depends only on the service's key and governing definition (except its
// `nodes`), whether that definition is local, the service's and its canary's
// endpoint sets in every endpoint cluster, the local zone and `source`: every
// node of one zone and transport shares it.
struct ServiceClusters {
  std::vector<envoy::config::cluster::v3::Cluster> clusters;
  std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment> endpoints;
  std::vector<RouteTarget> targets;
};

// Requires service.HasDefinition().
ServiceClusters TranslateServiceClusters(const model::World& world, std::string_view local_zone,
                                         const ResolvedService& service,
                                         const envoy::config::core::v3::ConfigSource& source);

// The weighted targets of a service; called once for every service that is
// served on a listener.
using TargetsOf = std::function<std::vector<RouteTarget>(const ResolvedService& service)>;

// The listeners, route configurations and TLS secrets of `plan`, sorted by
// name (clusters and endpoints are left empty). A TLS listener whose
// certificate cannot be served is left out with its services: `targets_of`
// is not called for them.
NodeResources TranslateListeners(const model::World& world, const NodePlan& plan,
                                 const envoy::config::core::v3::ConfigSource& source,
                                 const TargetsOf& targets_of);

}  // namespace propsy::translate
