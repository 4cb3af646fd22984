#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "model/world.h"
#include "sources/cluster_source.h"

namespace propsy::control {

struct ControllerOptions {
  std::string local_zone;
  // Events are coalesced so a rollout does not cause a push per pod: the
  // first event after a quiet spell (no publish for `quiet_window`) is
  // published at once, so a lone change reaches Envoy without delay; events
  // that follow are published once no event arrived for `quiet_window`, or
  // `max_delay` after the first of them at the latest.
  std::chrono::milliseconds quiet_window{20};
  std::chrono::milliseconds max_delay{1000};
  // Clusters outside the local zone get this long for their initial sync
  // before ProPsy serves without them.
  std::chrono::milliseconds sync_timeout{30000};
  // Called with the delay from the first unpublished event to its publish.
  std::function<void(double seconds)> observe_publish_delay;
  // Called instead of the publish function with a World whose configuration
  // is that of the last published one (model::SameConfiguration): only what
  // the ProPsyService objects show changed, e.g. a status write coming back
  // through the watch. Nothing needs translating or serving for it; the
  // status writer needs it (resourceVersions, shown statuses). When unset,
  // such Worlds go nowhere.
  std::function<void(model::WorldPtr)> publish_statuses;
};

// Owns the World. Sources report their state from their own threads; one
// controller thread coalesces the reports and publishes immutable Worlds.
//
// Readiness gate: nothing is published until every cluster of the local
// zone finished its initial sync and every other cluster either did too or
// `sync_timeout` passed (it then counts as stale, empty, until it syncs).
// After the first publish the controller is ready for good: a source going
// stale keeps its last known objects in the World.
//
// A World that differs from the last one only in what objects show
// (statuses) goes to `publish_statuses`, not to the publish function, and
// is not a publish for the debounce: a status write-back of thousands of
// objects neither re-translates anything nor delays the next real change.
//
// Time (debounce, sync timeout) comes from the injected clock only.
class Controller {
 public:
  using PublishFn = std::function<void(model::WorldPtr)>;

  struct ClusterStatus {
    model::ClusterInfo info;
    bool is_config = false;
    bool synced = false;
    bool stale = false;
    int64_t stale_since_unix_ms = 0;
    size_t services = 0;
    size_t secrets = 0;
    size_t endpoint_services = 0;
    std::vector<std::string> problems;
  };

  Controller(ControllerOptions options, std::vector<model::ClusterInfo> config_clusters,
             std::vector<model::ClusterInfo> endpoint_clusters, PublishFn publish, Clock& clock);
  ~Controller();

  // Starts the controller thread (and the sync timeout clock).
  void Start();

  // Thread-safe; `index` is the cluster's position in its flag list.
  void OnConfigClusterState(size_t index, sources::ClusterState state);
  void OnEndpointClusterState(size_t index, sources::ClusterState state);

  // Ok once the first World was published; otherwise names what is missing.
  absl::Status Readiness() const;
  std::vector<ClusterStatus> Clusters() const;
  uint64_t publishes() const;
  // Worlds handed to `publish_statuses` (status-only changes).
  uint64_t status_publishes() const;

 private:
  using TimePoint = Clock::TimePoint;
  struct Slot {
    model::ClusterInfo info;
    sources::ClusterState state;
  };

  void OnState(bool config, size_t index, sources::ClusterState state);
  void Run();
  // Releases mu_ until an event (or stop) arrives or `deadline` passes.
  void WaitLocked(TimePoint deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why the World may not be published yet; nullopt when it may.
  std::optional<std::string> GateLocked(TimePoint now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  model::WorldPtr BuildWorldLocked(TimePoint now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ControllerOptions options_;
  const PublishFn publish_;
  Clock& clock_;
  mutable absl::Mutex mu_;
  std::vector<Slot> config_ ABSL_GUARDED_BY(mu_);
  std::vector<Slot> endpoint_ ABSL_GUARDED_BY(mu_);
  TimePoint started_ ABSL_GUARDED_BY(mu_);
  // Source reports since start; the controller thread waits for it to move.
  uint64_t events_ ABSL_GUARDED_BY(mu_) = 0;
  // The first and the latest event not yet published.
  std::optional<TimePoint> first_pending_ ABSL_GUARDED_BY(mu_);
  TimePoint last_event_ ABSL_GUARDED_BY(mu_);
  std::optional<TimePoint> last_publish_ ABSL_GUARDED_BY(mu_);
  bool published_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t publishes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t status_publishes_ ABSL_GUARDED_BY(mu_) = 0;
  // The last World handed out (either kind), to tell a status-only change.
  model::WorldPtr last_world_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace propsy::control
