#include "main/stop_signals.h"

#include <fmt/format.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"

namespace propsy {
namespace {

// Reads one signal from `fd`; 0 if none could be read.
int ReadSignal(int fd) {
  signalfd_siginfo info{};
  ssize_t n;
  do {
    n = read(fd, &info, sizeof(info));
  } while (n < 0 && errno == EINTR);
  return n == sizeof(info) ? static_cast<int>(info.ssi_signo) : 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StopSignals>> StopSignals::Block() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (int error = pthread_sigmask(SIG_BLOCK, &signals, nullptr); error != 0) {
    return absl::InternalError(fmt::format("pthread_sigmask: {}", std::strerror(error)));
  }
  int fd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(fmt::format("signalfd: {}", std::strerror(errno)));
  return std::unique_ptr<StopSignals>(new StopSignals(fd));
}

StopSignals::~StopSignals() { close(signal_fd_); }

int StopSignals::Wait() {
  for (;;) {
    if (int signal = ReadSignal(signal_fd_); signal != 0) return signal;
  }
}

std::unique_ptr<StopSignals::Watcher> StopSignals::Watch(std::function<void(int)> on_signal) {
  return std::unique_ptr<Watcher>(new Watcher(signal_fd_, std::move(on_signal)));
}

StopSignals::Watcher::Watcher(int signal_fd, std::function<void(int)> on_signal)
    : wake_fd_(eventfd(0, EFD_CLOEXEC)) {
  thread_ = std::thread([this, signal_fd, on_signal = std::move(on_signal)] {
    pollfd fds[2] = {{.fd = signal_fd, .events = POLLIN, .revents = 0},
                     {.fd = wake_fd_, .events = POLLIN, .revents = 0}};
    for (;;) {
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      if (fds[0].revents != 0) {
        if (int signal = ReadSignal(signal_fd); signal != 0) on_signal(signal);
      }
    }
  });
}

StopSignals::Watcher::~Watcher() {
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

}  // namespace propsy
