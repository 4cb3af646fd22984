#include "support/subprocess.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

extern char** environ;

namespace propsy::test {
namespace {

// Owns argv/envp storage for posix_spawn.
struct CStrings {
  std::vector<std::string> storage;
  std::vector<char*> pointers;

  char** Get() {
    pointers.clear();
    for (std::string& s : storage) pointers.push_back(s.data());
    pointers.push_back(nullptr);
    return pointers.data();
  }
};

CStrings BuildEnvironment(const std::vector<std::pair<std::string, std::string>>& extra) {
  std::map<std::string, std::string> merged;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view kv(*entry);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    merged[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [key, value] : extra) merged[key] = value;
  CStrings env;
  for (const auto& [key, value] : merged) env.storage.push_back(fmt::format("{}={}", key, value));
  return env;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(const SubprocessOptions& options) {
  if (options.log_path.empty()) return absl::InvalidArgumentError("log_path is required");
  CStrings argv;
  argv.storage.push_back(options.program);
  for (const std::string& arg : options.args) argv.storage.push_back(arg);
  CStrings env = BuildEnvironment(options.env);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, options.log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);

  pid_t pid = 0;
  int error = posix_spawnp(&pid, options.program.c_str(), &actions, nullptr, argv.Get(), env.Get());
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    return absl::InternalError(
        fmt::format("cannot start {}: {}", options.program, strerror(error)));
  }
  return std::unique_ptr<Subprocess>(new Subprocess(pid, options.log_path));
}

Subprocess::~Subprocess() { Terminate(); }

bool Subprocess::Running() {
  if (wait_status_) return false;
  int status = 0;
  pid_t result = waitpid(pid_, &status, WNOHANG);
  if (result == pid_) {
    wait_status_ = status;
    return false;
  }
  return result == 0;
}

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return wait_status_;
}

void Subprocess::Terminate(std::chrono::milliseconds grace) {
  if (!Running()) return;
  kill(pid_, SIGTERM);
  if (Wait(grace)) return;
  kill(pid_, SIGKILL);
  int status = 0;
  if (waitpid(pid_, &status, 0) == pid_) wait_status_ = status;
}

std::string Subprocess::ReadLog() const {
  std::ifstream in(log_path_);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> Subprocess::LogLinesContaining(
    const std::vector<std::string>& needles) const {
  std::vector<std::string> lines;
  std::istringstream in(ReadLog());
  for (std::string line; std::getline(in, line);) {
    for (const std::string& needle : needles) {
      if (line.find(needle) != std::string::npos) {
        lines.push_back(line);
        break;
      }
    }
  }
  return lines;
}

std::string Subprocess::DescribeExit() const {
  if (!wait_status_) return "still running";
  if (WIFEXITED(*wait_status_)) return fmt::format("exited with {}", WEXITSTATUS(*wait_status_));
  if (WIFSIGNALED(*wait_status_))
    return fmt::format("killed by signal {}", WTERMSIG(*wait_status_));
  return fmt::format("ended with wait status {}", *wait_status_);
}

absl::StatusOr<RunResult> RunToCompletion(const SubprocessOptions& options,
                                          std::chrono::milliseconds timeout) {
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(options);
  if (!process.ok()) return process.status();
  RunResult result;
  std::optional<int> status = (*process)->Wait(timeout);
  if (!status) {
    (*process)->Terminate(std::chrono::milliseconds(500));
    result.output = (*process)->ReadLog();
    return absl::DeadlineExceededError(fmt::format("{} did not finish within {} ms; output:\n{}",
                                                   options.program, timeout.count(),
                                                   result.output));
  }
  result.exit_code = WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  result.output = (*process)->ReadLog();
  return result;
}

}  // namespace propsy::test
