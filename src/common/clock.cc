#include "common/clock.h"

#include <iterator>

namespace propsy {
namespace {

// The simulated clocks' starting point: a fixed wall time (2026-01-01T00:00:00Z)
// so simulated timestamps are reproducible, and a monotonic origin far from 0
// so "time_point{}" never looks like a recent moment.
constexpr std::chrono::seconds kSimulatedWallStart{1767225600};
constexpr std::chrono::hours kSimulatedSteadyStart{24 * 365};

}  // namespace

void Clock::SleepUntil(TimePoint deadline) {
  absl::Mutex mu;
  absl::MutexLock lock(&mu);
  static constexpr bool kNever = false;
  AwaitUntil(mu, absl::Condition(&kNever), deadline);
}

bool RealClock::AwaitUntil(absl::Mutex& mu, const absl::Condition& condition, TimePoint deadline) {
  TimePoint now = Now();
  if (now >= deadline) return condition.Eval();
  return mu.AwaitWithTimeout(condition, absl::FromChrono(deadline - now));
}

SimulatedClock::SimulatedClock() = default;

Clock::TimePoint SimulatedClock::Now() const {
  return TimePoint(kSimulatedSteadyStart) + Duration(elapsed_.load());
}

std::chrono::system_clock::time_point SimulatedClock::WallNow() const {
  return std::chrono::system_clock::time_point(kSimulatedWallStart) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(Duration(elapsed_.load()));
}

bool SimulatedClock::AwaitUntil(absl::Mutex& mu, const absl::Condition& condition,
                                TimePoint deadline) {
  // absl re-evaluates a condition when the mutex is released; simulated time
  // moves without touching `mu`, so the wait also looks at the time every
  // millisecond of real time.
  auto done = [&] { return condition.Eval() || Now() >= deadline; };
  {
    absl::MutexLock lock(&deadlines_mu_);
    deadlines_.insert(deadline);
  }
  ++waiters_;
  while (!mu.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(1))) {
  }
  {
    absl::MutexLock lock(&deadlines_mu_);
    deadlines_.erase(deadlines_.find(deadline));
  }
  --waiters_;
  ++wakeups_;  // after waiters_ moved, so waiters() == n then means "waiting again"
  return condition.Eval();
}

size_t SimulatedClock::Advance(Duration by) {
  absl::MutexLock lock(&deadlines_mu_);
  elapsed_ += by.count();
  return std::distance(deadlines_.begin(), deadlines_.upper_bound(Now()));
}

bool SimulatedClock::AwaitWaiters(size_t count, absl::Duration real_timeout) const {
  absl::Mutex mu;
  absl::MutexLock lock(&mu);
  auto enough = [&] { return waiters_.load() >= count; };
  absl::Time deadline = absl::Now() + real_timeout;
  while (!enough()) {
    if (absl::Now() >= deadline) return false;
    mu.AwaitWithTimeout(absl::Condition(&enough), absl::Milliseconds(1));
  }
  return true;
}

}  // namespace propsy
