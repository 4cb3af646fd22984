#include "status/replica_reports.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "status/desired_status.h"

namespace propsy::status {
namespace {

constexpr auto kTimeout = std::chrono::seconds(10);

std::string Describe(const absl::StatusOr<kube::HttpResponse>& response) {
  if (!response.ok()) return std::string(response.status().message());
  return fmt::format("HTTP {}: {}", response->status, response->body.substr(0, 300));
}

}  // namespace

ReplicaReports::ReplicaReports(kube::HttpTransport& transport, Clock& clock,
                               ReplicaReportsOptions options)
    : transport_(transport),
      clock_(clock),
      options_(std::move(options)),
      name_(ReportName(options_.lease_name, options_.replica)) {}

void ReplicaReports::Offer(ProgressReport report) { offered_ = std::move(report); }

std::optional<Clock::TimePoint> ReplicaReports::Publish() {
  if (!offered_) return std::nullopt;
  std::optional<Clock::TimePoint> due;
  if (!written_ || !(*offered_ == *written_)) {
    due = last_write_ ? *last_write_ + options_.min_interval : clock_.Now();
  } else if (written_->HoldsBack()) {
    due = *last_write_ + options_.renew_interval;
  }
  if (!due) return std::nullopt;
  if (retry_at_) due = std::max(*due, *retry_at_);
  const Clock::TimePoint now = clock_.Now();
  if (now < *due) return due;
  if (!Write(*offered_)) {
    retry_at_ = now + options_.retry_after;
    return retry_at_;
  }
  retry_at_.reset();
  written_ = offered_;
  last_write_ = now;
  if (written_->HoldsBack()) return now + options_.renew_interval;
  return std::nullopt;
}

bool ReplicaReports::Write(const ProgressReport& report) {
  const std::string collection = ReportCollectionPath(options_.namespace_name);
  const std::string body = EncodeReport(report, name_, options_.namespace_name, options_.lease_name,
                                        Rfc3339Micro(clock_.WallNow()));
  const std::vector<std::pair<std::string, std::string>> json{{"Content-Type", "application/json"}};
  // Replace (no resourceVersion: this replica is the report's only writer);
  // create when it is not there; replace again if a create raced.
  absl::StatusOr<kube::HttpResponse> answer;
  for (int attempt = 0; attempt < 2; ++attempt) {
    answer = transport_.Send({.method = "PUT",
                              .path = collection + "/" + name_,
                              .headers = json,
                              .body = body,
                              .timeout = kTimeout});
    if (!answer.ok() || answer->status != 404) break;
    answer = transport_.Send(
        {.method = "POST", .path = collection, .headers = json, .body = body, .timeout = kTimeout});
    if (!answer.ok() || answer->status != 409) break;
  }
  if (answer.ok() && answer->status / 100 == 2) {
    ++writes_;
    last_write_error_.clear();
    spdlog::debug("status: config cluster {}: wrote progress report {}/{} ({} objects)",
                  options_.cluster, options_.namespace_name, name_, report.objects.size());
    return true;
  }
  ++errors_;
  // Once per distinct failure: a missing permission would say so every 2 s.
  const std::string error = Describe(answer);
  if (error != last_write_error_) {
    spdlog::warn("status: config cluster {}: writing progress report {}/{}: {}", options_.cluster,
                 options_.namespace_name, name_, error);
    last_write_error_ = error;
  }
  return false;
}

void ReplicaReports::Withdraw() {
  if (!written_) return;
  absl::StatusOr<kube::HttpResponse> answer =
      transport_.Send({.method = "DELETE",
                       .path = ReportCollectionPath(options_.namespace_name) + "/" + name_,
                       .headers = {},
                       .body = "",
                       .timeout = kTimeout});
  if (answer.ok() && (answer->status / 100 == 2 || answer->status == 404)) {
    spdlog::info("status: config cluster {}: removed progress report {}/{}", options_.cluster,
                 options_.namespace_name, name_);
    written_.reset();
    return;
  }
  spdlog::warn("status: config cluster {}: removing progress report {}/{}: {}", options_.cluster,
               options_.namespace_name, name_, Describe(answer));
}

void ReplicaReports::SetOwnGenerations(const std::string& digest) {
  own_generations_ = digest;
  const Clock::TimePoint now = clock_.Now();
  for (PeerReport& peer : peers_) {
    if (peer.report.generations == digest) {
      peer.behind_since.reset();
    } else if (!peer.behind_since) {
      peer.behind_since = now;
    }
  }
}

bool ReplicaReports::ReadPeers(bool now_please) {
  const Clock::TimePoint now = clock_.Now();
  if (!now_please && last_read_attempt_ && now < *last_read_attempt_ + options_.read_interval) {
    return false;
  }
  last_read_attempt_ = now;
  absl::StatusOr<kube::HttpResponse> answer =
      transport_.Send({.method = "GET",
                       .path = ReportListPath(options_.namespace_name, options_.lease_name),
                       .headers = {},
                       .body = "",
                       .timeout = kTimeout});
  absl::StatusOr<std::vector<ListedReport>> listed =
      answer.ok() && answer->status == 200
          ? DecodeReportList(answer->body)
          : absl::StatusOr<std::vector<ListedReport>>(absl::UnavailableError(Describe(answer)));
  if (!listed.ok()) {
    if (read_status_.ok()) {
      spdlog::warn("status: config cluster {}: reading the replicas' progress reports in {}: {}",
                   options_.cluster, options_.namespace_name,
                   std::string(listed.status().message()));
    }
    read_status_ = listed.status();
    return false;
  }
  read_status_ = absl::OkStatus();
  last_read_ = now;
  std::vector<PeerReport> peers;
  std::vector<std::string> versions;
  bool changed = false;
  for (ListedReport& item : *listed) {
    if (item.name == name_) continue;
    if (!item.report.ok()) {
      const std::string seen = item.name + "@" + item.resource_version;
      if (seen != logged_malformed_) {
        spdlog::warn("status: config cluster {}: ignoring progress report {}/{}: {}",
                     options_.cluster, options_.namespace_name, item.name,
                     std::string(item.report.status().message()));
        logged_malformed_ = seen;
      }
      continue;
    }
    if (item.report->replica == options_.replica) continue;
    auto before = std::find_if(peers_.begin(), peers_.end(),
                               [&](const PeerReport& peer) { return peer.name == item.name; });
    const size_t index = static_cast<size_t>(before - peers_.begin());
    if (before != peers_.end() && peer_versions_[index] == item.resource_version) {
      peers.push_back(std::move(*before));
    } else {
      changed = true;
      std::optional<Clock::TimePoint> behind;
      if (item.report->generations != own_generations_) {
        behind = before != peers_.end() && before->behind_since ? before->behind_since : now;
      }
      peers.push_back(PeerReport{.name = item.name,
                                 .report = std::move(*item.report),
                                 .changed_at = now,
                                 .behind_since = behind});
    }
    versions.push_back(item.resource_version);
  }
  changed |= peers.size() != peers_.size();
  peers_ = std::move(peers);
  peer_versions_ = std::move(versions);
  RemoveStale();
  return changed;
}

void ReplicaReports::RemoveStale() {
  const Clock::TimePoint now = clock_.Now();
  for (size_t i = 0; i < peers_.size();) {
    const std::string seen = peers_[i].name + "@" + peer_versions_[i];
    if (Standing(peers_[i], now, options_.stale_after) != PeerStanding::kStale ||
        removal_tried_.contains(seen)) {
      ++i;
      continue;
    }
    removal_tried_.insert(seen);
    // Only the version read: a replica that renewed meanwhile keeps it.
    const std::string body = fmt::format(
        R"({{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{{"resourceVersion":"{}"}}}})",
        peer_versions_[i]);
    absl::StatusOr<kube::HttpResponse> answer = transport_.Send(
        {.method = "DELETE",
         .path = ReportCollectionPath(options_.namespace_name) + "/" + peers_[i].name,
         .headers = {{"Content-Type", "application/json"}},
         .body = body,
         .timeout = kTimeout});
    if (answer.ok() && (answer->status / 100 == 2 || answer->status == 404)) {
      spdlog::info(
          "status: config cluster {}: removed the progress report {}/{} of replica {}, neither "
          "renewed nor caught up for {} s",
          options_.cluster, options_.namespace_name, peers_[i].name, peers_[i].report.replica,
          std::chrono::duration_cast<std::chrono::seconds>(options_.stale_after).count());
    } else {
      spdlog::warn("status: config cluster {}: removing the stale progress report {}/{}: {}",
                   options_.cluster, options_.namespace_name, peers_[i].name, Describe(answer));
    }
    // Stale either way: it counts for nothing until it changes.
    ++i;
  }
}

Clock::TimePoint ReplicaReports::NextRead() const {
  return (last_read_attempt_ ? *last_read_attempt_ : clock_.Now()) + options_.read_interval;
}

std::vector<PeerStanding> ReplicaReports::Standings() const {
  std::vector<PeerStanding> standings;
  if (!last_read_) return standings;
  for (const PeerReport& peer : peers_) {
    standings.push_back(Standing(peer, *last_read_, options_.stale_after));
  }
  return standings;
}

}  // namespace propsy::status
