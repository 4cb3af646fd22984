#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/world.h"

namespace propsy::translate {

// One config cluster's object for a service key.
struct DefinitionEntry {
  size_t config_cluster = 0;                                  // index into World::config_clusters
  const model::Entry<model::ProPsyService>* entry = nullptr;  // never null

  // A definition is an entry with a last good version that is not disabled;
  // only definitions take part in translation.
  bool IsDefinition() const { return entry->last_good && !entry->last_good->spec.disabled; }
};

// A service key with its objects in every config cluster, seen from one
// local zone. Points into the World it was resolved from.
struct ResolvedService {
  model::ObjectKey key;
  std::vector<DefinitionEntry> entries;  // config clusters holding the key, flag order
  // Index into `entries` of the governing definition: the first definition
  // from a config cluster of the local zone, else the first definition in
  // flag order. Empty when no entry is a definition.
  std::optional<size_t> governing;
  // The governing definition comes from a config cluster of the local zone.
  bool governing_is_local = false;

  bool HasDefinition() const { return governing.has_value(); }
  // Requires HasDefinition().
  const DefinitionEntry& GoverningEntry() const { return entries[*governing]; }
  const model::ProPsyService& Definition() const { return *GoverningEntry().entry->last_good; }
  const model::ProPsyServiceSpec& Spec() const { return Definition().spec; }
};

// The node's local zone: its own zone when it reports one, else `fallback`.
inline std::string_view LocalZone(std::string_view node_zone, std::string_view fallback) {
  return node_zone.empty() ? fallback : node_zone;
}

// Every service key of every config cluster, sorted by key.
std::vector<ResolvedService> ResolveServices(const model::World& world,
                                             std::string_view local_zone);

// Whether a service targets a node: its nodes list holds the node id or "*".
// A node without an id (nullopt) stands for "any node not named anywhere":
// only "*" targets it.
bool TargetsNode(const model::ProPsyServiceSpec& spec, const std::optional<std::string>& node_id);

// Age order for conflicts: creation timestamp (empty first), then key.
// Requires HasDefinition() on both.
bool IsOlder(const ResolvedService& a, const ResolvedService& b);

}  // namespace propsy::translate
