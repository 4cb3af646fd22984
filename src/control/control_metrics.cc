#include "control/control_metrics.h"

#include <functional>
#include <string>
#include <vector>

namespace propsy::control {
namespace {

const char* Role(const Controller::ClusterStatus& cluster) {
  return cluster.is_config ? "config" : "endpoint";
}

// One sample per cluster (labels cluster, role) of `value`.
metrics::Collector PerCluster(const Controller& controller,
                              std::function<double(const Controller::ClusterStatus&)> value) {
  return [&controller, value = std::move(value)] {
    std::vector<metrics::Sample> samples;
    for (const Controller::ClusterStatus& cluster : controller.Clusters()) {
      samples.push_back({.labels = {cluster.info.name, Role(cluster)}, .value = value(cluster)});
    }
    return samples;
  };
}

metrics::Collector Translation(const WorldConfigWatcher& watcher,
                               uint64_t TranslationCounters::*field) {
  return [&watcher, field] {
    return std::vector<metrics::Sample>{
        {.labels = {}, .value = double(watcher.translation_counters().*field)}};
  };
}

}  // namespace

PublishHistograms RegisterPublishHistograms(metrics::Registry& registry) {
  return PublishHistograms{
      .delay = registry
                   .AddHistogram("propsy_publish_delay_seconds",
                                 "Delay from the first unpublished source event to the publish of "
                                 "the configuration it caused (debouncing included).",
                                 {}, metrics::DefaultLatencyBuckets())
                   .Get(),
      .duration = registry
                      .AddHistogram("propsy_publish_duration_seconds",
                                    "Time to translate a published configuration and hand every "
                                    "changed node's snapshot to its streams.",
                                    {}, metrics::DefaultLatencyBuckets())
                      .Get(),
  };
}

void RegisterControlMetrics(metrics::Registry& registry, const Controller& controller,
                            const WorldConfigWatcher& watcher) {
  registry.AddGaugeCollector(
      "propsy_cluster_objects", "Objects held per cluster and kind.", {"cluster", "role", "kind"},
      [&controller] {
        std::vector<metrics::Sample> samples;
        for (const Controller::ClusterStatus& cluster : controller.Clusters()) {
          if (cluster.is_config) {
            samples.push_back({.labels = {cluster.info.name, Role(cluster), "ProPsyService"},
                               .value = double(cluster.services)});
            samples.push_back({.labels = {cluster.info.name, Role(cluster), "Secret"},
                               .value = double(cluster.secrets)});
          } else {
            samples.push_back({.labels = {cluster.info.name, Role(cluster), "ServiceEndpoints"},
                               .value = double(cluster.endpoint_services)});
          }
        }
        return samples;
      });
  registry.AddGaugeCollector("propsy_cluster_stale",
                             "1 while a cluster is unreachable and its last known state is served.",
                             {"cluster", "role"},
                             PerCluster(controller, [](const Controller::ClusterStatus& cluster) {
                               return cluster.stale ? 1.0 : 0.0;
                             }));
  registry.AddGaugeCollector(
      "propsy_cluster_stale_since_timestamp_seconds",
      "Since when (Unix time) a stale cluster has been unreachable; 0 while it is not stale.",
      {"cluster", "role"}, PerCluster(controller, [](const Controller::ClusterStatus& cluster) {
        return cluster.stale ? double(cluster.stale_since_unix_ms) / 1000 : 0.0;
      }));
  registry.AddGaugeCollector("propsy_cluster_input_problems",
                             "Input problems (bad files or objects) a cluster currently has.",
                             {"cluster", "role"},
                             PerCluster(controller, [](const Controller::ClusterStatus& cluster) {
                               return double(cluster.problems.size());
                             }));
  registry.AddCounterCollector("propsy_world_publishes_total",
                               "Configuration versions (Worlds) published since start.", {},
                               [&controller] {
                                 return std::vector<metrics::Sample>{
                                     {.labels = {}, .value = double(controller.publishes())}};
                               });
  registry.AddCounterCollector(
      "propsy_world_status_updates_total",
      "Worlds in which only what ProPsyService objects show (status, resourceVersion) changed, "
      "handed to the status writer without translation or publish.",
      {}, [&controller] {
        return std::vector<metrics::Sample>{
            {.labels = {}, .value = double(controller.status_publishes())}};
      });
  registry.AddCounterCollector(
      "propsy_translation_services_translated_total",
      "Service parts (clusters, load assignments) translated because their inputs changed.", {},
      Translation(watcher, &TranslationCounters::services_translated));
  registry.AddCounterCollector(
      "propsy_translation_services_reused_total",
      "Service parts found unchanged in a new configuration and reused without translating.", {},
      Translation(watcher, &TranslationCounters::services_reused));
  registry.AddCounterCollector(
      "propsy_translation_node_classes_built_total",
      "Node classes (nodes getting the same services) whose snapshot was assembled.", {},
      Translation(watcher, &TranslationCounters::node_classes_built));
  registry.AddCounterCollector(
      "propsy_translation_inconsistent_snapshots_total",
      "Assembled snapshots not served because they failed the consistency check (their nodes "
      "kept their last good configuration).",
      {}, Translation(watcher, &TranslationCounters::inconsistent_snapshots));
}

}  // namespace propsy::control
