#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "kube/http_transport.h"
#include "status/fleet_progress.h"
#include "status/progress_report.h"

namespace propsy::status {

struct ReplicaReportsOptions {
  std::string cluster;         // config cluster name, for logs
  std::string namespace_name;  // -leasenamespace
  std::string lease_name;      // -leasename: the reports' label and name prefix
  std::string replica;         // this replica's lease identity
  // A changed report is written at most this often.
  Clock::Duration min_interval = std::chrono::seconds(2);
  // A report that holds something back is renewed this often.
  Clock::Duration renew_interval = std::chrono::seconds(5);
  // A peer that neither renews nor catches up for this long counts for
  // nothing (fleet_progress.h), and the leader removes its report.
  Clock::Duration stale_after = std::chrono::seconds(15);
  // How often the leader reads the peers' reports.
  Clock::Duration read_interval = std::chrono::seconds(2);
  // A failed write is retried after this long.
  Clock::Duration retry_after = std::chrono::seconds(2);
};

// This replica's progress report in one config cluster, and (for the
// leader) the other replicas' reports there, as ConfigMaps in the lease
// namespace (progress_report.h).
//
// Writes: only when the offered report differs from the one written, at
// most every min_interval; renewed every renew_interval only while it holds
// something back (a node pending or rejecting), so an unchanged, fully
// acknowledged world writes nothing. The report has one writer, so a write
// replaces it unconditionally (PUT, or POST when it is not there).
// Reads: a list by label every read_interval; a report's changed_at is when
// its resourceVersion changed, on this replica's clock.
// Not thread-safe: the status writer's thread owns it.
class ReplicaReports {
 public:
  ReplicaReports(kube::HttpTransport& transport, Clock& clock, ReplicaReportsOptions options);
  ReplicaReports(const ReplicaReports&) = delete;
  ReplicaReports& operator=(const ReplicaReports&) = delete;

  // This replica's newest report, for Publish.
  void Offer(ProgressReport report);
  // Writes the offered report when due. Returns when something is due next.
  std::optional<Clock::TimePoint> Publish();
  // Removes this replica's report (graceful shutdown).
  void Withdraw();

  // Reads the peers' reports when read_interval has passed since the last
  // read, or at once with `now_please`. Returns whether they changed.
  // Removes reports whose standing is stale.
  bool ReadPeers(bool now_please);
  // The reader's own generations digest (for PeerReport::behind_since).
  void SetOwnGenerations(const std::string& digest);
  const std::vector<PeerReport>& peers() const { return peers_; }
  // When the peers were last read successfully; unset before that.
  std::optional<Clock::TimePoint> last_read() const { return last_read_; }
  // The last read's failure (OK after a success).
  const absl::Status& read_status() const { return read_status_; }
  // When the next read is due.
  Clock::TimePoint NextRead() const;
  // Each peer's standing as of the last successful read (the reader knows
  // nothing newer): it changes only with a read.
  std::vector<PeerStanding> Standings() const;

  uint64_t writes() const { return writes_; }
  uint64_t errors() const { return errors_; }
  const ReplicaReportsOptions& options() const { return options_; }
  const std::string& name() const { return name_; }

 private:
  bool Write(const ProgressReport& report);
  void RemoveStale();

  kube::HttpTransport& transport_;
  Clock& clock_;
  const ReplicaReportsOptions options_;
  const std::string name_;  // of this replica's report

  std::optional<ProgressReport> offered_;
  std::optional<ProgressReport> written_;
  std::optional<Clock::TimePoint> last_write_;
  std::optional<Clock::TimePoint> retry_at_;
  uint64_t writes_ = 0;
  uint64_t errors_ = 0;
  std::string last_write_error_;

  std::vector<PeerReport> peers_;
  std::vector<std::string> peer_versions_;  // resourceVersion per peers_ entry
  std::string own_generations_;
  std::optional<Clock::TimePoint> last_read_;
  std::optional<Clock::TimePoint> last_read_attempt_;
  absl::Status read_status_ = absl::UnavailableError("not read yet");
  std::string logged_malformed_;         // name@resourceVersion last warned about
  std::set<std::string> removal_tried_;  // name@resourceVersion of stale reports
};

}  // namespace propsy::status
