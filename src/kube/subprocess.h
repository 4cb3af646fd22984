#pragma once

// Runs a helper program (an exec credential plugin) without a shell: its
// output is captured through pipes and it is killed when it overstays.

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace propsy::kube {

struct ProcessSpec {
  // Program to run: a path, or a bare name looked up in PATH.
  std::string command;
  std::vector<std::string> args;  // without argv[0]
  // The complete environment, "NAME=value" each.
  std::vector<std::string> environment;
  std::chrono::milliseconds timeout{60000};
  // Standard output beyond this is an error; standard error keeps its tail.
  size_t max_stdout_bytes = 4 << 20;
  size_t stderr_tail_bytes = 4096;
};

struct ProcessResult {
  int exit_code = 0;  // valid when signal == 0
  int signal = 0;     // the signal that ended the process, or 0
  std::string stdout_text;
  std::string stderr_tail;  // the last stderr_tail_bytes of standard error
};

// Starts `spec.command` with standard input from /dev/null and waits for it.
// Errors: NotFound when the program does not exist, DeadlineExceeded when it
// ran longer than the timeout (it is killed), ResourceExhausted when it wrote
// too much, Internal for anything else. A non-zero exit is a result, not an
// error. Safe to call from many threads at once.
absl::StatusOr<ProcessResult> RunProcess(const ProcessSpec& spec);

// This process's environment with `overrides` ("NAME=value") replacing or
// adding variables.
std::vector<std::string> EnvironmentWith(const std::vector<std::string>& overrides);

}  // namespace propsy::kube
