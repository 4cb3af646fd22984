#include "translate/service_status.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "translate/conflicts.h"
#include "translate/service_resolution.h"
#include "translate/tls.h"

namespace propsy::translate {
namespace {

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

const std::string& ClusterName(const model::World& world, const DefinitionEntry& entry) {
  return world.config_clusters[entry.config_cluster].info.name;
}

// Plays every node a service could be served to: each id named in some
// nodes list, and one node named nowhere (which only "*" targets).
NodeFindings PlayNodes(const model::World& world, const std::vector<ResolvedService>& services) {
  std::set<std::string> ids;
  for (const ResolvedService& service : services) {
    if (!service.HasDefinition()) continue;
    for (const std::string& node : service.Spec().nodes) {
      if (node != "*") ids.insert(node);
    }
  }
  std::vector<std::optional<std::string>> nodes(ids.begin(), ids.end());
  nodes.push_back(std::nullopt);

  NodeFindings findings;
  for (const std::optional<std::string>& node : nodes) {
    std::vector<const ResolvedService*> targeting;
    for (const ResolvedService& service : services) {
      if (service.HasDefinition() && TargetsNode(service.Spec(), node)) {
        targeting.push_back(&service);
      }
    }
    const NodePlan plan = PlanListeners(std::move(targeting));
    for (const ConflictLoss& loss : plan.losses) {
      findings.conflicts.try_emplace(loss.loser, loss.message);
    }
    for (const ListenerPlan& listener : plan.listeners) {
      findings.winners.insert(listener.services.begin(), listener.services.end());
      const ResolvedService* source = listener.tls_source;
      findings.tls_sources.insert(source);
      if (source->Spec().tls_certificate_secret.empty()) continue;
      const SecretResolution secret = ResolveTlsSecret(world, *source);
      if (secret.ok) continue;
      for (const ResolvedService* service : listener.services) {
        if (service == source) continue;
        findings.listener_down.try_emplace(
            service, std::pair(secret.reason,
                               fmt::format("listener {} is not served: {} (its TLS comes from {})",
                                           listener.name, secret.message, source->key.ToString())));
      }
    }
  }
  return findings;
}

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

ServiceCondition ResolvedRefsCondition(const model::World& world, const ResolvedService& service,
                                       const NodeFindings& findings) {
  const model::ProPsyServiceSpec& spec = service.Spec();
  const bool names_secret = !spec.tls_certificate_secret.empty();
  // A service served nowhere still has its own secret checked: that is what
  // it would need once it is served.
  const bool decides_tls =
      findings.tls_sources.contains(&service) || !findings.winners.contains(&service);
  std::string message = "no references";
  if (names_secret && decides_tls) {
    const SecretResolution secret = ResolveTlsSecret(world, service);
    if (!secret.ok) {
      return {.type = "ResolvedRefs",
              .status = false,
              .reason = secret.reason,
              .message = secret.message + "; the listener is not served"};
    }
    message = secret.message;
  } else if (names_secret) {
    message = fmt::format(
        "tlsCertificateSecret {} has no effect: the listener's TLS comes from its service with "
        "the most general pathPrefix",
        spec.tls_certificate_secret);
  }
  auto down = findings.listener_down.find(&service);
  if (down != findings.listener_down.end()) {
    return {.type = "ResolvedRefs",
            .status = false,
            .reason = down->second.first,
            .message = down->second.second};
  }
  return {.type = "ResolvedRefs", .status = true, .reason = "ResolvedRefs", .message = message};
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
