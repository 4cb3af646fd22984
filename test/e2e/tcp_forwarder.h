#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace propsy::e2e {

// A TCP forwarder on 127.0.0.1 that relays every connection to
// 127.0.0.1:target_port, byte for byte (TLS passes through untouched), and
// can be cut off and restored on the same port: a network partition between
// one client and one server.
//
// States: forwarding (listening, relaying) <-> cut (not listening: new
// connections are refused; every relayed connection was closed), and
// forwarding -> blackholed (nothing is relayed or accepted any more, but
// every socket stays open: the kernel still acknowledges what a client
// sends, as with a peer that froze) -> cut. Cut, Blackhole and Restore are
// called from one test thread; relaying runs on threads of its own (one
// accept thread, one per connection), all joined by Cut and by the
// destructor.
class TcpForwarder {
 public:
  // Listens on a free port of 127.0.0.1 and starts forwarding.
  static absl::StatusOr<std::unique_ptr<TcpForwarder>> Start(int target_port);
  ~TcpForwarder();
  TcpForwarder(const TcpForwarder&) = delete;
  TcpForwarder& operator=(const TcpForwarder&) = delete;

  int port() const { return port_; }
  // Connections accepted so far (all forwarding periods).
  int connections() const;

  // Stops listening and closes every relayed connection (both sides).
  // Idempotent.
  void Cut();
  // Stops relaying and accepting without closing anything. Cut ends it.
  void Blackhole();
  // Listens on the same port again. An error if the port cannot be had.
  absl::Status Restore();

 private:
  struct Relay {
    int client_fd = -1;
    int upstream_fd = -1;
    std::thread thread;
  };

  explicit TcpForwarder(int target_port) : target_port_(target_port) {}
  absl::Status Listen(int port);
  void AcceptLoop(int listen_fd, int stop_fd, int blackhole_fd);
  static void Pump(int client_fd, int upstream_fd, int stop_fd, int blackhole_fd);
  static void PumpUntilDone(int client_fd, int upstream_fd, int stop_fd, int blackhole_fd);

  const int target_port_;
  int port_ = 0;
  int listen_fd_ = -1;
  int stop_fd_ = -1;       // eventfd: readable once Cut began
  int blackhole_fd_ = -1;  // eventfd: readable once Blackhole was called
  std::thread accept_thread_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Relay>> relays_ ABSL_GUARDED_BY(mu_);
  int accepted_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace propsy::e2e
