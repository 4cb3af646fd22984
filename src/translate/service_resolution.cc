#include "translate/service_resolution.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace propsy::translate {

std::vector<ResolvedService> ResolveServices(const model::World& world,
                                             std::string_view local_zone) {
  std::map<model::ObjectKey, ResolvedService> by_key;
  for (size_t c = 0; c < world.config_clusters.size(); ++c) {
    for (const auto& [key, entry] : world.config_clusters[c].objects->services) {
      ResolvedService& service = by_key[key];
      service.key = key;
      service.entries.push_back({.config_cluster = c, .entry = &entry});
    }
  }
  std::vector<ResolvedService> services;
  services.reserve(by_key.size());
  for (auto& [key, service] : by_key) {
    std::optional<size_t> first_local;
    std::optional<size_t> first_any;
    for (size_t i = 0; i < service.entries.size(); ++i) {
      const DefinitionEntry& entry = service.entries[i];
      if (!entry.IsDefinition()) continue;
      if (!first_any) first_any = i;
      if (!first_local && world.config_clusters[entry.config_cluster].info.zone == local_zone) {
        first_local = i;
      }
    }
    service.governing = first_local ? first_local : first_any;
    service.governing_is_local = first_local.has_value();
    services.push_back(std::move(service));
  }
  return services;
}

bool TargetsNode(const model::ProPsyServiceSpec& spec, const std::optional<std::string>& node_id) {
  return std::any_of(spec.nodes.begin(), spec.nodes.end(), [&node_id](const std::string& node) {
    return node == "*" || (node_id && node == *node_id);
  });
}

bool IsOlder(const ResolvedService& a, const ResolvedService& b) {
  return std::tie(a.Definition().meta.creation_timestamp, a.key) <
         std::tie(b.Definition().meta.creation_timestamp, b.key);
}

}  // namespace propsy::translate
