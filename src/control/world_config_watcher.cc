#include "control/world_config_watcher.h"

#include <utility>
#include <vector>

namespace propsy::control {

WorldConfigWatcher::WorldConfigWatcher(translate::TranslateOptions options)
    : translator_(std::move(options), interner_) {}

void WorldConfigWatcher::Publish(model::WorldPtr world) {
  auto map = std::make_shared<xds::SnapshotNotifier::SnapshotMap>();
  {
    absl::MutexLock lock(&translator_mu_);
    translated_world_ = world;
    translator_.SetWorld(world);
    std::vector<std::pair<xds::SnapshotNotifier::Key, xds::NodeInfo>> nodes =
        notifier_.WatchedNodes();
    map->reserve(nodes.size());
    for (const auto& [key, node] : nodes) {
      if (xds::SnapshotPtr snapshot = TranslateLocked(key, node)) map->emplace(key, snapshot);
    }
    // Forget nodes nobody watches any more, so node churn does not grow memory.
    std::erase_if(last_good_, [&map](const auto& entry) { return !map->contains(entry.first); });
    translator_.Prune();
    CopyCountersLocked();
  }
  {
    absl::MutexLock lock(&published_mu_);
    world_ = std::move(world);
  }
  // Maps are made and handed over on this one thread, so they reach the
  // notifier in order; a node first watched meanwhile was translated in the
  // newest World already.
  notifier_.Publish(std::move(map));
}

model::WorldPtr WorldConfigWatcher::world() const {
  absl::MutexLock lock(&published_mu_);
  return world_;
}

TranslationCounters WorldConfigWatcher::translation_counters() const {
  absl::MutexLock lock(&published_mu_);
  return counters_;
}

xds::SnapshotPtr WorldConfigWatcher::Fetch(const xds::NodeInfo& node) {
  const xds::SnapshotNotifier::Key key = KeyOf(node);
  if (xds::SnapshotPtr published = notifier_.Find(key)) return published;
  absl::MutexLock lock(&translator_mu_);
  xds::SnapshotPtr snapshot = TranslateLocked(key, node);
  CopyCountersLocked();
  return snapshot;
}

std::unique_ptr<xds::WatchHandle> WorldConfigWatcher::Watch(const xds::NodeInfo& node, Wake wake) {
  const xds::SnapshotNotifier::Key key = KeyOf(node);
  if (auto handle = notifier_.WatchIfPublished(key, node, wake)) return handle;
  // A node not in the map: translated now, in the newest World, and watched
  // before the lock is released, so the next Publish includes it.
  absl::MutexLock lock(&translator_mu_);
  xds::SnapshotPtr snapshot = TranslateLocked(key, node);
  CopyCountersLocked();
  return notifier_.Watch(key, node, std::move(snapshot), std::move(wake));
}

xds::SnapshotNotifier::Key WorldConfigWatcher::KeyOf(const xds::NodeInfo& node) {
  // The id's length first, so no id and zone pair can spell another's key.
  std::string key = std::to_string(node.id.size());
  key.reserve(key.size() + node.id.size() + node.zone.size() + 2);
  key.push_back(node.uses_ads ? 'a' : 't');
  key.append(node.id).append(node.zone);
  return key;
}

xds::SnapshotPtr WorldConfigWatcher::TranslateLocked(const xds::SnapshotNotifier::Key& key,
                                                     const xds::NodeInfo& node) {
  if (translated_world_ == nullptr) return nullptr;
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

void WorldConfigWatcher::CopyCountersLocked() {
  TranslationCounters counters = translator_.counters();
  absl::MutexLock lock(&published_mu_);
  counters_ = counters;
}

}  // namespace propsy::control
