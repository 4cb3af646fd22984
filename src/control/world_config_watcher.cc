#include "control/world_config_watcher.h"

#include <fmt/format.h>

namespace propsy::control {
namespace {

bool SameVersions(const xds::SnapshotPtr& a, const xds::SnapshotPtr& b) {
  if (a == b) return true;
  if (a == nullptr || b == nullptr) return false;
  for (int i = 0; i < xds::kResourceTypeCount; ++i) {
    auto type = static_cast<xds::ResourceType>(i);
    if (a->Of(type).version != b->Of(type).version) return false;
  }
  return true;
}

}  // namespace

class WorldConfigWatcher::Handle : public xds::WatchHandle {
 public:
  Handle(WorldConfigWatcher& watcher, uint64_t id) : watcher_(watcher), id_(id) {}
  ~Handle() override { watcher_.Cancel(id_); }

 private:
  WorldConfigWatcher& watcher_;
  uint64_t id_;
};

WorldConfigWatcher::WorldConfigWatcher(translate::TranslateOptions options)
    : translator_(std::move(options), interner_) {}

void WorldConfigWatcher::Publish(model::WorldPtr world) {
  std::lock_guard lock(mu_);
  world_ = std::move(world);
  translator_.SetWorld(world_);
  for (auto& [id, watcher] : watchers_) {
    xds::SnapshotPtr snapshot = SnapshotForLocked(watcher.node);
    if (snapshot == nullptr || SameVersions(snapshot, watcher.last_sent)) continue;
    watcher.last_sent = snapshot;
    watcher.on_change(snapshot);
  }
  // Forget nodes nobody watches any more, so node churn does not grow memory.
  if (cancelled_since_prune_) {
    std::unordered_set<NodeKey> watched;
    for (const auto& [id, watcher] : watchers_) watched.insert(KeyOf(watcher.node));
    std::erase_if(last_good_,
                  [&watched](const auto& entry) { return !watched.contains(entry.first); });
    cancelled_since_prune_ = false;
  }
  translator_.Prune();
}

model::WorldPtr WorldConfigWatcher::world() const {
  std::lock_guard lock(mu_);
  return world_;
}

TranslationCounters WorldConfigWatcher::translation_counters() const {
  std::lock_guard lock(mu_);
  return translator_.counters();
}

xds::SnapshotPtr WorldConfigWatcher::Fetch(const xds::NodeInfo& node) {
  std::lock_guard lock(mu_);
  return SnapshotForLocked(node);
}

std::unique_ptr<xds::WatchHandle> WorldConfigWatcher::Watch(const xds::NodeInfo& node,
                                                            Callback on_change) {
  std::lock_guard lock(mu_);
  uint64_t id = next_watch_id_++;
  Watcher watcher{.node = node, .on_change = std::move(on_change), .last_sent = nullptr};
  watcher.last_sent = SnapshotForLocked(node);
  if (watcher.last_sent != nullptr) watcher.on_change(watcher.last_sent);
  watchers_.emplace(id, std::move(watcher));
  return std::make_unique<Handle>(*this, id);
}

void WorldConfigWatcher::Cancel(uint64_t id) {
  std::lock_guard lock(mu_);
  watchers_.erase(id);
  cancelled_since_prune_ = true;
}

WorldConfigWatcher::NodeKey WorldConfigWatcher::KeyOf(const xds::NodeInfo& node) {
  return fmt::format("{}\0{}\0{}", node.id, node.zone, node.uses_ads ? 1 : 0);
}

xds::SnapshotPtr WorldConfigWatcher::SnapshotForLocked(const xds::NodeInfo& node) {
  if (world_ == nullptr) return nullptr;
  const NodeKey key = KeyOf(node);
  absl::StatusOr<xds::SnapshotPtr> snapshot = translator_.SnapshotFor(
      translate::NodeContext{.id = node.id, .zone = node.zone, .uses_ads = node.uses_ads});
  if (!snapshot.ok()) {
    // The translator counted and logged it; the node stays on its last good.
    auto last = last_good_.find(key);
    return last == last_good_.end() ? nullptr : last->second;
  }
  xds::SnapshotPtr& last_good = last_good_[key];
  if (last_good != *snapshot) last_good = *snapshot;
  return *snapshot;
}

}  // namespace propsy::control
