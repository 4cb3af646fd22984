#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "kube/http_transport.h"

namespace propsy::status {

struct LeaseElectorOptions {
  std::string cluster;         // config cluster name, for logs
  std::string namespace_name;  // -leasenamespace
  std::string name;            // -leasename
  std::string identity;        // holder identity: pod name (or host name) + "_" + pid
  // client-go's leader election defaults.
  std::chrono::seconds lease_duration{15};
  std::chrono::seconds renew_deadline{10};
  std::chrono::seconds retry_period{2};
};

// Leader election on one coordination.k8s.io/v1 Lease, with client-go's
// semantics:
// - A candidate takes the lease when it is free (no holder) or when the
//   record it last observed (holder, renew time) has not changed for
//   leaseDurationSeconds of the candidate's own clock (no trust in other
//   machines' clocks); creation and updates carry the resourceVersion, so
//   two candidates never both win.
// - The leader renews every retry period. A leader that has not renewed
//   within the renew deadline stops leading at once (IsLeader() turns false
//   by itself, before any other candidate may take over at lease duration).
// - Stop() releases a held lease by clearing holderIdentity, so a successor
//   takes over within a retry period instead of a lease duration.
// States: follower -> leader (acquired) -> follower (renewal failed past the
// deadline, or stopped). Thread-safe; one thread runs the loop.
class LeaseElector {
 public:
  LeaseElector(kube::HttpTransport& transport, Clock& clock, LeaseElectorOptions options);
  ~LeaseElector();
  LeaseElector(const LeaseElector&) = delete;
  LeaseElector& operator=(const LeaseElector&) = delete;

  void Start();
  // Ends the loop and releases the lease if held. Idempotent.
  void Stop();

  // Holds the lease and renewed it within the renew deadline.
  bool IsLeader() const;
  // How many times this elector became leader.
  uint64_t acquisitions() const;
  const LeaseElectorOptions& options() const { return options_; }

  // One acquire-or-renew attempt (the loop's body); public for tests.
  // Returns whether the lease is held after it.
  bool TryAcquireOrRenew();

 private:
  // The parts of a Lease the election reads.
  struct Record {
    std::string holder;
    int64_t duration_seconds = 0;
    std::string acquire_time;
    std::string renew_time;
    int64_t transitions = 0;
    bool operator==(const Record&) const = default;
  };

  void Run();
  void Release();
  std::string LeasePath() const;
  std::string LeaseBody(const Record& record, const std::string& resource_version) const;
  void SetLeader(bool leader, Clock::TimePoint renewed) ABSL_LOCKS_EXCLUDED(mu_);

  kube::HttpTransport& transport_;
  Clock& clock_;
  const LeaseElectorOptions options_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool leader_ ABSL_GUARDED_BY(mu_) = false;
  Clock::TimePoint last_renew_ ABSL_GUARDED_BY(mu_);
  uint64_t acquisitions_ ABSL_GUARDED_BY(mu_) = 0;
  // The record as last observed, and when (our clock) it last changed.
  Record observed_ ABSL_GUARDED_BY(mu_);
  Clock::TimePoint observed_at_ ABSL_GUARDED_BY(mu_);
  std::string observed_version_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// The holder identity of this process: $POD_NAME (or the host name) + "_" +
// the process id.
std::string DefaultLeaseIdentity();

}  // namespace propsy::status
