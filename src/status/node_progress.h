#pragma once

// Which connected nodes hold which resources acknowledged: the nodes' side
// of the Programmed condition, gathered once per evaluation from the xDS
// server's NodeStatusRegistry and the nodes' current snapshots.

#include <array>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "xds/config_watcher.h"
#include "xds/node_status.h"
#include "xds/resource_type.h"

namespace propsy::status {

// A resource of a node's current snapshot that its client does not hold
// acknowledged.
struct Shortfall {
  bool rejected = false;  // the client NACKed this version; else not yet answered or sent
  std::string error;      // the NACK's message
};

// One connected node (streams of one id, zone and transport merged).
struct NodeProgress {
  xds::NodeInfo node;
  // Per type: name -> what is missing. A node that holds everything of its
  // current snapshot acknowledged has none.
  std::array<std::map<std::string, Shortfall>, xds::kResourceTypeCount> shortfalls;
  bool has_snapshot = true;  // false: nothing is served to it yet (all pending)
};

// Compares each node's current snapshot (`snapshot_of`, the ConfigWatcher's
// Fetch) with what its streams hold. Only types the node asked for count:
// a resource of a type it never requested is nobody's shortfall.
std::vector<NodeProgress> GatherNodeProgress(
    const std::vector<xds::NodeStatusRegistry::StreamAnswers>& streams,
    const std::function<xds::SnapshotPtr(const xds::NodeInfo&)>& snapshot_of);

}  // namespace propsy::status
