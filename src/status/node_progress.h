#pragma once

// Which connected nodes hold which resources acknowledged: the nodes' side
// of the Programmed condition, gathered once per evaluation from the xDS
// server's NodeStatusRegistry and the nodes' current snapshots.

#include <array>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
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

// The gathered nodes by id, built once per evaluation: an object that names
// 500 of 5,000 nodes looks up its 500 instead of asking about all 5,000
// (that was the larger part of an evaluation at 5,000 nodes). Refers to
// `nodes`, which must outlive it.
class NodeProgressIndex {
 public:
  explicit NodeProgressIndex(const std::vector<NodeProgress>& nodes);

  const std::vector<NodeProgress>& nodes() const { return nodes_; }
  // Positions in nodes() of the nodes `names` targets ("*": every node),
  // ascending and each once, so counting in this order counts as a walk
  // over nodes() would.
  std::vector<size_t> Targeted(const std::vector<std::string>& names) const;

 private:
  const std::vector<NodeProgress>& nodes_;
  // A node id may have several entries (zones, transports).
  std::unordered_map<std::string_view, std::vector<size_t>> by_id_;
};

}  // namespace propsy::status
