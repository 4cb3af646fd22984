#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"

namespace propsy {

// SIGINT and SIGTERM, read synchronously from a signalfd instead of by a
// handler: the first starts the graceful shutdown on the main thread, a
// second one during it is seen by a watcher thread (SPEC §6: it exits at
// once).
class StopSignals {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread, and so in every thread
  // it starts later: call it before any thread starts.
  static absl::StatusOr<std::unique_ptr<StopSignals>> Block();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Waits for a stop signal; returns its number.
  int Wait();

  // While the returned watcher lives, a stop signal calls `on_signal` with
  // its number on the watcher's thread. Destroying the watcher stops and
  // joins that thread.
  class Watcher {
   public:
    ~Watcher();
    Watcher(const Watcher&) = delete;
    Watcher& operator=(const Watcher&) = delete;

   private:
    friend class StopSignals;
    Watcher(int signal_fd, std::function<void(int)> on_signal);
    int wake_fd_ = -1;  // an eventfd: written to stop the thread
    std::thread thread_;
  };
  std::unique_ptr<Watcher> Watch(std::function<void(int)> on_signal);

 private:
  explicit StopSignals(int signal_fd) : signal_fd_(signal_fd) {}
  const int signal_fd_;
};

}  // namespace propsy
