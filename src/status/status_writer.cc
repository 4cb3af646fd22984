#include "status/status_writer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "status/fleet_progress.h"
#include "status/node_progress.h"
#include "status/status_patch.h"

namespace propsy::status {
namespace {

// Conditions that say an object was rejected, worth a Warning Event: the
// causes only (Programmed=False because Accepted=False is the same news).
bool IsRejection(const model::Condition& condition) {
  if (condition.status != "False") return false;
  if (condition.type == "Accepted") {
    return condition.reason == "Invalid" || condition.reason == "Conflicted";
  }
  if (condition.type == "ResolvedRefs") {
    return condition.reason == "SecretNotFound" || condition.reason == "InvalidSecret";
  }
  return condition.type == "Programmed" && condition.reason == "Rejected";
}

std::string Describe(const absl::StatusOr<kube::HttpResponse>& response) {
  if (!response.ok()) return std::string(response.status().message());
  return fmt::format("HTTP {}: {}", response->status, response->body.substr(0, 300));
}

}  // namespace

StatusWriter::StatusWriter(Clock& clock, StatusWriterOptions options,
                           std::vector<StatusTarget> targets, const xds::NodeStatusRegistry& nodes,
                           SnapshotFn snapshot_of)
    : clock_(clock),
      options_(std::move(options)),
      targets_(std::move(targets)),
      nodes_(nodes),
      snapshot_of_(std::move(snapshot_of)),
      counters_(targets_.size()),
      clusters_(targets_.size()) {
  for (size_t i = 0; i < targets_.size(); ++i) {
    clusters_[i].tokens = options_.burst;
    clusters_[i].refilled = clock_.Now();
    if (targets_[i].transport != nullptr) {
      clusters_[i].events = std::make_unique<EventRecorder>(*targets_[i].transport, clock_,
                                                            options_.reporting_instance);
    }
    if (targets_[i].transport != nullptr && targets_[i].elector != nullptr) {
      const LeaseElectorOptions& lease = targets_[i].elector->options();
      ReplicaReportsOptions reports = options_.report_timing;
      reports.cluster = targets_[i].name;
      reports.namespace_name = lease.namespace_name;
      reports.lease_name = lease.name;
      reports.replica = lease.identity;
      clusters_[i].reports =
          std::make_unique<ReplicaReports>(*targets_[i].transport, clock_, std::move(reports));
    }
  }
}

StatusWriter::~StatusWriter() { Stop(); }

void StatusWriter::Start() {
  thread_ = std::thread([this] { Run(); });
}

void StatusWriter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (!thread_.joinable()) return;
  thread_.join();
  // Gone from the fleet: the leader stops waiting for this replica's nodes.
  for (ClusterState& cluster : clusters_) {
    if (cluster.reports != nullptr) cluster.reports->Withdraw();
  }
}

void StatusWriter::OnWorld(model::WorldPtr world) {
  absl::MutexLock lock(&mu_);
  world_ = std::move(world);
  world_changed_ = true;
}

StatusCounters StatusWriter::counters(size_t cluster) const {
  absl::MutexLock lock(&mu_);
  return counters_.at(cluster);
}

bool StatusWriter::Leading(size_t cluster) const {
  const StatusTarget& target = targets_[cluster];
  return target.transport != nullptr && (target.elector == nullptr || target.elector->IsLeader());
}

void StatusWriter::Run() {
  std::optional<Clock::TimePoint> last_evaluation;
  bool evaluation_due = false;
  while (true) {
    model::WorldPtr world;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      world = world_;
      evaluation_due |= world_changed_;
      world_changed_ = false;
    }
    for (size_t i = 0; i < clusters_.size(); ++i) {
      const bool leading = Leading(i);
      if (leading == clusters_[i].was_leader) continue;
      clusters_[i].was_leader = leading;
      clusters_[i].read_peers_now = leading;
      evaluation_due = true;
      if (!leading) {
        // Another replica writes now; what this one meant to write is void.
        clusters_[i].queue.clear();
        clusters_[i].written.clear();
      }
      absl::MutexLock lock(&mu_);
      counters_[i].leader = leading;
    }
    std::optional<Clock::TimePoint> next_due;
    auto due_at = [&next_due](std::optional<Clock::TimePoint> at) {
      if (at) next_due = next_due ? std::min(*next_due, *at) : *at;
    };
    for (size_t i = 0; i < clusters_.size(); ++i) {
      if (clusters_[i].reports == nullptr || !clusters_[i].was_leader) continue;
      evaluation_due |= RefreshPeers(i);
      const ReplicaReports& reports = *clusters_[i].reports;
      due_at(reports.NextRead());
      // When the last good read grows too old to go by.
      if (reports.last_read() && !PeersUnknown(i)) {
        due_at(*reports.last_read() + reports.options().stale_after);
      }
    }
    const uint64_t answers = nodes_.answers_version();
    const Clock::TimePoint now = clock_.Now();
    // New ACKs matter at the poll rate; a new World at the evaluation rate.
    if (answers != seen_answers_ &&
        (!last_evaluation || now >= *last_evaluation + options_.poll_interval)) {
      evaluation_due = true;
    }
    std::optional<Clock::TimePoint> wake;
    if (evaluation_due && world != nullptr) {
      if (last_evaluation && now < *last_evaluation + options_.min_evaluation_interval) {
        wake = *last_evaluation + options_.min_evaluation_interval;
      } else {
        seen_answers_ = answers;
        Evaluate(world);
        last_evaluation = clock_.Now();
        evaluation_due = false;
      }
    }
    std::optional<Clock::TimePoint> next_write = Drain();
    for (ClusterState& cluster : clusters_) {
      if (cluster.reports != nullptr) due_at(cluster.reports->Publish());
    }
    {
      absl::MutexLock lock(&mu_);
      for (size_t i = 0; i < clusters_.size(); ++i) {
        StatusCounters& counters = counters_[i];
        counters.queued = clusters_[i].queue.size();
        const ReplicaReports* reports = clusters_[i].reports.get();
        if (reports == nullptr) continue;
        counters.report_writes = reports->writes();
        counters.report_errors = reports->errors();
        counters.peer_reports = reports->peers().size();
        const std::vector<PeerStanding> standings = reports->Standings();
        counters.live_peer_reports = static_cast<size_t>(
            std::count_if(standings.begin(), standings.end(),
                          [](PeerStanding standing) { return standing != PeerStanding::kStale; }));
        counters.peer_read_error =
            reports->read_status().ok() ? "" : std::string(reports->read_status().message());
      }
    }
    Clock::TimePoint deadline = clock_.Now() + options_.poll_interval;
    if (wake) deadline = std::min(deadline, *wake);
    if (next_write) deadline = std::min(deadline, *next_write);
    if (next_due) deadline = std::min(deadline, *next_due);
    absl::MutexLock lock(&mu_);
    auto woken = [this]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || world_changed_; };
    clock_.AwaitUntil(mu_, absl::Condition(&woken), deadline);
  }
}

bool StatusWriter::RefreshPeers(size_t i) {
  ClusterState& cluster = clusters_[i];
  bool changed = false;
  if (cluster.read_peers_now || clock_.Now() >= cluster.reports->NextRead()) {
    changed = cluster.reports->ReadPeers(cluster.read_peers_now);
    cluster.read_peers_now = false;
  }
  return changed || cluster.reports->Standings() != cluster.evaluated_standings ||
         PeersUnknown(i) != cluster.evaluated_unknown;
}

bool StatusWriter::PeersUnknown(size_t i) const {
  const ReplicaReports* reports = clusters_[i].reports.get();
  if (reports == nullptr) return false;
  return !reports->last_read() ||
         clock_.Now() >= *reports->last_read() + reports->options().stale_after;
}

void StatusWriter::Evaluate(const model::WorldPtr& world) {
  std::vector<bool> include(targets_.size(), false);
  std::vector<bool> reporting(targets_.size(), false);
  bool any = false;
  bool any_reporting = false;
  for (size_t i = 0; i < targets_.size() && i < world->config_clusters.size(); ++i) {
    include[i] = clusters_[i].was_leader;
    reporting[i] = clusters_[i].reports != nullptr;
    any |= include[i];
    any_reporting |= reporting[i];
  }
  if (!any && !any_reporting) return;
  const std::string now = Rfc3339(clock_.WallNow());
  std::vector<std::set<model::ObjectKey>> seen(targets_.size());
  std::vector<model::ClusterObjectsPtr> config_objects;
  for (const model::ClusterView& cluster : world->config_clusters) {
    config_objects.push_back(cluster.objects);
  }
  if (config_objects != described_objects_) {
    reports_ = translate::DescribeObjects(*world, options_.translate);
    described_objects_ = std::move(config_objects);
  }
  // This replica's own nodes' progress with every programmable object.
  std::vector<bool> counting(targets_.size());
  for (size_t i = 0; i < targets_.size(); ++i) counting[i] = include[i] || reporting[i];
  const uint64_t answers = nodes_.answers_version();
  if (counted_world_ == nullptr || answers != counted_answers_ || counting != counted_for_ ||
      !model::SameConfiguration(*counted_world_, *world)) {
    const std::vector<NodeProgress> gathered = GatherNodeProgress(nodes_.Answers(), snapshot_of_);
    const NodeProgressIndex nodes(gathered);
    const std::vector<std::string> config_zones = ConfigZones(*world);
    counted_.assign(targets_.size(), {});
    for (const translate::ObjectReport& report : reports_) {
      const size_t i = report.config_cluster;
      if (i >= targets_.size() || !counting[i]) continue;
      const model::ProPsyServiceSpec* spec = ProgrammableSpec(*world, report);
      if (spec == nullptr) continue;
      counted_[i][report.key] =
          CountNodeProgress(report, *spec, nodes, config_zones, options_.translate.default_zone);
    }
    counted_world_ = world;
    counted_answers_ = answers;
    counted_for_ = counting;
  }
  const std::vector<std::map<model::ObjectKey, ObjectProgress>>& own = counted_;
  for (size_t i = 0; i < targets_.size(); ++i) {
    if (!reporting[i]) continue;
    ProgressReport mine{.replica = clusters_[i].reports->options().replica,
                        .generations = GenerationsDigest(reports_, i),
                        .objects = {}};
    for (const auto& [key, progress] : own[i]) {
      if (progress.targeted > 0) mine.objects.emplace(key, progress);
    }
    if (include[i] && mine.generations != clusters_[i].evaluated_generations) {
      // New generations: read the peers now, so that a replica whose report
      // is not read yet is not missed by a Programmed that turns True now.
      clusters_[i].reports->ReadPeers(/*now_please=*/true);
      clusters_[i].evaluated_generations = mine.generations;
    }
    clusters_[i].reports->SetOwnGenerations(mine.generations);
    clusters_[i].reports->Offer(std::move(mine));
    clusters_[i].evaluated_standings = clusters_[i].reports->Standings();
    clusters_[i].evaluated_unknown = PeersUnknown(i);
  }
  if (!any) return;
  auto progress_of = [&](const translate::ObjectReport& report, const model::ProPsyServiceSpec&) {
    const size_t i = report.config_cluster;
    auto found = own[i].find(report.key);
    ObjectProgress mine =
        found != own[i].end() ? found->second : ObjectProgress{.generation = report.generation};
    const ReplicaReports* peers = clusters_[i].reports.get();
    if (peers == nullptr) return mine;
    if (PeersUnknown(i)) {
      mine.unreported.push_back(fmt::format("the other replicas (their reports cannot be read: {})",
                                            std::string(peers->read_status().message())));
      return mine;
    }
    return CombineProgress(report.key, mine, peers->peers(), *peers->last_read(),
                           peers->options().stale_after);
  };
  for (DesiredStatus& desired :
       ComputeDesiredStatuses(*world, reports_, progress_of, include, now)) {
    ClusterState& cluster = clusters_[desired.config_cluster];
    seen[desired.config_cluster].insert(desired.key);
    const model::ServiceStatus* current =
        &model::ShownStatusOf(world->config_clusters[desired.config_cluster], desired.key).status;
    std::string version = desired.resource_version;
    // Until the World shows our write, what we wrote is the object's status.
    if (auto written = cluster.written.find(desired.key); written != cluster.written.end()) {
      if (written->second.world_version_before == desired.resource_version) {
        current = &written->second.status;
        version = written->second.version_after;
      } else {
        cluster.written.erase(written);
      }
    }
    desired.status = ToServiceStatus(desired.generation, desired.conditions, *current, now);
    if (SameStatus(*current, desired.status)) {
      cluster.queue.erase(desired.key);
      continue;
    }
    const model::ObjectKey key = desired.key;
    cluster.queue[key] = Pending{.desired = std::move(desired),
                                 .previous = *current,
                                 .resource_version = std::move(version)};
  }
  for (size_t i = 0; i < clusters_.size(); ++i) {
    if (include[i]) {
      spdlog::debug("status: config cluster {}: {} objects, {} to write", targets_[i].name,
                    seen[i].size(), clusters_[i].queue.size());
    }
    std::erase_if(clusters_[i].queue,
                  [&](const auto& entry) { return !seen[i].contains(entry.first); });
    std::erase_if(clusters_[i].written,
                  [&](const auto& entry) { return !seen[i].contains(entry.first); });
  }
}

std::optional<Clock::TimePoint> StatusWriter::Drain() {
  std::optional<Clock::TimePoint> next;
  auto earliest = [&next](Clock::TimePoint at) { next = next ? std::min(*next, at) : at; };
  for (size_t i = 0; i < clusters_.size(); ++i) {
    ClusterState& cluster = clusters_[i];
    if (cluster.queue.empty()) continue;
    Clock::TimePoint now = clock_.Now();
    const double elapsed = std::chrono::duration<double>(now - cluster.refilled).count();
    cluster.tokens =
        std::min(options_.burst, cluster.tokens + elapsed * options_.writes_per_second);
    cluster.refilled = now;
    if (now < cluster.retry_at) {
      earliest(cluster.retry_at);
      continue;
    }
    while (cluster.tokens >= 1 && !cluster.queue.empty()) {
      if (!Leading(i)) {
        cluster.queue.clear();  // lost the lease: stop at once
        break;
      }
      auto first = cluster.queue.begin();
      Pending pending = std::move(first->second);
      const model::ObjectKey key = first->first;
      cluster.queue.erase(first);
      cluster.tokens -= 1;
      if (!Write(i, pending)) {
        cluster.queue.try_emplace(key, std::move(pending));
        cluster.retry_at = clock_.Now() + options_.retry_after;
        earliest(cluster.retry_at);
        break;
      }
    }
    if (!cluster.queue.empty() && cluster.tokens < 1) {
      const double wait = (1 - cluster.tokens) / options_.writes_per_second;
      earliest(clock_.Now() +
               std::chrono::duration_cast<Clock::Duration>(std::chrono::duration<double>(wait)));
    }
  }
  return next;
}

bool StatusWriter::Write(size_t cluster, Pending& pending) {
  kube::HttpTransport& transport = *targets_[cluster].transport;
  const DesiredStatus& desired = pending.desired;
  model::ServiceStatus status = desired.status;
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<kube::HttpResponse> patched =
        transport.Send({.method = "PATCH",
                        .path = StatusPath(desired.key),
                        .headers = {{"Content-Type", "application/merge-patch+json"}},
                        .body = PatchBody(status, pending.resource_version),
                        .timeout = std::chrono::seconds(10)});
    if (patched.ok() && patched->status == 200) {
      std::optional<ObjectRead> read = ParseObject(patched->body);
      clusters_[cluster].written[desired.key] =
          Written{.world_version_before = desired.resource_version,
                  .version_after = read ? read->resource_version : "",
                  .status = status};
      {
        absl::MutexLock lock(&mu_);
        ++counters_[cluster].writes;
      }
      spdlog::debug("status: {} in {}: wrote status (generation {})", desired.key.ToString(),
                    targets_[cluster].name, status.observed_generation);
      RecordEvents(cluster, pending, status);
      return true;
    }
    if (patched.ok() && patched->status == 404) {
      spdlog::debug("status: {} in {}: gone", desired.key.ToString(), targets_[cluster].name);
      return true;  // gone: nothing to write
    }
    if (!patched.ok() || patched->status != 409) {
      {
        absl::MutexLock lock(&mu_);
        ++counters_[cluster].errors;
      }
      spdlog::warn("status: {} in {}: writing status: {}", desired.key.ToString(),
                   targets_[cluster].name, Describe(patched));
      return false;
    }
    {
      absl::MutexLock lock(&mu_);
      ++counters_[cluster].conflicts;
    }
    // Changed meanwhile: read it and write against its current version.
    absl::StatusOr<kube::HttpResponse> got = transport.Send(
        {.method = "GET",
         .path = StatusPath(desired.key).substr(0, StatusPath(desired.key).size() - 7),
         .headers = {},
         .body = "",
         .timeout = std::chrono::seconds(10)});
    if (got.ok() && got->status == 404) return true;
    if (!got.ok() || got->status != 200) return false;
    std::optional<ObjectRead> read = ParseObject(got->body);
    if (!read) return false;
    // Recreated, or a new generation: the World brings what to write next.
    if (read->uid != desired.uid || read->generation != desired.generation) return true;
    status = ToServiceStatus(desired.generation, desired.conditions, read->status,
                             Rfc3339(clock_.WallNow()));
    if (SameStatus(read->status, status)) return true;
    pending.previous = read->status;
    pending.resource_version = read->resource_version;
  }
  return false;
}

void StatusWriter::RecordEvents(size_t cluster, const Pending& pending,
                                const model::ServiceStatus& written) {
  EventRecorder* events = clusters_[cluster].events.get();
  if (events == nullptr) return;
  for (const model::Condition& condition : written.conditions) {
    if (!IsRejection(condition)) continue;
    bool repeat_of_shown = false;
    for (const model::Condition& before : pending.previous.conditions) {
      if (before.type == condition.type && before.status == condition.status &&
          before.reason == condition.reason &&
          before.observed_generation == condition.observed_generation) {
        repeat_of_shown = true;
      }
    }
    if (repeat_of_shown) continue;
    events->Warn(EventSubject{.key = pending.desired.key,
                              .uid = pending.desired.uid,
                              .resource_version = pending.resource_version},
                 condition.type, condition.reason, condition.message);
  }
  absl::MutexLock lock(&mu_);
  counters_[cluster].events_created = events->created();
  counters_[cluster].events_bumped = events->bumped();
}

}  // namespace propsy::status
