#pragma once

// What playing every node's listener plan says about services: conflicts,
// listeners down for a missing TLS secret, which service decides a
// listener's TLS. Shared by the service reports (/debug/services) and the
// per-object status conditions.

#include <map>
#include <set>
#include <string>
#include <utility>

#include "model/world.h"
#include "translate/service_resolution.h"
#include "translate/service_status.h"

namespace propsy::translate {

// What the per-node plans say about each service; for problems, the first
// one found (nodes in id order). Keyed by pointer for lookups only.
struct NodeFindings {
  std::map<const ResolvedService*, std::string> conflicts;
  // Services on a listener that is not served because the listener's TLS
  // source (another service) has no usable secret: reason and message.
  std::map<const ResolvedService*, std::pair<std::string, std::string>> listener_down;
  std::set<const ResolvedService*> winners;      // served on some node
  std::set<const ResolvedService*> tls_sources;  // decide their listener's TLS on some node
};

// Plays every node a service could be served to: each id named in some
// nodes list, and one node named nowhere (which only "*" targets).
NodeFindings PlayNodes(const model::World& world, const std::vector<ResolvedService>& services);

// The ResolvedRefs condition of a service that has a definition.
ServiceCondition ResolvedRefsCondition(const model::World& world, const ResolvedService& service,
                                       const NodeFindings& findings);

// The name of the config cluster an entry comes from.
const std::string& ClusterName(const model::World& world, const DefinitionEntry& entry);

}  // namespace propsy::translate
