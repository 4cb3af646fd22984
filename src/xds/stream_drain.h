#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"

namespace propsy::xds {

// Graceful shutdown of the discovery streams (SPEC §6): once draining
// begins, no stream is admitted any more, and the streams open at that
// moment are closed one by one, spread evenly over the drain period, so
// their Envoys move to other replicas gradually instead of all at once.
//
// States: serving (Admit registers streams) -> draining (Admit refuses;
// Drain closes the registered streams on schedule) -> drained (Drain
// returned). Abort ends a Drain in progress at once, closing nothing more.
//
// A stream is admitted with a close callback and keeps the returned handle
// while it is open; dropping the handle (the stream ended on its own)
// removes it. The callback is called at most once, never with the lock
// held, and may be called after the handle is dropped if the two race: it
// must tolerate a stream that is already gone (hold a weak reference).
class StreamDrain {
 public:
  class Admission {
   public:
    ~Admission();
    Admission(const Admission&) = delete;
    Admission& operator=(const Admission&) = delete;

   private:
    friend class StreamDrain;
    Admission(StreamDrain& drain, uint64_t id) : drain_(drain), id_(id) {}
    StreamDrain& drain_;
    const uint64_t id_;
  };

  StreamDrain() = default;
  StreamDrain(const StreamDrain&) = delete;
  StreamDrain& operator=(const StreamDrain&) = delete;

  // Registers an open stream; null once draining has begun (refuse it).
  std::unique_ptr<Admission> Admit(std::function<void()> close);

  // Begins draining if it has not begun: Admit refuses from now on.
  void BeginDrain();
  bool draining() const;

  // Begins draining and closes the streams open now: the i-th of n at
  // start + period * i / n on `clock` (the first at once, none after the
  // period). Returns when every one was closed or Abort was called.
  void Drain(Clock& clock, Clock::Duration period);
  // Ends a Drain in progress (and any later one) without closing more.
  void Abort();

  size_t open_streams() const;

 private:
  void Remove(uint64_t id);

  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::function<void()>> open_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace propsy::xds
