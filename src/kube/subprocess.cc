#include "kube/subprocess.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <set>

extern char** environ;

namespace propsy::kube {
namespace {

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    Reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Frees the posix_spawn attribute objects on scope exit.
struct SpawnActions {
  posix_spawn_file_actions_t actions;
  SpawnActions() { posix_spawn_file_actions_init(&actions); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
};

struct SpawnAttributes {
  posix_spawnattr_t attributes;
  SpawnAttributes() { posix_spawnattr_init(&attributes); }
  ~SpawnAttributes() { posix_spawnattr_destroy(&attributes); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
};

absl::Status Errno(std::string_view what, int error) {
  return absl::InternalError(fmt::format("{}: {}", what, std::strerror(error)));
}

// Waits for `pid`, retrying on EINTR; fills the exit code or signal.
void Reap(pid_t pid, ProcessResult* result) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    result->signal = WTERMSIG(status);
  } else {
    result->exit_code = WEXITSTATUS(status);
  }
}

}  // namespace

std::vector<std::string> EnvironmentWith(const std::vector<std::string>& overrides) {
  std::set<std::string> names;
  for (const std::string& entry : overrides) names.insert(entry.substr(0, entry.find('=')));
  std::vector<std::string> environment;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (names.contains(std::string(text.substr(0, text.find('='))))) continue;
    environment.emplace_back(text);
  }
  environment.insert(environment.end(), overrides.begin(), overrides.end());
  return environment;
}

absl::StatusOr<ProcessResult> RunProcess(const ProcessSpec& spec) {
  // O_CLOEXEC: a process spawned by another thread at the same time must not
  // inherit our pipe ends (it would keep them open past our child's exit).
  std::array<int, 2> out_pipe{-1, -1};
  std::array<int, 2> err_pipe{-1, -1};
  if (::pipe2(out_pipe.data(), O_CLOEXEC) != 0) return Errno("pipe", errno);
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe.data(), O_CLOEXEC) != 0) return Errno("pipe", errno);
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);

  SpawnActions actions;
  posix_spawn_file_actions_addopen(&actions.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions.actions, out_write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions.actions, err_write.get(), STDERR_FILENO);
  // The child starts with default signal handling and an empty mask, and in
  // its own process group so a kill reaches anything it started.
  SpawnAttributes attributes;
  sigset_t no_signals;
  sigemptyset(&no_signals);
  sigset_t default_signals;
  sigfillset(&default_signals);
  posix_spawnattr_setsigmask(&attributes.attributes, &no_signals);
  posix_spawnattr_setsigdefault(&attributes.attributes, &default_signals);
  posix_spawnattr_setpgroup(&attributes.attributes, 0);
  posix_spawnattr_setflags(&attributes.attributes,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(spec.command.c_str()));
  for (const std::string& arg : spec.args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& entry : spec.environment)
    envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);

  pid_t pid = 0;
  // posix_spawnp looks a bare name up in PATH and reports a failed exec as
  // its result (glibc), so a missing program is told apart from a failing one.
  const int spawn_error = ::posix_spawnp(&pid, spec.command.c_str(), &actions.actions,
                                         &attributes.attributes, argv.data(), envp.data());
  if (spawn_error == ENOENT) {
    return absl::NotFoundError(fmt::format("executable {} not found", spec.command));
  }
  if (spawn_error != 0) return Errno(fmt::format("cannot run {}", spec.command), spawn_error);
  out_write.Reset();
  err_write.Reset();

  ProcessResult result;
  std::string stderr_text;
  bool too_much = false;
  const auto deadline = std::chrono::steady_clock::now() + spec.timeout;
  std::array<pollfd, 2> fds{pollfd{.fd = out_read.get(), .events = POLLIN, .revents = 0},
                            pollfd{.fd = err_read.get(), .events = POLLIN, .revents = 0}};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      Reap(pid, &result);
      return absl::DeadlineExceededError(fmt::format(
          "{} did not finish within {} ms; stderr: {}", spec.command, spec.timeout.count(),
          stderr_text.size() > spec.stderr_tail_bytes
              ? stderr_text.substr(stderr_text.size() - spec.stderr_tail_bytes)
              : stderr_text));
    }
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (ready < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::kill(-pid, SIGKILL);
      Reap(pid, &result);
      return Errno("poll", error);
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[8192];
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;  // end of file (or a broken pipe): stop polling it
        continue;
      }
      if (i == 0) {
        if (result.stdout_text.size() + static_cast<size_t>(n) > spec.max_stdout_bytes) {
          too_much = true;  // keep draining so the child is not blocked
        } else {
          result.stdout_text.append(buffer, static_cast<size_t>(n));
        }
      } else {
        stderr_text.append(buffer, static_cast<size_t>(n));
        // Bound memory: keep twice the tail, trim when exceeded.
        if (stderr_text.size() > 2 * spec.stderr_tail_bytes) {
          stderr_text.erase(0, stderr_text.size() - spec.stderr_tail_bytes);
        }
      }
    }
  }
  // Both pipes closed: the child normally exits at once, but it may have
  // closed them and kept running.
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
      } else {
        result.exit_code = WEXITSTATUS(status);
      }
      break;
    }
    if (done < 0 && errno != EINTR) return Errno("waitpid", errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      Reap(pid, &result);
      return absl::DeadlineExceededError(
          fmt::format("{} did not finish within {} ms", spec.command, spec.timeout.count()));
    }
    ::usleep(5000);
  }
  result.stderr_tail = stderr_text.size() > spec.stderr_tail_bytes
                           ? stderr_text.substr(stderr_text.size() - spec.stderr_tail_bytes)
                           : stderr_text;
  if (too_much) {
    return absl::ResourceExhaustedError(
        fmt::format("{} wrote more than {} bytes to stdout", spec.command, spec.max_stdout_bytes));
  }
  return result;
}

}  // namespace propsy::kube
