#include "xds/write_budget.h"

#include <utility>
#include <vector>

namespace propsy::xds {

WriteBudget::Grant::Grant(Grant&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)), id_(std::exchange(other.id_, 0)) {}

WriteBudget::Grant& WriteBudget::Grant::operator=(Grant&& other) noexcept {
  if (this != &other) {
    Reset();
    budget_ = std::exchange(other.budget_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

WriteBudget::Grant::~Grant() { Reset(); }

void WriteBudget::Grant::Reset() {
  if (budget_ != nullptr) std::exchange(budget_, nullptr)->Release(id_);
}

WriteBudget::WriteBudget(size_t max_bytes, std::chrono::milliseconds stall_after, Clock& clock)
    : max_bytes_(max_bytes), stall_after_(stall_after), clock_(clock) {
  stall_watcher_ = std::thread([this] { WatchForStalls(); });
}

WriteBudget::~WriteBudget() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  stall_watcher_.join();
}

void WriteBudget::Acquire(size_t bytes, Ready ready) {
  Grant grant;
  {
    absl::MutexLock lock(&mu_);
    if (!waiting_.empty() || (in_flight_ > 0 && in_flight_ + bytes > max_bytes_)) {
      waiting_.push_back(Waiter{.bytes = bytes, .ready = std::move(ready)});
      return;
    }
    // The stall watcher sleeps until the oldest counted write's deadline;
    // only a write when none counts gives it a new one to wake for.
    if (counted_ == 0) ++wake_stall_watcher_;
    grant = StartLocked(bytes);
  }
  ready(std::move(grant));
}

WriteBudget::Stats WriteBudget::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{.bytes_in_flight = in_flight_, .waiting = waiting_.size(), .stalled = stalled_};
}

WriteBudget::Grant WriteBudget::StartLocked(size_t bytes) {
  uint64_t id = next_id_++;
  active_.emplace(id, Active{.bytes = bytes, .since = clock_.Now(), .counted = true});
  in_flight_ += bytes;
  ++counted_;
  return Grant(this, id);
}

std::vector<WriteBudget::Started> WriteBudget::StartWaitersLocked() {
  std::vector<Started> started;
  while (!waiting_.empty() &&
         (in_flight_ == 0 || in_flight_ + waiting_.front().bytes <= max_bytes_)) {
    Waiter waiter = std::move(waiting_.front());
    waiting_.pop_front();
    started.push_back(
        Started{.ready = std::move(waiter.ready), .grant = StartLocked(waiter.bytes)});
  }
  return started;
}

void WriteBudget::Release(uint64_t id) {
  std::vector<Started> started;
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(id);
    if (it == active_.end()) return;
    if (it->second.counted) {
      in_flight_ -= it->second.bytes;
      --counted_;
    }
    active_.erase(it);
    const bool none_counted = counted_ == 0;
    started = StartWaitersLocked();
    // Otherwise the writes started here are younger than the one the stall
    // watcher sleeps for.
    if (none_counted && !started.empty()) ++wake_stall_watcher_;
  }
  for (Started& write : started) write.ready(std::move(write.grant));
}

void WriteBudget::WatchForStalls() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    // The oldest counted write decides when to look again.
    std::optional<Clock::TimePoint> next;
    const Clock::TimePoint now = clock_.Now();
    for (auto& [id, active] : active_) {
      if (!active.counted) continue;
      if (now - active.since >= stall_after_) {
        active.counted = false;
        in_flight_ -= active.bytes;
        --counted_;
        ++stalled_;
      } else if (!next || active.since + stall_after_ < *next) {
        next = active.since + stall_after_;
      }
    }
    std::vector<Started> started = StartWaitersLocked();
    if (!started.empty()) {
      mu_.Unlock();
      for (Started& write : started) write.ready(std::move(write.grant));
      mu_.Lock();
      continue;
    }
    const uint64_t seen = wake_stall_watcher_;
    auto woken = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return wake_stall_watcher_ != seen || stopping_;
    };
    clock_.AwaitUntil(mu_, absl::Condition(&woken), next.value_or(Clock::TimePoint::max()));
  }
}

}  // namespace propsy::xds
