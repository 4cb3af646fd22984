#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "control/incremental_translator.h"
#include "model/world.h"
#include "translate/translate.h"
#include "xds/config_watcher.h"
#include "xds/resource.h"
#include "xds/snapshot_notifier.h"

namespace propsy::control {

// The ConfigWatcher that serves translated configuration: every node's
// snapshot is Translate(world, node) for the newest published World.
//
// Two stages, so serving never waits for translation:
// - The translation stage (Publish, on the controller thread) translates the
//   new World for every watched node under the translator's own lock and
//   builds an immutable map node → snapshot (nodes of one class share one
//   snapshot object). Translation is incremental (IncrementalTranslator).
// - The notifier (xds::SnapshotNotifier) swaps that map under a short lock
//   and wakes the streams whose snapshot versions changed; each stream plans
//   its response on its own gRPC turn.
// A stream of a node already in the map starts from the map without touching
// the translator; only a node not seen before is translated at once, under
// the translator's lock, and joins the next map.
//
// States: before the first Publish nothing is served (Fetch returns null and
// watchers wait), which is how readiness gating reaches Envoy. A node whose
// translation is inconsistent keeps its previous snapshot (the error is
// logged and counted), never an empty or partial one. Thread-safe.
class WorldConfigWatcher : public xds::ConfigWatcher {
 public:
  explicit WorldConfigWatcher(translate::TranslateOptions options);

  // Translates `world` for every watched node and hands the result to the
  // notifier, which wakes the streams whose snapshot changed.
  void Publish(model::WorldPtr world);

  // The newest published world; null before the first publish.
  model::WorldPtr world() const;
  // Translation work and failed consistency checks, since start.
  TranslationCounters translation_counters() const;
  // Watches open now (one per xDS stream).
  size_t watch_count() const { return notifier_.watch_count(); }

  xds::SnapshotPtr Fetch(const xds::NodeInfo& node) override;
  std::unique_ptr<xds::WatchHandle> Watch(const xds::NodeInfo& node, Wake wake) override;

 private:
  // id, zone and transport in one string: hashed once per lookup.
  static xds::SnapshotNotifier::Key KeyOf(const xds::NodeInfo& node);

  // The node's snapshot in the current World (or its last good one).
  xds::SnapshotPtr TranslateLocked(const xds::SnapshotNotifier::Key& key, const xds::NodeInfo& node)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(translator_mu_);
  void CopyCountersLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(translator_mu_);

  xds::ResourceInterner interner_;

  // The translation stage. Held while a World is translated; gRPC threads
  // take it only to translate a node seen for the first time.
  mutable absl::Mutex translator_mu_;
  model::WorldPtr translated_world_ ABSL_GUARDED_BY(translator_mu_);
  IncrementalTranslator translator_ ABSL_GUARDED_BY(translator_mu_);
  // Last good snapshot per node, for the inconsistent-translation fallback.
  std::unordered_map<xds::SnapshotNotifier::Key, xds::SnapshotPtr> last_good_
      ABSL_GUARDED_BY(translator_mu_);

  // What readers outside serving see (/debug, metrics), behind a short lock.
  mutable absl::Mutex published_mu_;
  model::WorldPtr world_ ABSL_GUARDED_BY(published_mu_);
  TranslationCounters counters_ ABSL_GUARDED_BY(published_mu_);

  xds::SnapshotNotifier notifier_;
};

}  // namespace propsy::control
