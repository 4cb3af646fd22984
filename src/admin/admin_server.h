#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"

namespace httplib {
class Server;
}

namespace propsy::admin {

// A GET request as a handler sees it.
struct Request {
  std::string path;
  std::multimap<std::string, std::string> query;  // decoded query parameters

  // The first value of query parameter `name`, or "" when absent.
  std::string Query(const std::string& name) const;
  bool HasQuery(const std::string& name) const { return query.contains(name); }
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using Handler = std::function<Response(const Request&)>;
// OK when ready; otherwise the status message says why not.
using ReadinessCheck = std::function<absl::Status()>;

// The admin HTTP server (-listenhealth): health, readiness, metrics and
// routes added with Handle.
//
// Built-in routes: GET /healthz -> 200 "ok"; GET /readyz -> 200 "ready" or
// 503 with the reason from the readiness check; GET /metrics -> the
// registry's exposition ("text/plain; version=0.0.4"). Unknown paths get 404,
// other methods on known paths 405. A handler that throws answers 500 and
// the server keeps serving.
//
// Serves on its own threads from Create until Stop or destruction. The
// registry and the readiness check must outlive the server.
class AdminServer {
 public:
  // Binds host:port (port 0 picks a free port; host "" means every
  // interface) and starts serving.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Create(const std::string& host, int port,
                                                             const metrics::Registry& registry,
                                                             ReadinessCheck readiness);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // The bound port.
  int port() const { return port_; }

  // Adds (or replaces) a GET route for exactly `path` (no query). Safe to
  // call at any time, from any thread.
  void Handle(std::string path, Handler handler);

  // Stops serving and joins the server thread. Idempotent.
  void Stop();

 private:
  AdminServer(const metrics::Registry& registry, ReadinessCheck readiness);
  // The route for `path`, or an empty function.
  Handler Find(const std::string& path) const;

  const metrics::Registry& registry_;
  const ReadinessCheck readiness_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};
  int port_ = 0;

  mutable absl::Mutex mu_;
  std::map<std::string, Handler> routes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace propsy::admin
