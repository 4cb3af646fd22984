#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"

namespace propsy::xds {

// Bounds the bytes of responses being written at once over all streams.
//
// Why: a response is a copy of its resources, and gRPC holds a serialized
// copy until the client has read it. A thousand Envoys syncing at once would
// otherwise hold a thousand full configurations twice over; within the
// budget they take turns, and the turns go as fast as clients read.
//
// A write that fits (or any write while nothing is in flight) starts at
// once; others wait in arrival order. A write still in flight after
// `stall_after` stops counting against the budget, so clients that stop
// reading cannot starve the others (a thread watches for stalls on the
// injected clock). Thread-safe.
class WriteBudget {
 public:
  // The right to write; returns its bytes to the budget when destroyed.
  class Grant {
   public:
    Grant() = default;
    Grant(Grant&& other) noexcept;
    Grant& operator=(Grant&& other) noexcept;
    Grant(const Grant&) = delete;
    Grant& operator=(const Grant&) = delete;
    ~Grant();

   private:
    friend class WriteBudget;
    Grant(WriteBudget* budget, uint64_t id) : budget_(budget), id_(id) {}
    void Reset();

    WriteBudget* budget_ = nullptr;  // outlives every grant
    uint64_t id_ = 0;
  };
  using Ready = std::function<void(Grant)>;

  struct Stats {
    size_t bytes_in_flight = 0;  // counted against the budget
    size_t waiting = 0;          // writes waiting for their turn
    uint64_t stalled = 0;        // writes that stopped counting, since start
  };

  WriteBudget(size_t max_bytes, std::chrono::milliseconds stall_after, Clock& clock);
  ~WriteBudget();
  WriteBudget(const WriteBudget&) = delete;
  WriteBudget& operator=(const WriteBudget&) = delete;

  // Calls `ready` with a grant for `bytes` once they fit: on this thread
  // when they fit now, else later on the thread that freed the room.
  void Acquire(size_t bytes, Ready ready);
  Stats stats() const;
  size_t max_bytes() const { return max_bytes_; }

 private:
  struct Active {
    size_t bytes = 0;
    Clock::TimePoint since;
    bool counted = true;
  };
  struct Waiter {
    size_t bytes = 0;
    Ready ready;
  };
  struct Started {
    Ready ready;
    Grant grant;
  };

  void Release(uint64_t id);
  // Starts the waiters that fit now; the caller runs them unlocked.
  std::vector<Started> StartWaitersLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Grant StartLocked(size_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchForStalls();

  const size_t max_bytes_;
  const std::chrono::milliseconds stall_after_;
  Clock& clock_;
  mutable absl::Mutex mu_;
  // Moves when the stall watcher must look again (a first counted write).
  uint64_t wake_stall_watcher_ ABSL_GUARDED_BY(mu_) = 0;
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  size_t counted_ ABSL_GUARDED_BY(mu_) = 0;  // active writes still counted
  std::map<uint64_t, Active> active_ ABSL_GUARDED_BY(mu_);
  std::deque<Waiter> waiting_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t stalled_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread stall_watcher_;
};

}  // namespace propsy::xds
