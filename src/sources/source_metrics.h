#pragma once

#include <string>
#include <vector>

#include "common/metrics.h"
#include "sources/cluster_source.h"

namespace propsy::sources {

// A source as the metrics name it: its cluster (the flag's name) and role.
struct LabelledSource {
  std::string cluster;
  std::string role;  // "config" or "endpoint"
  const ClusterSource* source = nullptr;
};

// The sources' metrics (docs/metrics.md), one family per meaning, labelled
// cluster, role and resource: lists, relists, watches, watch restarts and
// decode errors. Read from the sources at every scrape, so they must outlive
// the scrapes.
void RegisterSourceMetrics(metrics::Registry& registry, std::vector<LabelledSource> sources);

}  // namespace propsy::sources
