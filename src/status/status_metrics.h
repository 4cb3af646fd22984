#pragma once

#include "common/metrics.h"
#include "status/status_writer.h"

namespace propsy::status {

// The status writer's metrics per Kubernetes config cluster (docs/metrics.md):
// leadership, status writes, conflicts and errors, Warning Events, queued
// objects, Lease acquisitions. Read from `writer` at every scrape, so it
// must outlive the scrapes.
void RegisterStatusMetrics(metrics::Registry& registry, const StatusWriter& writer);

}  // namespace propsy::status
