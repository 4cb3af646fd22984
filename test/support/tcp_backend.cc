#include "support/tcp_backend.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>

namespace propsy::test {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Binds a TCP socket to 127.0.0.1:port (0 = any free port); returns the fd
// and the bound port, or -1 and errno text.
int BindLoopback(int port, int* bound_port, std::string* error) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address = Loopback(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    *error = strerror(errno);
    close(fd);
    return -1;
  }
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  *bound_port = ntohs(address.sin_port);
  return fd;
}

}  // namespace

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

absl::StatusOr<int> PickFreePort() {
  int port = 0;
  std::string error;
  int fd = BindLoopback(0, &port, &error);
  if (fd < 0) return absl::UnavailableError(fmt::format("cannot bind 127.0.0.1:0: {}", error));
  close(fd);
  return port;
}

TcpBackend::TcpBackend(std::string name) : name_(std::move(name)) {
  std::string error;
  listen_fd_ = BindLoopback(0, &port_, &error);
  if (listen_fd_ < 0 || listen(listen_fd_, 64) != 0) {
    if (listen_fd_ >= 0) close(listen_fd_);
    throw std::runtime_error(fmt::format("tcp backend {}: cannot listen: {}", name_, error));
  }
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0) {
    close(listen_fd_);
    throw std::runtime_error(fmt::format("tcp backend {}: eventfd failed", name_));
  }
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

TcpBackend::~TcpBackend() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t written = write(stop_fd_, &one, sizeof(one));
  accept_thread_.join();
  std::vector<std::thread> workers;
  {
    absl::MutexLock lock(&mu_);
    workers.swap(workers_);
  }
  for (std::thread& worker : workers) worker.join();
  close(listen_fd_);
  close(stop_fd_);
}

void TcpBackend::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{.fd = listen_fd_, .events = POLLIN, .revents = 0},
                     {.fd = stop_fd_, .events = POLLIN, .revents = 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    connections_.fetch_add(1);
    absl::MutexLock lock(&mu_);
    workers_.emplace_back([this, fd] { Serve(fd); });
  }
}

void TcpBackend::Serve(int fd) {
  const std::string greeting = name_ + "\n";
  if (WriteAll(fd, greeting.data(), greeting.size())) {
    char buffer[4096];
    while (true) {
      pollfd fds[2] = {{.fd = fd, .events = POLLIN, .revents = 0},
                       {.fd = stop_fd_, .events = POLLIN, .revents = 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents != 0) break;
      ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || !WriteAll(fd, buffer, static_cast<size_t>(n))) break;
    }
  }
  close(fd);
}

absl::StatusOr<std::unique_ptr<TcpClient>> TcpClient::Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(fmt::format("socket: {}", strerror(errno)));
  // Bounded waits for connect, send and recv alike.
  timeval timeout{.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    std::string error = strerror(errno);
    close(fd);
    return absl::UnavailableError(fmt::format("connect 127.0.0.1:{}: {}", port, error));
  }
  return std::unique_ptr<TcpClient>(new TcpClient(fd));
}

TcpClient::~TcpClient() { close(fd_); }

absl::Status TcpClient::Send(const std::string& data) {
  if (!WriteAll(fd_, data.data(), data.size())) {
    return absl::UnavailableError(fmt::format("send: {}", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TcpClient::ReadLines(int count, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string data;
  int newlines = 0;
  while (newlines < count) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd fds[1] = {{.fd = fd_, .events = POLLIN, .revents = 0}};
    int ready = poll(fds, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    char buffer[1024];
    ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) newlines += buffer[i] == '\n' ? 1 : 0;
    data.append(buffer, static_cast<size_t>(n));
  }
  if (data.empty()) {
    return absl::UnavailableError(
        fmt::format("read nothing within {} ms (peer closed or silent)", timeout_ms));
  }
  return data;
}

}  // namespace propsy::test
