#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "model/world.h"
#include "translate/service_status.h"
#include "translate/translate.h"

namespace propsy::translate {

// What ProPsy makes of one ProPsyService object in one config cluster: the
// conditions its status subresource gets (SPEC §2), apart from Programmed,
// which needs the nodes' answers (status/).
struct ObjectReport {
  size_t config_cluster = 0;  // index into World::config_clusters
  model::ObjectKey key;
  int64_t generation = 0;  // metadata.generation of the newest version seen
  // Accepted: True/Accepted; True/Overridden (another config cluster's
  // definition, with a different spec, governs for nodes of some zones);
  // False/Overridden (it governs for no node); False/Invalid (the message
  // names the field path); False/Conflicted (names the winner);
  // False/Disabled.
  ServiceCondition accepted;
  // Set for definitions (valid, not disabled): ResolvedRefs, SecretNotFound,
  // InvalidSecret.
  std::optional<ServiceCondition> resolved_refs;
  // The zones whose nodes this object's definition governs; kOtherZones
  // stands for nodes of zones no config cluster has. Empty unless it is a
  // definition.
  std::vector<std::string> governs_zones;
};

// Stands for the zones no config cluster is in, in ObjectReport::governs_zones.
inline constexpr char kOtherZones[] = "*";

// One report per ProPsyService object of every config cluster, in cluster
// order and then key order. Zones considered: each config cluster's, the
// default zone (nodes that report none), and kOtherZones.
std::vector<ObjectReport> DescribeObjects(const model::World& world,
                                          const TranslateOptions& options);

}  // namespace propsy::translate
