#include "xds/snapshot_notifier.h"

#include <utility>

namespace propsy::xds {

// One watch. Its snapshot and wake function have their own lock, so a wake
// never runs under the notifier's lock and a cancelled watch is quiet.
struct SnapshotNotifier::Slot {
  absl::Mutex mu;
  SnapshotPtr latest ABSL_GUARDED_BY(mu);
  Wake wake ABSL_GUARDED_BY(mu);  // empty once cancelled

  // Makes `snapshot` the watch's newest; whether it changed anything.
  bool Offer(const SnapshotPtr& snapshot) {
    absl::MutexLock lock(&mu);
    if (SameVersions(latest, snapshot)) return false;
    latest = snapshot;
    return true;
  }
  void WakeUp() {
    absl::MutexLock lock(&mu);
    if (wake) wake();
  }
};

class SnapshotNotifier::Handle : public WatchHandle {
 public:
  Handle(SnapshotNotifier& notifier, Key key, std::shared_ptr<Slot> slot)
      : notifier_(notifier), key_(std::move(key)), slot_(std::move(slot)) {}
  ~Handle() override {
    notifier_.Cancel(key_, slot_.get());
    absl::MutexLock lock(&slot_->mu);  // waits for a wake in progress
    slot_->wake = nullptr;
  }

  SnapshotPtr Latest() const override {
    absl::MutexLock lock(&slot_->mu);
    return slot_->latest;
  }

 private:
  SnapshotNotifier& notifier_;
  const Key key_;
  const std::shared_ptr<Slot> slot_;
};

bool SameVersions(const SnapshotPtr& a, const SnapshotPtr& b) {
  if (a == b) return true;
  if (a == nullptr || b == nullptr) return false;
  for (int i = 0; i < kResourceTypeCount; ++i) {
    auto type = static_cast<ResourceType>(i);
    if (a->Of(type).version != b->Of(type).version) return false;
  }
  return true;
}

SnapshotNotifier::SnapshotNotifier() : map_(std::make_shared<const SnapshotMap>()) {}

SnapshotNotifier::~SnapshotNotifier() = default;

void SnapshotNotifier::Publish(MapPtr map) {
  std::vector<std::shared_ptr<Slot>> woken;
  MapPtr previous;
  {
    absl::MutexLock lock(&mu_);
    previous = std::exchange(map_, std::move(map));
    for (auto& [key, entry] : watched_) {
      auto found = map_->find(key);
      if (found == map_->end() || found->second == entry.offered) continue;
      for (const std::shared_ptr<Slot>& slot : entry.slots) {
        if (slot->Offer(found->second)) woken.push_back(slot);
      }
      entry.offered = found->second;
    }
  }
  // The previous map (and snapshots only it held) is freed here, unlocked.
  previous.reset();
  for (const std::shared_ptr<Slot>& slot : woken) slot->WakeUp();
}

SnapshotPtr SnapshotNotifier::Find(const Key& key) const {
  absl::MutexLock lock(&mu_);
  auto found = map_->find(key);
  return found == map_->end() ? nullptr : found->second;
}

std::unique_ptr<WatchHandle> SnapshotNotifier::Watch(const Key& key, const NodeInfo& node,
                                                     SnapshotPtr initial, Wake wake) {
  absl::MutexLock lock(&mu_);
  return WatchLocked(key, node, std::move(initial), std::move(wake));
}

std::unique_ptr<WatchHandle> SnapshotNotifier::WatchIfPublished(const Key& key,
                                                                const NodeInfo& node, Wake wake) {
  absl::MutexLock lock(&mu_);
  auto found = map_->find(key);
  if (found == map_->end()) return nullptr;
  return WatchLocked(key, node, found->second, std::move(wake));
}

std::unique_ptr<WatchHandle> SnapshotNotifier::WatchLocked(const Key& key, const NodeInfo& node,
                                                           SnapshotPtr initial, Wake wake) {
  auto [entry, inserted] = watched_.try_emplace(key);
  if (inserted) entry->second.node = node;
  if (!SameVersions(entry->second.offered, initial)) entry->second.offered = nullptr;
  auto slot = std::make_shared<Slot>();
  {
    absl::MutexLock slot_lock(&slot->mu);
    slot->latest = std::move(initial);
    slot->wake = std::move(wake);
  }
  entry->second.slots.push_back(slot);
  ++watch_count_;
  return std::make_unique<Handle>(*this, key, std::move(slot));
}

void SnapshotNotifier::Cancel(const Key& key, const Slot* slot) {
  absl::MutexLock lock(&mu_);
  auto entry = watched_.find(key);
  if (entry == watched_.end()) return;
  std::vector<std::shared_ptr<Slot>>& slots = entry->second.slots;
  for (auto it = slots.begin(); it != slots.end(); ++it) {
    if (it->get() != slot) continue;
    *it = std::move(slots.back());
    slots.pop_back();
    --watch_count_;
    break;
  }
  // An entry left without watches stays until WatchedNodes reports it once.
}

std::vector<std::pair<SnapshotNotifier::Key, NodeInfo>> SnapshotNotifier::WatchedNodes() {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<Key, NodeInfo>> nodes;
  nodes.reserve(watched_.size());
  for (auto it = watched_.begin(); it != watched_.end();) {
    nodes.emplace_back(it->first, it->second.node);
    if (it->second.slots.empty()) {
      it = watched_.erase(it);
    } else {
      ++it;
    }
  }
  return nodes;
}

size_t SnapshotNotifier::watch_count() const {
  absl::MutexLock lock(&mu_);
  return watch_count_;
}

}  // namespace propsy::xds
