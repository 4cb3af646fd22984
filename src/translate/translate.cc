#include "translate/translate.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "translate/clusters.h"
#include "translate/config_source.h"
#include "translate/conflicts.h"
#include "translate/endpoints.h"
#include "translate/listeners.h"
#include "translate/names.h"
#include "translate/node_translation.h"
#include "translate/service_resolution.h"
#include "translate/tls.h"
#include "translate/weights.h"

namespace propsy::translate {
namespace {

template <typename Message>
void SortByName(std::vector<Message>& messages) {
  std::sort(messages.begin(), messages.end(),
            [](const Message& a, const Message& b) { return a.name() < b.name(); });
}

}  // namespace

ServiceClusters TranslateServiceClusters(const model::World& world, std::string_view local_zone,
                                         const ResolvedService& service,
                                         const envoy::config::core::v3::ConfigSource& source) {
  const model::ProPsyServiceSpec& spec = service.Spec();
  const bool local = service.governing_is_local;
  const UpstreamPlan upstreams =
      PlanUpstreams(world, local_zone, service.key.namespace_name, spec, local);
  const std::vector<WeightedClusterShare> shares =
      ComputeShares({.local_definition = local,
                     .percent = spec.percent,
                     .canary_percent = spec.canary_percent,
                     .remote_count = upstreams.remotes.size(),
                     .canary_available = !upstreams.canary.empty()});

  ServiceClusters out;
  for (const WeightedClusterShare& share : shares) {
    std::string name;
    std::vector<const EndpointGroup*> levels;
    switch (share.role) {
      case ShareRole::kPrimary:
        name = PrimaryClusterName(service.key);
        // Remotes follow the primary as failover priorities. A primary
        // without endpoints has no remotes either: the assignment stays
        // empty and Envoy answers 503.
        if (!upstreams.primary.hosts.empty()) {
          levels.push_back(&upstreams.primary);
          for (const EndpointGroup& remote : upstreams.remotes) levels.push_back(&remote);
        }
        break;
      case ShareRole::kRemote: {
        const EndpointGroup& remote = upstreams.remotes[share.remote_index];
        name = RemoteClusterName(service.key, remote.cluster->name);
        levels.push_back(&remote);
        break;
      }
      case ShareRole::kCanary:
        name = CanaryClusterName(service.key);
        for (const EndpointGroup& group : upstreams.canary) levels.push_back(&group);
        break;
    }
    out.clusters.push_back(BuildCluster(name, spec, source));
    out.endpoints.push_back(BuildLoadAssignment(name, levels));
    out.targets.push_back({.cluster_name = name, .weight = share.weight});
  }
  return out;
}

NodeResources TranslateListeners(const model::World& world, const NodePlan& plan,
                                 const envoy::config::core::v3::ConfigSource& source,
                                 const TargetsOf& targets_of) {
  NodeResources out;
  std::map<std::string, envoy::extensions::transport_sockets::tls::v3::Secret> secrets;
  for (const ListenerPlan& listener : plan.listeners) {
    std::optional<ListenerTls> tls;
    if (!listener.tls_source->Spec().tls_certificate_secret.empty()) {
      const SecretResolution secret = ResolveTlsSecret(world, *listener.tls_source);
      // A TLS listener without a usable certificate is not served at all:
      // serving it in plaintext would leak what clients meant to encrypt.
      if (!secret.ok) continue;
      secrets.try_emplace(secret.envoy_name, BuildSecret(secret.envoy_name, *secret.secret));
      tls = ListenerTls{.secret_name = secret.envoy_name, .sds_source = source};
    }
    std::vector<ServiceRoute> routes;
    for (const ResolvedService* service : listener.services) {
      routes.push_back(ServiceRoute{.name = service->key.ToString(),
                                    .spec = &service->Spec(),
                                    .targets = targets_of(*service)});
    }
    if (listener.type == model::ServiceType::kTcp) {
      out.listeners.push_back(
          BuildTcpListener(listener.name, listener.address, routes.front(), tls));
    } else {
      out.listeners.push_back(BuildHttpListener(listener.name, listener.address, source, tls));
      out.routes.push_back(BuildRouteConfiguration(listener.name, routes));
    }
  }
  for (auto& [name, secret] : secrets) out.secrets.push_back(std::move(secret));
  SortByName(out.listeners);
  SortByName(out.routes);
  return out;
}

NodeResources Translate(const model::World& world, const NodeContext& node,
                        const TranslateOptions& options) {
  const std::string local_zone(LocalZone(node.zone, options.default_zone));
  const std::vector<ResolvedService> services = ResolveServices(world, local_zone);
  const std::optional<std::string> node_id = node.id;
  std::vector<const ResolvedService*> targeting;
  for (const ResolvedService& service : services) {
    if (service.HasDefinition() && TargetsNode(service.Spec(), node_id)) {
      targeting.push_back(&service);
    }
  }
  const NodePlan plan = PlanListeners(std::move(targeting));
  const envoy::config::core::v3::ConfigSource source =
      MakeConfigSource(node.uses_ads, options.xds_cluster_name);

  std::vector<envoy::config::cluster::v3::Cluster> clusters;
  std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment> endpoints;
  NodeResources out = TranslateListeners(world, plan, source, [&](const ResolvedService& service) {
    ServiceClusters parts = TranslateServiceClusters(world, local_zone, service, source);
    for (auto& cluster : parts.clusters) clusters.push_back(std::move(cluster));
    for (auto& assignment : parts.endpoints) endpoints.push_back(std::move(assignment));
    return std::move(parts.targets);
  });
  out.clusters = std::move(clusters);
  out.endpoints = std::move(endpoints);
  SortByName(out.clusters);
  std::sort(out.endpoints.begin(), out.endpoints.end(),
            [](const auto& a, const auto& b) { return a.cluster_name() < b.cluster_name(); });
  return out;
}

}  // namespace propsy::translate
