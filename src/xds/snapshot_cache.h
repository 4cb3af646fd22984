#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "xds/config_watcher.h"
#include "xds/snapshot_notifier.h"

namespace propsy::xds {

// A ConfigWatcher holding explicit snapshots keyed by node id: whoever owns
// the configuration calls SetSnapshot, and watchers of that node are woken
// when its versions change. Nodes without a snapshot get nothing until one
// is set. Must outlive the watch handles it gives out.
class SnapshotCache : public ConfigWatcher {
 public:
  SnapshotCache() = default;

  void SetSnapshot(const std::string& node_id, SnapshotPtr snapshot);
  void ClearSnapshot(const std::string& node_id);

  SnapshotPtr Fetch(const NodeInfo& node) override;
  std::unique_ptr<WatchHandle> Watch(const NodeInfo& node, Wake wake) override;

 private:
  // Serializes setters, so maps are published in the order they were made.
  absl::Mutex mu_;
  std::map<std::string, SnapshotPtr> snapshots_ ABSL_GUARDED_BY(mu_);
  SnapshotNotifier notifier_;
};

}  // namespace propsy::xds
