#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace propsy::test {

// Polls `done` every `interval` until it returns true or `timeout` passes.
// Returns whether it became true. Never waits longer than timeout + interval.
inline bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                    std::chrono::milliseconds interval = std::chrono::milliseconds(50)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace propsy::test
