#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "xds/config_watcher.h"
#include "xds/name_sets.h"
#include "xds/node_status.h"
#include "xds/server_tls.h"
#include "xds/stream_drain.h"
#include "xds/write_budget.h"

namespace propsy::xds {

struct XdsServerOptions {
  std::string listen_address = "0.0.0.0:8888";  // port 0 picks a free port
  std::optional<ServerTlsFiles> tls;
  // With mutual TLS, require node id == certificate identity (-peerskipcn
  // turns it off). Ignored without a client CA.
  bool check_peer_identity = true;
  // Larger requests are refused with RESOURCE_EXHAUSTED, only on that stream.
  int max_receive_message_bytes = 4 * 1024 * 1024;
  // How often the TLS certificate files are checked for changes.
  unsigned cert_refresh_seconds = 10;
  // Responses being written at once, over all streams (WriteBudget).
  size_t write_budget_bytes = 4 * 1024 * 1024;
  std::chrono::milliseconds write_stall_after{2000};
  // Each connection's read buffer starts at `read_chunk_bytes` and grows to
  // at most `max_read_chunk_bytes` (gRPC keeps it between reads).
  int read_chunk_bytes = 8 * 1024;
  int max_read_chunk_bytes = 8 * 1024;
};

// The xDS gRPC server: ADS, per-type discovery (stream, delta, Fetch), CSDS,
// grpc.health.v1 and server reflection. Stops serving when destroyed. The
// watcher, registry and clock must outlive it.
//
// Graceful shutdown (SPEC §6): Drain makes gRPC health answer NOT_SERVING,
// refuses new discovery streams (UNAVAILABLE) and closes the open ones
// spread over the drain period (StreamDrain); unary calls (Fetch, CSDS) are
// still answered until the server is destroyed.
class XdsServer {
 public:
  static absl::StatusOr<std::unique_ptr<XdsServer>> Start(const XdsServerOptions& options,
                                                          ConfigWatcher& watcher,
                                                          NodeStatusRegistry& registry,
                                                          Clock& clock);
  ~XdsServer();

  int port() const { return port_; }

  // Stops admitting streams at once, then closes the open ones one by one
  // over `period`; returns when they are all closed (or AbortDrain).
  void Drain(Clock& clock, Clock::Duration period);
  // Ends a Drain in progress at once.
  void AbortDrain() { drain_->Abort(); }
  bool draining() const { return drain_->draining(); }
  const WriteBudget& write_budget() const { return *write_budget_; }

 private:
  XdsServer() = default;

  // Declared first: destroyed after the server, whose calls hold grants.
  std::unique_ptr<WriteBudget> write_budget_;
  std::unique_ptr<NameSetInterner> name_sets_;
  std::unique_ptr<StreamDrain> drain_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace propsy::xds
