#include "translate/service_status.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "translate/service_findings.h"
#include "translate/service_resolution.h"

namespace propsy::translate {
namespace {

std::string EntryText(const model::World& world, const DefinitionEntry& entry) {
  const std::string& cluster = ClusterName(world, entry);
  if (!entry.entry->error.ok()) {
    return fmt::format("{}: {}", cluster, std::string(entry.entry->error.message()));
  }
  if (entry.entry->last_good && entry.entry->last_good->spec.disabled) {
    return fmt::format("{}: disabled", cluster);
  }
  return fmt::format("{}: ok", cluster);
}

// The entry a reader expects to govern: the first one from a config cluster
// of the zone, valid or not; else the first one.
size_t PreferredEntry(const model::World& world, const ResolvedService& service,
                      std::string_view zone) {
  for (size_t i = 0; i < service.entries.size(); ++i) {
    if (world.config_clusters[service.entries[i].config_cluster].info.zone == zone) return i;
  }
  return 0;
}

ServiceCondition AcceptedCondition(const model::World& world, const ResolvedService& service,
                                   std::string_view zone, const NodeFindings& findings) {
  const size_t preferred = PreferredEntry(world, service, zone);
  auto error_text = [&world](const DefinitionEntry& entry) {
    return fmt::format("config cluster {}: {}", ClusterName(world, entry),
                       std::string(entry.entry->error.message()));
  };
  if (!service.HasDefinition()) {
    std::optional<size_t> invalid;
    if (!service.entries[preferred].entry->error.ok()) invalid = preferred;
    for (size_t i = 0; !invalid && i < service.entries.size(); ++i) {
      if (!service.entries[i].entry->error.ok()) invalid = i;
    }
    if (invalid) {
      return {.type = "Accepted",
              .status = false,
              .reason = "Invalid",
              .message = error_text(service.entries[*invalid]) + "; nothing is served"};
    }
    return {.type = "Accepted",
            .status = false,
            .reason = "Disabled",
            .message = "disabled in every config cluster; nothing is served"};
  }
  auto conflict = findings.conflicts.find(&service);
  std::string conflict_note =
      conflict == findings.conflicts.end() ? "" : "; it also conflicts: " + conflict->second;
  const DefinitionEntry& governing = service.GoverningEntry();
  if (!governing.entry->error.ok()) {
    return {.type = "Accepted",
            .status = false,
            .reason = "Invalid",
            .message =
                error_text(governing) + "; the last good version is still served" + conflict_note};
  }
  const DefinitionEntry& expected = service.entries[preferred];
  if (&expected != &governing && !expected.entry->error.ok()) {
    return {
        .type = "Accepted",
        .status = false,
        .reason = "Invalid",
        .message = fmt::format("{}; the definition from config cluster {} is served instead{}",
                               error_text(expected), ClusterName(world, governing), conflict_note)};
  }
  if (conflict != findings.conflicts.end()) {
    return {
        .type = "Accepted", .status = false, .reason = "Conflicted", .message = conflict->second};
  }
  return {.type = "Accepted",
          .status = true,
          .reason = "Accepted",
          .message = fmt::format("governed by the definition from config cluster {}",
                                 ClusterName(world, governing))};
}

}  // namespace

std::vector<ServiceReport> DescribeServices(const model::World& world,
                                            const TranslateOptions& options) {
  const std::string_view zone = options.default_zone;
  const std::vector<ResolvedService> services = ResolveServices(world, zone);
  const NodeFindings findings = PlayNodes(world, services);
  std::vector<ServiceReport> reports;
  reports.reserve(services.size());
  for (const ResolvedService& service : services) {
    ServiceReport report;
    report.key = service.key;
    for (const DefinitionEntry& entry : service.entries) {
      report.definitions.push_back(EntryText(world, entry));
    }
    report.conditions.push_back(AcceptedCondition(world, service, zone, findings));
    if (service.HasDefinition()) {
      report.governing_cluster = ClusterName(world, service.GoverningEntry());
      report.governing_is_local = service.governing_is_local;
      report.conditions.push_back(ResolvedRefsCondition(world, service, findings));
    }
    reports.push_back(std::move(report));
  }
  return reports;
}

}  // namespace propsy::translate
