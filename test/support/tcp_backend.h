#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace propsy::test {

// A tiny TCP server on 127.0.0.1 (a free port): on every connection it first
// writes its name and a newline, then echoes whatever it receives until the
// peer closes. Counts connections. Stops when destroyed: open connections are
// closed at once (no waiting for peers).
class TcpBackend {
 public:
  // Throws std::runtime_error if it cannot bind (as HttpBackend does).
  explicit TcpBackend(std::string name);
  ~TcpBackend();
  TcpBackend(const TcpBackend&) = delete;
  TcpBackend& operator=(const TcpBackend&) = delete;

  const std::string& name() const { return name_; }
  int port() const { return port_; }
  int connections() const { return connections_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);

  std::string name_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: readable once the backend stops
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  absl::Mutex mu_;
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
};

// A blocking TCP client connection to 127.0.0.1:port with bounded waits.
class TcpClient {
 public:
  static absl::StatusOr<std::unique_ptr<TcpClient>> Connect(int port);
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  absl::Status Send(const std::string& data);
  // Reads until `count` newlines arrived, the peer closed, or `timeout_ms`
  // passed; returns what was read (an error only if nothing could be read).
  absl::StatusOr<std::string> ReadLines(int count, int timeout_ms);

 private:
  explicit TcpClient(int fd) : fd_(fd) {}
  int fd_;
};

// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then
// closed): for servers that must be told their port in advance.
absl::StatusOr<int> PickFreePort();

// Sends all of `data` on a socket (retrying short writes and EINTR, never
// raising SIGPIPE); false when the connection failed.
bool WriteAll(int fd, const char* data, size_t size);

}  // namespace propsy::test
