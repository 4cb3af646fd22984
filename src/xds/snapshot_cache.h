#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "xds/config_watcher.h"

namespace propsy::xds {

// A ConfigWatcher holding explicit snapshots keyed by node id: whoever owns
// the configuration calls SetSnapshot, and watchers of that node are told.
// Nodes without a snapshot get nothing until one is set. Must outlive the
// watch handles it gives out.
class SnapshotCache : public ConfigWatcher {
 public:
  SnapshotCache() = default;

  void SetSnapshot(const std::string& node_id, SnapshotPtr snapshot);
  void ClearSnapshot(const std::string& node_id);

  SnapshotPtr Fetch(const NodeInfo& node) override;
  std::unique_ptr<WatchHandle> Watch(const NodeInfo& node, Callback on_change) override;

 private:
  class Handle;
  struct Watcher {
    std::string node_id;
    Callback on_change;
  };

  void Cancel(uint64_t watch_id);

  // Held while callbacks run, which is what makes a cancelled watch quiet.
  std::mutex mu_;
  std::map<std::string, SnapshotPtr> snapshots_ ABSL_GUARDED_BY(mu_);
  std::multimap<std::string, uint64_t> watch_ids_by_node_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_watch_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace propsy::xds
