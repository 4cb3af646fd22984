#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace httplib {
class Server;
}

namespace propsy::test {

// A tiny HTTP/1.1 server on `host` (127.0.0.1 unless given; a free port)
// that answers every request with 200 and its own name as the body, counts
// the requests and records their paths (so a test sees what a proxy
// rewrote).
// Stops when destroyed; that waits for open keep-alive connections (up to
// 5 s), so stop the clients (Envoy) first.
class HttpBackend {
 public:
  // Throws std::runtime_error if it cannot bind or does not come up.
  explicit HttpBackend(std::string name, const std::string& host = "127.0.0.1");
  ~HttpBackend();
  HttpBackend(const HttpBackend&) = delete;
  HttpBackend& operator=(const HttpBackend&) = delete;

  const std::string& name() const { return name_; }
  int port() const { return port_; }
  int requests() const { return requests_.load(); }
  // The path of every request so far, in arrival order.
  std::vector<std::string> paths() const;

 private:
  std::string name_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  mutable absl::Mutex mu_;
  std::vector<std::string> paths_ ABSL_GUARDED_BY(mu_);
};

}  // namespace propsy::test
