#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "xds/config_watcher.h"
#include "xds/snapshot.h"

namespace propsy::xds {

// The hand-off between whoever computes snapshots and the streams that serve
// them: an immutable map node key → snapshot, swapped whole, and a list of
// watches to wake when their node's snapshot changes.
//
// It does no protocol work and no translation: Publish swaps the map under a
// short lock, notes each changed watch's newest snapshot, and calls the
// watches' wake functions after the lock is released. A woken stream reads
// its snapshot (WatchHandle::Latest) and plans its response on its own turn.
//
// Keys are opaque strings (one node or node class each). Which keys a
// publisher must compute is WatchedNodes(): every key watched now or since
// the previous call, so a watch that starts while a map is being computed is
// either in that map or registered with a snapshot at least as new.
// Thread-safe.
class SnapshotNotifier {
 public:
  using Key = std::string;
  using SnapshotMap = std::unordered_map<Key, SnapshotPtr>;
  using MapPtr = std::shared_ptr<const SnapshotMap>;
  using Wake = std::function<void()>;

  SnapshotNotifier();
  ~SnapshotNotifier();
  SnapshotNotifier(const SnapshotNotifier&) = delete;
  SnapshotNotifier& operator=(const SnapshotNotifier&) = delete;

  // Makes `map` current. Watches whose key is in it and whose snapshot
  // differs in some type's version get that snapshot and are woken; watches
  // whose key it lacks keep theirs.
  void Publish(MapPtr map);

  // The key's snapshot in the current map; null when it has none.
  SnapshotPtr Find(const Key& key) const;

  // Watches `key` (for `node`), starting from `initial`. `wake` is called
  // (never under the notifier's lock) after the watch's snapshot changed;
  // it should only schedule work.
  std::unique_ptr<WatchHandle> Watch(const Key& key, const NodeInfo& node, SnapshotPtr initial,
                                     Wake wake);
  // Watches `key` from its snapshot in the current map; null (and nothing
  // registered) when the map has none for it.
  std::unique_ptr<WatchHandle> WatchIfPublished(const Key& key, const NodeInfo& node, Wake wake);

  // The nodes a publisher must compute: those watched now, and those whose
  // last watch ended since the previous call (see the class comment).
  std::vector<std::pair<Key, NodeInfo>> WatchedNodes();

  size_t watch_count() const;

 private:
  class Handle;
  struct Slot;
  struct KeyEntry {
    NodeInfo node;
    std::vector<std::shared_ptr<Slot>> slots;
    // A snapshot every slot holds the versions of (null when unknown), so a
    // Publish that maps the key to it again skips the slots' locks.
    SnapshotPtr offered;
  };

  std::unique_ptr<WatchHandle> WatchLocked(const Key& key, const NodeInfo& node,
                                           SnapshotPtr initial, Wake wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Cancel(const Key& key, const Slot* slot);

  mutable absl::Mutex mu_;
  MapPtr map_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<Key, KeyEntry> watched_ ABSL_GUARDED_BY(mu_);
  size_t watch_count_ ABSL_GUARDED_BY(mu_) = 0;
};

// Whether two snapshots have the same version of every type (equal content).
bool SameVersions(const SnapshotPtr& a, const SnapshotPtr& b);

}  // namespace propsy::xds
