#include "translate/object_status.h"

#include <fmt/format.h>

#include <map>
#include <set>
#include <utility>

#include "translate/service_findings.h"
#include "translate/service_resolution.h"

namespace propsy::translate {
namespace {

// A zone that no config cluster has: resolving for it gives the definition
// nodes of unknown zones get (the first in flag order).
constexpr char kNoClusterZone[] = "\x01no config cluster";

// Services resolved from one zone's point of view, with the findings of
// their node plans.
struct ZoneView {
  std::string zone;  // as reported; kOtherZones for the pseudo zone
  std::vector<ResolvedService> services;
  NodeFindings findings;
  std::map<model::ObjectKey, const ResolvedService*> by_key;
};

std::string JoinZones(const std::vector<std::string>& zones) {
  std::string text;
  for (const std::string& zone : zones) {
    if (!text.empty()) text += ", ";
    text += zone == kOtherZones ? "zones without a config cluster" : "zone " + zone;
  }
  return text;
}

}  // namespace

std::vector<ObjectReport> DescribeObjects(const model::World& world,
                                          const TranslateOptions& options) {
  // Zones in a stable order: the default zone first, then the config
  // clusters' zones in flag order, then the others.
  std::vector<std::string> zones{options.default_zone};
  for (const model::ClusterView& cluster : world.config_clusters) {
    if (std::find(zones.begin(), zones.end(), cluster.info.zone) == zones.end()) {
      zones.push_back(cluster.info.zone);
    }
  }
  zones.push_back(kOtherZones);
  std::vector<ZoneView> views(zones.size());
  for (size_t i = 0; i < zones.size(); ++i) {
    ZoneView& view = views[i];
    view.zone = zones[i];
    view.services =
        ResolveServices(world, zones[i] == kOtherZones ? kNoClusterZone : std::string(zones[i]));
    view.findings = PlayNodes(world, view.services);
    for (const ResolvedService& service : view.services) view.by_key[service.key] = &service;
  }

  std::vector<ObjectReport> reports;
  for (size_t cluster = 0; cluster < world.config_clusters.size(); ++cluster) {
    const model::ClusterView& view = world.config_clusters[cluster];
    const std::string& cluster_name = view.info.name;
    for (const auto& [key, entry] : view.objects->services) {
      ObjectReport report{.config_cluster = cluster,
                          .key = key,
                          .generation = entry.latest_meta.generation,
                          .accepted = {},
                          .resolved_refs = std::nullopt,
                          .governs_zones = {}};
      if (!entry.error.ok()) {
        const bool served = entry.last_good && !entry.last_good->spec.disabled;
        report.accepted = {
            .type = "Accepted",
            .status = false,
            .reason = "Invalid",
            .message = fmt::format("{}; {}", std::string(entry.error.message()),
                                   served ? "the last good version of this object is still used"
                                          : "this object is not used")};
        reports.push_back(std::move(report));
        continue;
      }
      if (entry.last_good->spec.disabled) {
        report.accepted = {.type = "Accepted",
                           .status = false,
                           .reason = "Disabled",
                           .message = "spec.disabled is true: this object contributes nothing"};
        reports.push_back(std::move(report));
        continue;
      }
      // Which definition governs in each zone, and what this object's
      // conflicts and references are where it governs.
      std::optional<std::string> conflict;
      const ZoneView* first_governed = nullptr;
      std::map<std::string, std::vector<std::string>> others;  // governing cluster -> zones
      for (const ZoneView& zone : views) {
        const ResolvedService* service = zone.by_key.at(key);
        const DefinitionEntry& governing = service->GoverningEntry();
        if (governing.config_cluster == cluster) {
          report.governs_zones.push_back(zone.zone);
          if (first_governed == nullptr) first_governed = &zone;
          auto lost = zone.findings.conflicts.find(service);
          if (!conflict && lost != zone.findings.conflicts.end()) conflict = lost->second;
        } else if (!(governing.entry->last_good->spec == entry.last_good->spec)) {
          others[ClusterName(world, governing)].push_back(zone.zone);
        }
      }
      if (conflict) {
        report.accepted = {
            .type = "Accepted", .status = false, .reason = "Conflicted", .message = *conflict};
      } else if (!others.empty()) {
        std::string message;
        for (const auto& [other, other_zones] : others) {
          if (!message.empty()) message += "; ";
          message += fmt::format("the definition from config cluster {} governs for nodes of {}",
                                 other, JoinZones(other_zones));
        }
        message +=
            report.governs_zones.empty()
                ? fmt::format("; this object (config cluster {}) governs for no node", cluster_name)
                : fmt::format("; this object governs for nodes of {}",
                              JoinZones(report.governs_zones));
        report.accepted = {.type = "Accepted",
                           .status = !report.governs_zones.empty(),
                           .reason = "Overridden",
                           .message = std::move(message)};
      } else {
        report.accepted = {
            .type = "Accepted",
            .status = true,
            .reason = "Accepted",
            .message = report.governs_zones.size() == views.size()
                           ? std::string("this object governs for every node it targets")
                           : fmt::format("this object governs for nodes of {}; elsewhere an equal "
                                         "definition from another config cluster does",
                                         JoinZones(report.governs_zones))};
      }
      if (first_governed != nullptr) {
        report.resolved_refs =
            ResolvedRefsCondition(world, *first_governed->by_key.at(key), first_governed->findings);
      } else {
        // Governs nowhere: its own secret is what it would need.
        ResolvedService alone{
            .key = key,
            .entries = {DefinitionEntry{.config_cluster = cluster, .entry = &entry}},
            .governing = 0,
            .governing_is_local = false};
        report.resolved_refs = ResolvedRefsCondition(world, alone, NodeFindings{});
      }
      reports.push_back(std::move(report));
    }
  }
  return reports;
}

}  // namespace propsy::translate
