#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace propsy::test {

struct SubprocessOptions {
  std::string program;  // absolute path, or a name looked up in PATH
  std::vector<std::string> args;
  // Added to (or overriding) the test's own environment.
  std::vector<std::pair<std::string, std::string>> env;
  // stdout and stderr both go here (created or truncated). stdin is /dev/null.
  std::string log_path;
};

// A child process that is ended when its owner goes: SIGTERM, then SIGKILL
// if it has not exited within the grace period.
class Subprocess {
 public:
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const SubprocessOptions& options);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // True while the process has not exited (reaps it if it has).
  bool Running();
  // Waits up to `timeout` for the process to exit; its wait status
  // (see WIFEXITED) if it did.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after `grace`; waits for the exit. Idempotent.
  void Terminate(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // Everything the process wrote so far.
  std::string ReadLog() const;
  // Log lines containing any of `needles` (for example "error", "rejected").
  std::vector<std::string> LogLinesContaining(const std::vector<std::string>& needles) const;
  // Describes how the process ended, e.g. "exited with 1" or "killed by signal 9".
  std::string DescribeExit() const;

 private:
  Subprocess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_;
  std::string log_path_;
  std::optional<int> wait_status_;
};

struct RunResult {
  int exit_code = -1;  // -1 when killed (by a signal or the timeout)
  std::string output;  // stdout and stderr, interleaved
};

// Runs a program to completion (killed after `timeout`) and returns its
// exit code and output. The log goes to `log_path`.
absl::StatusOr<RunResult> RunToCompletion(const SubprocessOptions& options,
                                          std::chrono::milliseconds timeout);

}  // namespace propsy::test
