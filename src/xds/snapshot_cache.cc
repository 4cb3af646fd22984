#include "xds/snapshot_cache.h"

namespace propsy::xds {

class SnapshotCache::Handle : public WatchHandle {
 public:
  Handle(SnapshotCache& cache, uint64_t id) : cache_(cache), id_(id) {}
  ~Handle() override { cache_.Cancel(id_); }

 private:
  SnapshotCache& cache_;
  uint64_t id_;
};

void SnapshotCache::SetSnapshot(const std::string& node_id, SnapshotPtr snapshot) {
  std::lock_guard lock(mu_);
  snapshots_[node_id] = snapshot;
  auto [begin, end] = watch_ids_by_node_.equal_range(node_id);
  for (auto it = begin; it != end; ++it) watchers_.at(it->second).on_change(snapshot);
}

void SnapshotCache::ClearSnapshot(const std::string& node_id) {
  std::lock_guard lock(mu_);
  snapshots_.erase(node_id);
}

SnapshotPtr SnapshotCache::Fetch(const NodeInfo& node) {
  std::lock_guard lock(mu_);
  auto it = snapshots_.find(node.id);
  return it == snapshots_.end() ? nullptr : it->second;
}

std::unique_ptr<WatchHandle> SnapshotCache::Watch(const NodeInfo& node, Callback on_change) {
  std::lock_guard lock(mu_);
  uint64_t id = next_watch_id_++;
  auto snapshot = snapshots_.find(node.id);
  if (snapshot != snapshots_.end()) on_change(snapshot->second);
  watchers_.emplace(id, Watcher{node.id, std::move(on_change)});
  watch_ids_by_node_.emplace(node.id, id);
  return std::make_unique<Handle>(*this, id);
}

void SnapshotCache::Cancel(uint64_t watch_id) {
  std::lock_guard lock(mu_);
  auto watcher = watchers_.find(watch_id);
  if (watcher == watchers_.end()) return;
  auto [begin, end] = watch_ids_by_node_.equal_range(watcher->second.node_id);
  for (auto it = begin; it != end; ++it) {
    if (it->second == watch_id) {
      watch_ids_by_node_.erase(it);
      break;
    }
  }
  watchers_.erase(watcher);
}

}  // namespace propsy::xds
