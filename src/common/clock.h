#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace propsy {

// The one source of time for everything timed (debouncing, write stalls,
// backoff, leases, rate limits). Production code takes a `Clock&` and never
// reads std::chrono clocks itself, so timing logic is tested on simulated
// time (SimulatedClock) instead of real sleeps, as Envoy's TimeSource is.
//
// Waiting goes through the clock too: a thread that waits for "this
// condition, or that deadline" calls AwaitUntil, which a simulated clock
// wakes when its time passes the deadline.
class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;

  // Monotonic time, for deadlines and intervals.
  virtual TimePoint Now() const = 0;
  // Wall-clock time, for timestamps people read or Kubernetes stores.
  virtual std::chrono::system_clock::time_point WallNow() const = 0;

  // With `mu` held: releases it until `condition` holds or Now() reaches
  // `deadline`, then holds it again. Returns whether `condition` holds.
  virtual bool AwaitUntil(absl::Mutex& mu, const absl::Condition& condition, TimePoint deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  // Blocks until Now() reaches `deadline`.
  void SleepUntil(TimePoint deadline);
  void SleepFor(Duration duration) { SleepUntil(Now() + duration); }
};

// The machine's clocks: steady_clock and system_clock.
class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::now();
  }
  bool AwaitUntil(absl::Mutex& mu, const absl::Condition& condition, TimePoint deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
};

// Time that moves only when a test says so. Thread-safe.
//
// Threads blocked in AwaitUntil or SleepUntil wake once Advance moves the
// time past their deadline (they look at the time at least every
// millisecond of real time). A test synchronizes with the code under test
// through AwaitWaiters: "advance only once the thread is waiting again".
class SimulatedClock final : public Clock {
 public:
  // Starts at an arbitrary, fixed point in both monotonic and wall time.
  SimulatedClock();

  TimePoint Now() const override;
  std::chrono::system_clock::time_point WallNow() const override;
  bool AwaitUntil(absl::Mutex& mu, const absl::Condition& condition, TimePoint deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Moves both clocks forward. Returns how many waiting threads' deadlines
  // it reached: those threads wake (see wakeups()).
  size_t Advance(Duration by);

  // Waits (in real time, at most `real_timeout`) until at least `count`
  // threads are blocked in AwaitUntil or SleepUntil. Returns whether they are.
  bool AwaitWaiters(size_t count, absl::Duration real_timeout = absl::Seconds(10)) const;
  size_t waiters() const { return waiters_.load(); }
  // Waits in AwaitUntil or SleepUntil that have ended, since construction.
  // With waiters(), tells a test that the thread it woke (by an event or by
  // Advance) has done its work and waits again: wakeups() moved past the
  // count before the wake, and waiters() is back.
  uint64_t wakeups() const { return wakeups_.load(); }

 private:
  std::atomic<Duration::rep> elapsed_{0};
  std::atomic<size_t> waiters_{0};
  std::atomic<uint64_t> wakeups_{0};
  // Deadlines of the threads waiting now, so Advance can tell whom it wakes.
  mutable absl::Mutex deadlines_mu_;
  std::multiset<TimePoint> deadlines_ ABSL_GUARDED_BY(deadlines_mu_);
};

}  // namespace propsy
