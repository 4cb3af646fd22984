#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "kube/http_transport.h"
#include "model/world.h"
#include "status/desired_status.h"
#include "status/event_recorder.h"
#include "status/lease_elector.h"
#include "status/replica_reports.h"
#include "translate/translate.h"
#include "xds/config_watcher.h"
#include "xds/node_status.h"

namespace propsy::status {

// One config cluster as the writer sees it.
struct StatusTarget {
  std::string name;  // config cluster name (logs, metrics)
  // Null for dir: sources, which have no status to write.
  kube::HttpTransport* transport = nullptr;
  // Null when leader election is off: this process writes whenever it runs.
  LeaseElector* elector = nullptr;
};

struct StatusWriterOptions {
  translate::TranslateOptions translate;
  // Token bucket per config cluster: a burst of `burst` writes, then
  // `writes_per_second`.
  double writes_per_second = 50;
  double burst = 100;
  // A new World or new ACKs are looked at no more often than this, so a
  // burst of changes costs one evaluation.
  std::chrono::milliseconds min_evaluation_interval{200};
  // How often the writer looks for changed ACK/NACK state and leadership
  // when nothing else wakes it.
  std::chrono::milliseconds poll_interval{500};
  // A failed write is retried after this long.
  std::chrono::milliseconds retry_after{2000};
  std::string reporting_instance;  // Events' reportingInstance (the lease identity)
  // Timing of the replicas' progress reports (cluster, namespace, lease
  // name and replica come from each cluster's elector).
  ReplicaReportsOptions report_timing;
};

// Per config cluster, since start.
struct StatusCounters {
  uint64_t writes = 0;     // status patches the API server accepted
  uint64_t conflicts = 0;  // patches answered 409 (the object changed meanwhile)
  uint64_t errors = 0;     // other failed patches
  uint64_t events_created = 0;
  uint64_t events_bumped = 0;
  bool leader = false;  // writes status now
  size_t queued = 0;    // objects waiting for their write
  // This replica's progress report (with leader election only).
  uint64_t report_writes = 0;
  uint64_t report_errors = 0;
  // Leader: the other replicas' reports as last read, and how many of them
  // count (not stale); whether the last read failed.
  size_t peer_reports = 0;
  size_t live_peer_reports = 0;
  std::string peer_read_error;
};

// Writes each ProPsyService object's status (desired_status.h) through the
// `status` subresource of its own config cluster.
//
// Runs on its own thread beside the serving path: it is fed immutable
// Worlds (OnWorld only swaps a pointer) and reads the nodes' ACK state from
// the NodeStatusRegistry and their snapshots from the ConfigWatcher, so it
// never holds a lock a push needs.
//
// Invariants:
// - Writes only what changes: a desired status is compared with the
//   object's status as the source last saw it or, until the source sees the
//   write, as this writer wrote it; a relist of unchanged objects writes
//   nothing.
// - Coalesced per object: one pending write per object, always its newest
//   desired status.
// - Bounded: a token bucket per cluster; a 409 re-reads the object and
//   retries with its current resourceVersion and status.
// - Only while leading: a cluster whose elector is not leader gets no write
//   (checked before each one), and its pending writes are dropped.
// - Programmed counts every replica's nodes (docs/status.md, "Replicas"):
//   with leader election, each replica publishes its own nodes' progress
//   (ReplicaReports) in every Kubernetes config cluster, and the leader
//   combines its own with the other replicas' (fleet_progress.h). It reads
//   them before its first evaluation as leader; while it cannot read them
//   (for stale_after), Programmed stays Pending and says why.
// - A rejection (a condition turning False with reason Invalid, Conflicted,
//   SecretNotFound, InvalidSecret or Rejected) written for an object gives
//   one Warning Event (EventRecorder deduplicates).
class StatusWriter {
 public:
  using SnapshotFn = std::function<xds::SnapshotPtr(const xds::NodeInfo&)>;

  StatusWriter(Clock& clock, StatusWriterOptions options, std::vector<StatusTarget> targets,
               const xds::NodeStatusRegistry& nodes, SnapshotFn snapshot_of);
  ~StatusWriter();
  StatusWriter(const StatusWriter&) = delete;
  StatusWriter& operator=(const StatusWriter&) = delete;

  void Start();
  void Stop();

  // A World was published (after the xDS side has it). Never blocks.
  void OnWorld(model::WorldPtr world);

  StatusCounters counters(size_t cluster) const;
  const std::vector<StatusTarget>& targets() const { return targets_; }

 private:
  struct Pending {
    DesiredStatus desired;
    model::ServiceStatus previous;  // what the object carried, for Events
    std::string resource_version;   // precondition of the patch
  };
  // What this writer wrote, until the World shows the write.
  struct Written {
    std::string world_version_before;  // the World's resourceVersion when written
    std::string version_after;
    model::ServiceStatus status;
  };
  struct ClusterState {
    std::map<model::ObjectKey, Pending> queue;
    std::map<model::ObjectKey, Written> written;
    std::unique_ptr<EventRecorder> events;
    double tokens = 0;
    Clock::TimePoint refilled;
    Clock::TimePoint retry_at;
    bool was_leader = false;
    // With leader election: this replica's report and the peers'.
    std::unique_ptr<ReplicaReports> reports;
    bool read_peers_now = false;
    // What the last evaluation combined: the peers' standings and whether
    // they could not be read.
    std::vector<PeerStanding> evaluated_standings;
    std::string evaluated_generations;  // this replica's digest when it last read as leader
    bool evaluated_unknown = false;
  };

  void Run();
  void Evaluate(const model::WorldPtr& world);
  // Writes what the token buckets allow; returns when the next write may go.
  std::optional<Clock::TimePoint> Drain();
  // One object's patch with conflict retries; false to retry later.
  bool Write(size_t cluster, Pending& pending);
  void RecordEvents(size_t cluster, const Pending& pending, const model::ServiceStatus& written);
  bool Leading(size_t cluster) const;
  // Leader: reads the peers' reports when due; returns whether what the
  // last evaluation combined is out of date.
  bool RefreshPeers(size_t cluster);
  // The leader cannot say what the other replicas' nodes did: their reports
  // were never read, or not for stale_after.
  bool PeersUnknown(size_t cluster) const;

  Clock& clock_;
  const StatusWriterOptions options_;
  const std::vector<StatusTarget> targets_;
  const xds::NodeStatusRegistry& nodes_;
  const SnapshotFn snapshot_of_;

  mutable absl::Mutex mu_;
  model::WorldPtr world_ ABSL_GUARDED_BY(mu_);
  bool world_changed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<StatusCounters> counters_ ABSL_GUARDED_BY(mu_);

  // Owned by the writer's thread.
  std::vector<ClusterState> clusters_;
  // DescribeObjects of the config clusters' objects last evaluated: endpoint
  // churn publishes new Worlds with the same config objects, and only
  // Programmed needs looking at then.
  std::vector<model::ClusterObjectsPtr> described_objects_;
  std::vector<translate::ObjectReport> reports_;
  // This replica's nodes' progress per cluster and object, as last counted,
  // and what it was counted from. It depends on the nodes' answers and the
  // configuration served, so a World that differs only in what objects
  // show (the write-back coming back through the watch) reuses it.
  std::vector<std::map<model::ObjectKey, ObjectProgress>> counted_;
  model::WorldPtr counted_world_;
  uint64_t counted_answers_ = 0;
  std::vector<bool> counted_for_;
  uint64_t seen_answers_ = 0;
  std::thread thread_;
};

}  // namespace propsy::status
