#include "status/desired_status.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <ctime>

#include "translate/service_resolution.h"

namespace propsy::status {
namespace {

// Resources a node holds for a service: its listener and route
// configuration (named after the listen address) and its clusters and load
// assignments (named "namespace/name/...").
struct ServiceResources {
  std::string listener;
  bool has_route = false;
  std::string cluster_prefix;
};

// The first shortfall among the service's resources on a node, or null.
const Shortfall* FindShortfall(const NodeProgress& node, const ServiceResources& resources,
                               std::string* resource_text) {
  const Shortfall* pending = nullptr;
  auto consider = [&](xds::ResourceType type, const std::string& name,
                      const Shortfall& shortfall) -> bool {
    if (shortfall.rejected) {
      *resource_text = fmt::format("{} {}", xds::ShortName(type), name);
      pending = &shortfall;
      return true;
    }
    if (pending == nullptr) {
      *resource_text = fmt::format("{} {}", xds::ShortName(type), name);
      pending = &shortfall;
    }
    return false;
  };
  auto exact = [&](xds::ResourceType type, const std::string& name) {
    const auto& map = node.shortfalls[xds::Index(type)];
    auto found = map.find(name);
    return found != map.end() && consider(type, name, found->second);
  };
  auto prefixed = [&](xds::ResourceType type) {
    const auto& map = node.shortfalls[xds::Index(type)];
    for (auto it = map.lower_bound(resources.cluster_prefix);
         it != map.end() && it->first.starts_with(resources.cluster_prefix); ++it) {
      if (consider(type, it->first, it->second)) return true;
    }
    return false;
  };
  if (exact(xds::ResourceType::kListener, resources.listener)) return pending;
  if (resources.has_route && exact(xds::ResourceType::kRoute, resources.listener)) return pending;
  if (prefixed(xds::ResourceType::kCluster)) return pending;
  if (prefixed(xds::ResourceType::kEndpoint)) return pending;
  return pending;
}

translate::ServiceCondition Programmed(bool status, std::string reason, std::string message) {
  return {.type = "Programmed",
          .status = status,
          .reason = std::move(reason),
          .message = std::move(message)};
}

}  // namespace

const model::ProPsyServiceSpec* ProgrammableSpec(const model::World& world,
                                                 const translate::ObjectReport& report) {
  if (!report.accepted.status) return nullptr;
  if (report.resolved_refs && !report.resolved_refs->status) return nullptr;
  if (report.config_cluster >= world.config_clusters.size()) return nullptr;
  const model::ClusterObjects& objects = *world.config_clusters[report.config_cluster].objects;
  auto entry = objects.services.find(report.key);
  if (entry == objects.services.end()) return nullptr;
  return entry->second.error.ok() && entry->second.last_good ? &entry->second.last_good->spec
                                                             : nullptr;
}

std::vector<std::string> ConfigZones(const model::World& world) {
  std::vector<std::string> zones;
  for (const model::ClusterView& cluster : world.config_clusters) {
    zones.push_back(cluster.info.zone);
  }
  return zones;
}

ObjectProgress CountNodeProgress(const translate::ObjectReport& report,
                                 const model::ProPsyServiceSpec& spec,
                                 const NodeProgressIndex& nodes,
                                 const std::vector<std::string>& config_zones,
                                 const std::string& default_zone) {
  const ServiceResources resources{.listener = spec.listen.ToString(),
                                   .has_route = spec.type == model::ServiceType::kHttp,
                                   .cluster_prefix = report.key.ToString() + "/"};
  ObjectProgress progress{.generation = report.generation};
  for (const size_t position : nodes.Targeted(spec.nodes)) {
    const NodeProgress& node = nodes.nodes()[position];
    std::string zone(translate::LocalZone(node.node.zone, default_zone));
    if (std::find(config_zones.begin(), config_zones.end(), zone) == config_zones.end() &&
        zone != default_zone) {
      zone = translate::kOtherZones;
    }
    if (std::find(report.governs_zones.begin(), report.governs_zones.end(), zone) ==
        report.governs_zones.end()) {
      continue;
    }
    ++progress.targeted;
    if (!node.has_snapshot) continue;
    std::string resource;
    const Shortfall* shortfall = FindShortfall(node, resources, &resource);
    if (shortfall == nullptr) {
      ++progress.acknowledged;
    } else if (shortfall->rejected && progress.rejection.empty()) {
      progress.rejection =
          fmt::format("node {} rejected {}: {}", node.node.id, resource, shortfall->error);
    }
  }
  return progress;
}

translate::ServiceCondition ProgrammedCondition(const translate::ObjectReport& report,
                                                const model::ProPsyServiceSpec* spec,
                                                const ObjectProgress& progress) {
  if (report.accepted.status && report.resolved_refs && !report.resolved_refs->status) {
    return Programmed(false, report.resolved_refs->reason,
                      "not programmed: a reference does not resolve (see ResolvedRefs)");
  }
  if (!report.accepted.status || spec == nullptr) {
    return Programmed(false, report.accepted.reason,
                      "not programmed: the object is not accepted (see Accepted)");
  }
  if (!progress.rejection.empty()) {
    return Programmed(false, "Rejected",
                      fmt::format("{} ({}/{} nodes acknowledged)", progress.rejection,
                                  progress.acknowledged, progress.targeted));
  }
  if (progress.acknowledged < progress.targeted || !progress.unreported.empty()) {
    std::string message =
        fmt::format("{}/{} nodes acknowledged", progress.acknowledged, progress.targeted);
    if (!progress.unreported.empty()) {
      message += fmt::format("; waiting for the progress report of {}",
                             fmt::join(progress.unreported, ", "));
    }
    return Programmed(false, "Pending", std::move(message));
  }
  // No count: the message stays the same as nodes come and go, so node
  // churn writes nothing.
  return Programmed(true, "Programmed", "every connected node it targets has acknowledged it");
}

translate::ServiceCondition ProgrammedCondition(const translate::ObjectReport& report,
                                                const model::ProPsyServiceSpec* spec,
                                                const std::vector<NodeProgress>& nodes,
                                                const std::vector<std::string>& config_zones,
                                                const std::string& default_zone) {
  if (spec == nullptr) return ProgrammedCondition(report, spec, ObjectProgress{});
  return ProgrammedCondition(
      report, spec,
      CountNodeProgress(report, *spec, NodeProgressIndex(nodes), config_zones, default_zone));
}

model::ServiceStatus ToServiceStatus(int64_t generation,
                                     const std::vector<translate::ServiceCondition>& conditions,
                                     const model::ServiceStatus& current, const std::string& now) {
  model::ServiceStatus status{.observed_generation = generation, .conditions = {}};
  for (const translate::ServiceCondition& condition : conditions) {
    if (condition.type == "Programmed" && condition.reason == "Pending") {
      auto latched = std::find_if(current.conditions.begin(), current.conditions.end(),
                                  [&](const model::Condition& previous) {
                                    return previous.type == "Programmed" &&
                                           previous.status == "True" &&
                                           previous.observed_generation == generation;
                                  });
      if (latched != current.conditions.end()) {
        status.conditions.push_back(*latched);
        continue;
      }
    }
    model::Condition out{.type = condition.type,
                         .status = condition.status ? "True" : "False",
                         .reason = condition.reason,
                         .message = condition.message,
                         .observed_generation = generation,
                         .last_transition_time = now};
    for (const model::Condition& previous : current.conditions) {
      if (previous.type == out.type && previous.status == out.status &&
          !previous.last_transition_time.empty()) {
        out.last_transition_time = previous.last_transition_time;
      }
    }
    status.conditions.push_back(std::move(out));
  }
  return status;
}

std::vector<DesiredStatus> ComputeDesiredStatuses(
    const model::World& world, const std::vector<translate::ObjectReport>& reports,
    const ProgressOf& progress_of, const std::vector<bool>& include, const std::string& now) {
  std::vector<DesiredStatus> statuses;
  for (const translate::ObjectReport& report : reports) {
    if (report.config_cluster >= include.size() || !include[report.config_cluster]) continue;
    const model::ClusterView& cluster = world.config_clusters[report.config_cluster];
    const model::Entry<model::ProPsyService>& entry = cluster.objects->services.at(report.key);
    const model::ShownStatus& shown = model::ShownStatusOf(cluster, report.key);
    const model::ServiceStatus& current = shown.status;
    const model::ProPsyServiceSpec* spec = ProgrammableSpec(world, report);
    std::vector<translate::ServiceCondition> conditions{report.accepted};
    if (report.resolved_refs) conditions.push_back(*report.resolved_refs);
    conditions.push_back(ProgrammedCondition(
        report, spec, spec != nullptr ? progress_of(report, *spec) : ObjectProgress{}));
    model::ServiceStatus status = ToServiceStatus(report.generation, conditions, current, now);
    statuses.push_back(DesiredStatus{.config_cluster = report.config_cluster,
                                     .key = report.key,
                                     .uid = entry.latest_meta.uid,
                                     .resource_version = shown.resource_version,
                                     .generation = report.generation,
                                     .conditions = std::move(conditions),
                                     .status = std::move(status)});
  }
  return statuses;
}

bool SameStatus(const model::ServiceStatus& a, const model::ServiceStatus& b) {
  if (a.observed_generation != b.observed_generation) return false;
  if (a.conditions.size() != b.conditions.size()) return false;
  for (const model::Condition& condition : a.conditions) {
    if (std::find(b.conditions.begin(), b.conditions.end(), condition) == b.conditions.end()) {
      return false;
    }
  }
  return true;
}

std::string Rfc3339(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

std::string Rfc3339Micro(std::chrono::system_clock::time_point time) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(time);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(time - seconds).count();
  std::string text = Rfc3339(seconds);
  text.pop_back();  // the 'Z'
  return fmt::format("{}.{:06d}Z", text, micros);
}

}  // namespace propsy::status
