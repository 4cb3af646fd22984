#pragma once

#include <optional>
#include <string>

#include "xds/resource.h"

namespace propsy::xds {

// Cluster warming (the xDS protocol's "Resource warming"): when Envoy gets a
// new or changed Cluster it builds a new cluster object that stays warming
// until it receives its ClusterLoadAssignment, even when that assignment is
// unchanged. Envoy does not take it from what the old cluster held: without
// an answer the cluster warms only after initial_fetch_timeout (15 s by
// default). So on an aggregated stream a Cluster response that adds or
// changes clusters makes their load assignments due again, whatever the
// client holds (both protocol state machines do this).

// The name of the ClusterLoadAssignment an EDS cluster asks for: its
// eds_cluster_config.service_name, else its own name. nullopt for other
// cluster types and for a body that is not a Cluster.
std::optional<std::string> LoadAssignmentNameOf(const Resource& cluster);

}  // namespace propsy::xds
