#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "absl/base/thread_annotations.h"
#include "control/incremental_translator.h"
#include "model/world.h"
#include "translate/translate.h"
#include "xds/config_watcher.h"
#include "xds/resource.h"

namespace propsy::control {

// The ConfigWatcher that serves translated configuration: every node's
// snapshot is Translate(world, node) for the newest published World.
//
// States: before the first Publish nothing is served (Fetch returns null and
// watchers wait), which is how readiness gating reaches Envoy. After it, each
// watch gets its node's snapshot at once and again whenever a publish changes
// it. A node whose translation is inconsistent keeps its previous snapshot
// (the error is logged and counted), never an empty or partial one.
//
// Translation is incremental (IncrementalTranslator): a publish re-translates
// only the services whose inputs changed, and nodes that get the same
// services share one snapshot. Thread-safe; callbacks run under the
// watcher's lock, which is what makes a cancelled watch quiet.
class WorldConfigWatcher : public xds::ConfigWatcher {
 public:
  explicit WorldConfigWatcher(translate::TranslateOptions options);

  // Replaces the world and pushes changed snapshots to every watcher.
  void Publish(model::WorldPtr world);

  // The newest published world; null before the first publish.
  model::WorldPtr world() const;
  // Translation work and failed consistency checks, since start.
  TranslationCounters translation_counters() const;

  xds::SnapshotPtr Fetch(const xds::NodeInfo& node) override;
  std::unique_ptr<xds::WatchHandle> Watch(const xds::NodeInfo& node, Callback on_change) override;

 private:
  class Handle;
  // id, zone and transport in one string: hashed once per lookup.
  using NodeKey = std::string;
  static NodeKey KeyOf(const xds::NodeInfo& node);
  struct Watcher {
    xds::NodeInfo node;
    Callback on_change;
    xds::SnapshotPtr last_sent;
  };

  xds::SnapshotPtr SnapshotForLocked(const xds::NodeInfo& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Cancel(uint64_t id);

  mutable std::mutex mu_;
  model::WorldPtr world_ ABSL_GUARDED_BY(mu_);
  xds::ResourceInterner interner_;
  IncrementalTranslator translator_ ABSL_GUARDED_BY(mu_);
  // Last good snapshot per node, kept across publishes for the
  // inconsistent-translation fallback.
  std::unordered_map<NodeKey, xds::SnapshotPtr> last_good_ ABSL_GUARDED_BY(mu_);
  // A watch was cancelled since the last prune of `last_good_`.
  bool cancelled_since_prune_ ABSL_GUARDED_BY(mu_) = false;
  std::map<uint64_t, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_watch_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace propsy::control
