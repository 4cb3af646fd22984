#pragma once

#include <functional>
#include <memory>
#include <string>

#include "xds/snapshot.h"

namespace propsy::xds {

// Who is asking: the node as it identified itself on the stream.
struct NodeInfo {
  std::string id;
  std::string zone;       // the node's own locality.zone; empty if it reports none
  bool uses_ads = false;  // config sources in its resources should point to ADS
};

// Cancels a watch when destroyed. After the destructor returns the callback
// is not running and will not run again.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
};

// The seam between xDS serving and where configuration comes from. Streams
// never see Kubernetes or files: they watch a node's snapshot here.
class ConfigWatcher {
 public:
  using Callback = std::function<void(SnapshotPtr)>;

  virtual ~ConfigWatcher() = default;

  // The node's current snapshot, or null while none is ready (for example
  // before the initial sync of the sources).
  virtual SnapshotPtr Fetch(const NodeInfo& node) = 0;

  // Calls `on_change` with the node's snapshot now (if one is ready) and each
  // time it changes. Calls may come from any thread, one at a time per watch.
  virtual std::unique_ptr<WatchHandle> Watch(const NodeInfo& node, Callback on_change) = 0;
};

}  // namespace propsy::xds
