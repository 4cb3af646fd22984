#pragma once

#include "common/metrics.h"
#include "control/controller.h"
#include "control/world_config_watcher.h"

namespace propsy::control {

// Histograms of the publish path; the wiring observes into them.
struct PublishHistograms {
  // First unpublished source event → publish (debouncing included).
  metrics::Histogram& delay;
  // Translation and hand-off of one published World to the streams.
  metrics::Histogram& duration;
};
PublishHistograms RegisterPublishHistograms(metrics::Registry& registry);

// The controller's and the translator's metrics (docs/metrics.md): objects,
// staleness and input problems per cluster, publishes, translation work.
// Read from `controller` and `watcher` at every scrape, so both must
// outlive the scrapes.
void RegisterControlMetrics(metrics::Registry& registry, const Controller& controller,
                            const WorldConfigWatcher& watcher);

}  // namespace propsy::control
