#include "sources/source_metrics.h"

#include <memory>

namespace propsy::sources {
namespace {

metrics::Collector PerCollection(std::shared_ptr<const std::vector<LabelledSource>> sources,
                                 uint64_t CollectionCounters::*field) {
  return [sources = std::move(sources), field] {
    std::vector<metrics::Sample> samples;
    for (const LabelledSource& labelled : *sources) {
      for (const CollectionCounters& counters : labelled.source->Counters()) {
        samples.push_back({.labels = {labelled.cluster, labelled.role, counters.resource},
                           .value = double(counters.*field)});
      }
    }
    return samples;
  };
}

}  // namespace

void RegisterSourceMetrics(metrics::Registry& registry, std::vector<LabelledSource> sources) {
  auto shared = std::make_shared<const std::vector<LabelledSource>>(std::move(sources));
  const std::vector<std::string> labels = {"cluster", "role", "resource"};
  registry.AddCounterCollector("propsy_source_lists_total",
                               "Complete LISTs of a collection applied, relists included.", labels,
                               PerCollection(shared, &CollectionCounters::lists));
  registry.AddCounterCollector(
      "propsy_source_relists_total",
      "LISTs after the first (the watch's version expired, 410, or there was none to resume).",
      labels, PerCollection(shared, &CollectionCounters::relists));
  registry.AddCounterCollector("propsy_source_watches_total", "Watch requests started.", labels,
                               PerCollection(shared, &CollectionCounters::watches));
  registry.AddCounterCollector(
      "propsy_source_watch_restarts_total",
      "Watches that ended and were followed by another (the server's timeout, a failure, or a "
      "connection found dead).",
      labels, PerCollection(shared, &CollectionCounters::watch_restarts));
  registry.AddCounterCollector(
      "propsy_source_decode_errors_total",
      "Malformed watch lines and objects, skipped or kept at their last good version.", labels,
      PerCollection(shared, &CollectionCounters::decode_errors));
}

}  // namespace propsy::sources
