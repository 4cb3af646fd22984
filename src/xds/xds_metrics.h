#pragma once

#include "common/metrics.h"
#include "xds/node_status.h"
#include "xds/write_budget.h"

namespace propsy::xds {

// The xDS server's metrics (docs/metrics.md): open streams and nodes,
// responses, resources, ACKs and NACKs per resource type, identity
// rejections, and the write budget's bytes in flight, waiting and stalled
// writes. Values are read from `nodes` and `budget` at every scrape, so both
// must outlive the scrapes.
void RegisterXdsMetrics(metrics::Registry& registry, const NodeStatusRegistry& nodes,
                        const WriteBudget& budget);

}  // namespace propsy::xds
