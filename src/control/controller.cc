#include "control/controller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace propsy::control {
namespace {

int64_t UnixMillis(std::chrono::system_clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

}  // namespace

Controller::Controller(ControllerOptions options, std::vector<model::ClusterInfo> config_clusters,
                       std::vector<model::ClusterInfo> endpoint_clusters, PublishFn publish,
                       Clock& clock)
    : options_(std::move(options)), publish_(std::move(publish)), clock_(clock) {
  absl::MutexLock lock(&mu_);
  sources::ClusterState empty;
  empty.objects = std::make_shared<const model::ClusterObjects>();
  empty.statuses = std::make_shared<const model::ShownStatuses>();
  for (auto& info : config_clusters)
    config_.push_back(Slot{.info = std::move(info), .state = empty});
  for (auto& info : endpoint_clusters) {
    endpoint_.push_back(Slot{.info = std::move(info), .state = empty});
  }
}

Controller::~Controller() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Controller::Start() {
  {
    absl::MutexLock lock(&mu_);
    started_ = clock_.Now();
    // Evaluate the gate once even if no source ever reports.
    first_pending_ = started_;
    last_event_ = started_;
  }
  thread_ = std::thread([this] { Run(); });
}

void Controller::OnConfigClusterState(size_t index, sources::ClusterState state) {
  OnState(true, index, std::move(state));
}

void Controller::OnEndpointClusterState(size_t index, sources::ClusterState state) {
  OnState(false, index, std::move(state));
}

void Controller::OnState(bool config, size_t index, sources::ClusterState state) {
  absl::MutexLock lock(&mu_);
  Slot& slot = (config ? config_ : endpoint_).at(index);
  if (state.objects == nullptr) state.objects = slot.state.objects;
  if (state.statuses == nullptr) state.statuses = slot.state.statuses;
  if (state.synced && !slot.state.synced) {
    spdlog::info("{} cluster {} ({}) synced", config ? "config" : "endpoint", slot.info.name,
                 slot.info.source);
  }
  // Once synced, always synced: a later outage is "stale", not "unsynced".
  state.synced = state.synced || slot.state.synced;
  slot.state = std::move(state);
  last_event_ = clock_.Now();
  if (!first_pending_) first_pending_ = last_event_;
  ++events_;  // wakes the controller thread as mu_ is released
}

void Controller::WaitLocked(TimePoint deadline) {
  const uint64_t seen = events_;
  auto moved = [this, seen]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return events_ != seen || stopping_; };
  clock_.AwaitUntil(mu_, absl::Condition(&moved), deadline);
}

std::optional<std::string> Controller::GateLocked(TimePoint now) const {
  if (published_) return std::nullopt;
  bool past_deadline = now >= started_ + options_.sync_timeout;
  for (const std::vector<Slot>* slots : {&config_, &endpoint_}) {
    for (const Slot& slot : *slots) {
      if (slot.state.synced) continue;
      if (slot.info.zone == options_.local_zone || !past_deadline) {
        return fmt::format("waiting for the initial sync of cluster {} ({}, zone {})",
                           slot.info.name, slot.info.source, slot.info.zone);
      }
    }
  }
  return std::nullopt;
}

model::WorldPtr Controller::BuildWorldLocked(TimePoint now) const {
  auto world = std::make_shared<model::World>();
  int64_t gave_up_at = UnixMillis(clock_.WallNow() - (now - (started_ + options_.sync_timeout)));
  auto view_of = [&](const Slot& slot) {
    model::ClusterView view{.info = slot.info,
                            .objects = slot.state.objects,
                            .synced = slot.state.synced,
                            .stale = slot.state.stale,
                            .stale_since_unix_ms = slot.state.stale_since_unix_ms,
                            .statuses = slot.state.statuses};
    if (!slot.state.synced) {  // published without it after the sync timeout
      view.stale = true;
      view.stale_since_unix_ms = gave_up_at;
    }
    return view;
  };
  for (const Slot& slot : config_) world->config_clusters.push_back(view_of(slot));
  for (const Slot& slot : endpoint_) world->endpoint_clusters.push_back(view_of(slot));
  return world;
}

void Controller::Run() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    TimePoint now = clock_.Now();
    if (!first_pending_) {
      WaitLocked(TimePoint::max());
      continue;
    }
    const bool after_quiet_spell =
        last_publish_.has_value() && *first_pending_ >= *last_publish_ + options_.quiet_window;
    TimePoint due = after_quiet_spell ? *first_pending_
                                      : std::min(last_event_ + options_.quiet_window,
                                                 *first_pending_ + options_.max_delay);
    if (now < due) {
      WaitLocked(due);
      continue;
    }
    if (std::optional<std::string> waiting = GateLocked(now)) {
      spdlog::debug("not serving yet: {}", *waiting);
      TimePoint deadline = started_ + options_.sync_timeout;
      WaitLocked(now < deadline ? deadline : TimePoint::max());
      continue;
    }
    if (!published_) {
      spdlog::info("initial sync done: serving configuration");
      for (const std::vector<Slot>* slots : {&config_, &endpoint_}) {
        for (const Slot& slot : *slots) {
          if (!slot.state.synced) {
            spdlog::warn("serving without cluster {} ({}): no initial sync within {} ms",
                         slot.info.name, slot.info.source, options_.sync_timeout.count());
          }
        }
      }
    }
    model::WorldPtr world = BuildWorldLocked(now);
    const bool statuses_only =
        last_world_ != nullptr && model::SameConfiguration(*last_world_, *world);
    last_world_ = world;
    if (statuses_only) {
      first_pending_.reset();
      ++status_publishes_;
      if (options_.publish_statuses) {
        mu_.Unlock();
        options_.publish_statuses(std::move(world));
        mu_.Lock();
      }
      continue;
    }
    double delay = std::chrono::duration<double>(now - *first_pending_).count();
    first_pending_.reset();
    last_publish_ = now;
    published_ = true;
    ++publishes_;
    mu_.Unlock();
    publish_(std::move(world));
    if (options_.observe_publish_delay) options_.observe_publish_delay(delay);
    mu_.Lock();
  }
}

absl::Status Controller::Readiness() const {
  absl::MutexLock lock(&mu_);
  if (published_) return absl::OkStatus();
  if (std::optional<std::string> waiting = GateLocked(clock_.Now())) {
    return absl::UnavailableError(*waiting);
  }
  return absl::UnavailableError("initial configuration not published yet");
}

std::vector<Controller::ClusterStatus> Controller::Clusters() const {
  absl::MutexLock lock(&mu_);
  std::vector<ClusterStatus> result;
  for (const std::vector<Slot>* slots : {&config_, &endpoint_}) {
    for (const Slot& slot : *slots) {
      const model::ClusterObjects& objects = *slot.state.objects;
      result.push_back(ClusterStatus{.info = slot.info,
                                     .is_config = slots == &config_,
                                     .synced = slot.state.synced,
                                     .stale = slot.state.stale,
                                     .stale_since_unix_ms = slot.state.stale_since_unix_ms,
                                     .services = objects.services.size(),
                                     .secrets = objects.secrets.size(),
                                     .endpoint_services = objects.endpoints.size(),
                                     .problems = slot.state.problems});
    }
  }
  return result;
}

uint64_t Controller::publishes() const {
  absl::MutexLock lock(&mu_);
  return publishes_;
}

uint64_t Controller::status_publishes() const {
  absl::MutexLock lock(&mu_);
  return status_publishes_;
}

}  // namespace propsy::control
