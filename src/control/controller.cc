#include "control/controller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace propsy::control {
namespace {

// The objects of `objects` that live in one of `namespaces`.
model::ClusterObjectsPtr KeepNamespaces(const model::ClusterObjectsPtr& objects,
                                        const std::vector<std::string>& namespaces) {
  auto wanted = [&](const model::ObjectKey& key) {
    return std::find(namespaces.begin(), namespaces.end(), key.namespace_name) != namespaces.end();
  };
  auto kept = std::make_shared<model::ClusterObjects>();
  for (const auto& entry : objects->services) {
    if (wanted(entry.first)) kept->services.insert(entry);
  }
  for (const auto& entry : objects->secrets) {
    if (wanted(entry.first)) kept->secrets.insert(entry);
  }
  for (const auto& entry : objects->endpoints) {
    if (wanted(entry.first)) kept->endpoints.insert(entry);
  }
  return kept;
}

int64_t UnixMillis(std::chrono::system_clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

}  // namespace

Controller::Controller(ControllerOptions options, std::vector<model::ClusterInfo> config_clusters,
                       std::vector<model::ClusterInfo> endpoint_clusters, PublishFn publish)
    : options_(std::move(options)), publish_(std::move(publish)) {
  sources::ClusterState empty;
  empty.objects = std::make_shared<const model::ClusterObjects>();
  for (auto& info : config_clusters)
    config_.push_back(Slot{.info = std::move(info), .state = empty});
  for (auto& info : endpoint_clusters) {
    endpoint_.push_back(Slot{.info = std::move(info), .state = empty});
  }
}

Controller::~Controller() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Controller::Start() {
  {
    std::lock_guard lock(mu_);
    started_ = Clock::now();
    // Evaluate the gate once even if no source ever reports.
    first_pending_ = started_;
    last_event_ = started_;
  }
  thread_ = std::thread([this] { Run(); });
}

void Controller::OnConfigClusterState(size_t index, sources::ClusterState state) {
  OnState(config_, index, std::move(state));
}

void Controller::OnEndpointClusterState(size_t index, sources::ClusterState state) {
  OnState(endpoint_, index, std::move(state));
}

void Controller::OnState(std::vector<Slot>& slots, size_t index, sources::ClusterState state) {
  {
    std::lock_guard lock(mu_);
    Slot& slot = slots.at(index);
    if (state.objects == nullptr) state.objects = slot.state.objects;
    if (!options_.namespaces.empty()) {
      state.objects = KeepNamespaces(state.objects, options_.namespaces);
    }
    if (state.synced && !slot.state.synced) {
      spdlog::info("{} cluster {} ({}) synced", &slots == &config_ ? "config" : "endpoint",
                   slot.info.name, slot.info.source);
    }
    // Once synced, always synced: a later outage is "stale", not "unsynced".
    state.synced = state.synced || slot.state.synced;
    slot.state = std::move(state);
    last_event_ = Clock::now();
    if (!first_pending_) first_pending_ = last_event_;
  }
  wake_.notify_all();
}

std::optional<std::string> Controller::GateLocked(Clock::time_point now) const {
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

model::WorldPtr Controller::BuildWorldLocked(Clock::time_point now) const {
  auto world = std::make_shared<model::World>();
  int64_t gave_up_at =
      UnixMillis(std::chrono::system_clock::now() - (now - (started_ + options_.sync_timeout)));
  auto view_of = [&](const Slot& slot) {
    model::ClusterView view{.info = slot.info,
                            .objects = slot.state.objects,
                            .synced = slot.state.synced,
                            .stale = slot.state.stale,
                            .stale_since_unix_ms = slot.state.stale_since_unix_ms};
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
  std::unique_lock lock(mu_);
  while (!stopping_) {
    Clock::time_point now = Clock::now();
    if (!first_pending_) {
      wake_.wait(lock);
      continue;
    }
    const bool after_quiet_spell =
        last_publish_.has_value() && *first_pending_ >= *last_publish_ + options_.quiet_window;
    Clock::time_point due = after_quiet_spell ? *first_pending_
                                              : std::min(last_event_ + options_.quiet_window,
                                                         *first_pending_ + options_.max_delay);
    if (now < due) {
      wake_.wait_until(lock, due);
      continue;
    }
    if (std::optional<std::string> waiting = GateLocked(now)) {
      spdlog::debug("not serving yet: {}", *waiting);
      Clock::time_point deadline = started_ + options_.sync_timeout;
      if (now < deadline) {
        wake_.wait_until(lock, deadline);
      } else {
        wake_.wait(lock);
      }
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
    double delay = std::chrono::duration<double>(now - *first_pending_).count();
    first_pending_.reset();
    last_publish_ = now;
    published_ = true;
    ++publishes_;
    lock.unlock();
    publish_(std::move(world));
    if (options_.observe_publish_delay) options_.observe_publish_delay(delay);
    lock.lock();
  }
}

absl::Status Controller::Readiness() const {
  std::lock_guard lock(mu_);
  if (published_) return absl::OkStatus();
  if (std::optional<std::string> waiting = GateLocked(Clock::now())) {
    return absl::UnavailableError(*waiting);
  }
  return absl::UnavailableError("initial configuration not published yet");
}

std::vector<Controller::ClusterStatus> Controller::Clusters() const {
  std::lock_guard lock(mu_);
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
  std::lock_guard lock(mu_);
  return publishes_;
}

}  // namespace propsy::control
