#include "xds/snapshot_cache.h"

namespace propsy::xds {

void SnapshotCache::SetSnapshot(const std::string& node_id, SnapshotPtr snapshot) {
  absl::MutexLock lock(&mu_);
  snapshots_[node_id] = std::move(snapshot);
  notifier_.WatchedNodes();  // forgets nodes nobody watches any more
  notifier_.Publish(
      std::make_shared<const SnapshotNotifier::SnapshotMap>(snapshots_.begin(), snapshots_.end()));
}

void SnapshotCache::ClearSnapshot(const std::string& node_id) {
  absl::MutexLock lock(&mu_);
  snapshots_.erase(node_id);
  notifier_.Publish(
      std::make_shared<const SnapshotNotifier::SnapshotMap>(snapshots_.begin(), snapshots_.end()));
}

SnapshotPtr SnapshotCache::Fetch(const NodeInfo& node) { return notifier_.Find(node.id); }

std::unique_ptr<WatchHandle> SnapshotCache::Watch(const NodeInfo& node, Wake wake) {
  absl::MutexLock lock(&mu_);  // no SetSnapshot between reading and registering
  return notifier_.Watch(node.id, node, notifier_.Find(node.id), std::move(wake));
}

}  // namespace propsy::xds
