#include "translate/service_findings.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "translate/conflicts.h"
#include "translate/tls.h"

namespace propsy::translate {

const std::string& ClusterName(const model::World& world, const DefinitionEntry& entry) {
  return world.config_clusters[entry.config_cluster].info.name;
}

NodeFindings PlayNodes(const model::World& world, const std::vector<ResolvedService>& services) {
  // Who targets each named node, gathered in one pass over the nodes lists
  // (asking every service about every node costs nodes × services × names:
  // seconds at 5,000 nodes). Lists are in service order, as pointers into
  // `services` are.
  std::vector<const ResolvedService*> everyone;
  std::map<std::string, std::vector<const ResolvedService*>> named;
  for (const ResolvedService& service : services) {
    if (!service.HasDefinition()) continue;
    const std::vector<std::string>& nodes = service.Spec().nodes;
    const bool all = std::find(nodes.begin(), nodes.end(), "*") != nodes.end();
    if (all) everyone.push_back(&service);
    for (const std::string& node : nodes) {
      if (node == "*") continue;
      std::vector<const ResolvedService*>& targeting = named[node];
      if (!all && (targeting.empty() || targeting.back() != &service)) {
        targeting.push_back(&service);
      }
    }
  }
  std::vector<std::vector<const ResolvedService*>> node_targets;
  node_targets.reserve(named.size() + 1);
  for (const auto& [id, targeting] : named) {
    std::vector<const ResolvedService*>& merged = node_targets.emplace_back();
    std::merge(everyone.begin(), everyone.end(), targeting.begin(), targeting.end(),
               std::back_inserter(merged), std::less<const ResolvedService*>());
  }
  node_targets.push_back(everyone);  // a node named nowhere

  NodeFindings findings;
  // Nodes with the same services have the same plan: played once.
  std::set<std::vector<const ResolvedService*>> played;
  for (std::vector<const ResolvedService*>& targeting : node_targets) {
    if (!played.insert(targeting).second) continue;
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

}  // namespace propsy::translate
