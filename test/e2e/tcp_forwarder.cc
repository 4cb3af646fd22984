#include "e2e/tcp_forwarder.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "support/tcp_backend.h"

namespace propsy::e2e {
namespace {

// Blocks until `stop_fd` is readable: a blackholed relay or accept loop
// holds its sockets open and does nothing else.
void WaitForStop(int stop_fd) {
  pollfd fd{.fd = stop_fd, .events = POLLIN, .revents = 0};
  while (poll(&fd, 1, -1) < 0 && errno == EINTR) {
  }
}

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpForwarder>> TcpForwarder::Start(int target_port) {
  auto forwarder = std::unique_ptr<TcpForwarder>(new TcpForwarder(target_port));
  if (absl::Status listening = forwarder->Listen(0); !listening.ok()) return listening;
  return forwarder;
}

TcpForwarder::~TcpForwarder() { Cut(); }

int TcpForwarder::connections() const {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

absl::Status TcpForwarder::Listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(fmt::format("socket: {}", strerror(errno)));
  // The port is taken again after Cut: connections closed by this side sit
  // in TIME_WAIT, which SO_REUSEADDR allows.
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address = Loopback(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd, 64) != 0) {
    const std::string error = strerror(errno);
    close(fd);
    return absl::UnavailableError(fmt::format("forwarder: bind 127.0.0.1:{}: {}", port, error));
  }
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  listen_fd_ = fd;
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  blackhole_fd_ = eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0 || blackhole_fd_ < 0) {
    const std::string error = strerror(errno);
    close(fd);
    if (stop_fd_ >= 0) close(stop_fd_);
    if (blackhole_fd_ >= 0) close(blackhole_fd_);
    listen_fd_ = stop_fd_ = blackhole_fd_ = -1;
    return absl::InternalError(fmt::format("eventfd: {}", error));
  }
  accept_thread_ = std::thread(
      [this, fd, stop = stop_fd_, blackhole = blackhole_fd_] { AcceptLoop(fd, stop, blackhole); });
  return absl::OkStatus();
}

absl::Status TcpForwarder::Restore() {
  if (listen_fd_ >= 0) return absl::OkStatus();
  return Listen(port_);
}

void TcpForwarder::Blackhole() {
  if (blackhole_fd_ < 0) return;
  const uint64_t one = 1;
  (void)!write(blackhole_fd_, &one, sizeof(one));
}

void TcpForwarder::Cut() {
  if (listen_fd_ < 0) return;
  const uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof(one));
  if (accept_thread_.joinable()) accept_thread_.join();
  close(listen_fd_);
  listen_fd_ = -1;
  std::vector<std::unique_ptr<Relay>> relays;
  {
    absl::MutexLock lock(&mu_);
    relays.swap(relays_);
  }
  // Shutting the sockets down wakes a relay blocked in send(); the
  // descriptors stay open until its thread is joined, so none is reused
  // under it.
  for (const auto& relay : relays) {
    shutdown(relay->client_fd, SHUT_RDWR);
    shutdown(relay->upstream_fd, SHUT_RDWR);
  }
  for (const auto& relay : relays) {
    if (relay->thread.joinable()) relay->thread.join();
    close(relay->client_fd);
    close(relay->upstream_fd);
  }
  close(stop_fd_);
  close(blackhole_fd_);
  stop_fd_ = blackhole_fd_ = -1;
}

void TcpForwarder::AcceptLoop(int listen_fd, int stop_fd, int blackhole_fd) {
  while (true) {
    pollfd fds[3] = {{.fd = listen_fd, .events = POLLIN, .revents = 0},
                     {.fd = stop_fd, .events = POLLIN, .revents = 0},
                     {.fd = blackhole_fd, .events = POLLIN, .revents = 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[2].revents != 0) {
      // New connections wait in the backlog, never answered.
      WaitForStop(stop_fd);
      return;
    }
    int client = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in target = Loopback(target_port_);
    if (upstream < 0 || connect(upstream, reinterpret_cast<sockaddr*>(&target), sizeof(target))) {
      if (upstream >= 0) close(upstream);
      close(client);
      continue;
    }
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto relay = std::make_unique<Relay>();
    relay->client_fd = client;
    relay->upstream_fd = upstream;
    relay->thread = std::thread([client, upstream, stop_fd, blackhole_fd] {
      Pump(client, upstream, stop_fd, blackhole_fd);
    });
    absl::MutexLock lock(&mu_);
    relays_.push_back(std::move(relay));
    ++accepted_;
  }
}

void TcpForwarder::Pump(int client_fd, int upstream_fd, int stop_fd, int blackhole_fd) {
  PumpUntilDone(client_fd, upstream_fd, stop_fd, blackhole_fd);
  // Whatever ended the relay, both peers see the connection end (the
  // descriptors are closed by the owner, after the join).
  shutdown(client_fd, SHUT_RDWR);
  shutdown(upstream_fd, SHUT_RDWR);
}

void TcpForwarder::PumpUntilDone(int client_fd, int upstream_fd, int stop_fd, int blackhole_fd) {
  // open[i]: direction i (0: client -> upstream, 1: upstream -> client)
  // still carries data.
  const int from[2] = {client_fd, upstream_fd};
  const int to[2] = {upstream_fd, client_fd};
  bool open[2] = {true, true};
  char buffer[64 * 1024];
  while (open[0] || open[1]) {
    pollfd fds[4] = {{.fd = open[0] ? from[0] : -1, .events = POLLIN, .revents = 0},
                     {.fd = open[1] ? from[1] : -1, .events = POLLIN, .revents = 0},
                     {.fd = stop_fd, .events = POLLIN, .revents = 0},
                     {.fd = blackhole_fd, .events = POLLIN, .revents = 0}};
    if (poll(fds, 4, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[2].revents != 0) return;
    if (fds[3].revents != 0) {
      WaitForStop(stop_fd);
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (!open[i] || fds[i].revents == 0) continue;
      ssize_t n = recv(from[i], buffer, sizeof(buffer), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;  // reset: the owner closes both sides
      if (n == 0) {
        // A half close travels on, as it would without the forwarder.
        shutdown(to[i], SHUT_WR);
        open[i] = false;
        continue;
      }
      if (!test::WriteAll(to[i], buffer, static_cast<size_t>(n))) return;
    }
  }
}

}  // namespace propsy::e2e
