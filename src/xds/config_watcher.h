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

// A node's watch: its newest snapshot, and a wake function called when that
// changes. Cancels the watch when destroyed; after the destructor returns
// the wake function is not running and will not run again.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
  // The watched node's newest snapshot; null while none is ready.
  virtual SnapshotPtr Latest() const = 0;
};

// The seam between xDS serving and where configuration comes from. Streams
// never see Kubernetes or files: they watch a node's snapshot here.
class ConfigWatcher {
 public:
  // Told that the watch's snapshot changed; does no work itself (it runs on
  // the publisher's thread) but schedules the stream's own turn, which then
  // reads WatchHandle::Latest.
  using Wake = std::function<void()>;

  virtual ~ConfigWatcher() = default;

  // The node's current snapshot, or null while none is ready (for example
  // before the initial sync of the sources).
  virtual SnapshotPtr Fetch(const NodeInfo& node) = 0;

  // Watches the node: the handle's Latest() is its snapshot now (if one is
  // ready), and `wake` is called each time it changes. Wakes may come from
  // any thread, one at a time per watch.
  virtual std::unique_ptr<WatchHandle> Watch(const NodeInfo& node, Wake wake) = 0;
};

}  // namespace propsy::xds
