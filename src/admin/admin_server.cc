#include "admin/admin_server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <exception>
#include <vector>

namespace propsy::admin {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Admin traffic is a few scrapes and probes: a small pool is plenty.
constexpr size_t kWorkerThreads = 4;

// Only SO_REUSEADDR (quick restarts), never SO_REUSEPORT: a second server on
// the same port must fail to bind instead of sharing it. IPv6 sockets accept
// IPv4 too, so "every interface" means both families.
void SocketOptions(int sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  int domain = 0;
  socklen_t length = sizeof(domain);
  if (getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 && domain == AF_INET6) {
    int no = 0;
    setsockopt(sock, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof(no));
  }
}

void Write(httplib::Response& out, const Response& response) {
  out.status = response.status;
  out.set_content(response.body, response.content_type.c_str());
}

}  // namespace

std::string Request::Query(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? "" : it->second;
}

AdminServer::AdminServer(const metrics::Registry& registry, ReadinessCheck readiness)
    : registry_(registry),
      readiness_(std::move(readiness)),
      server_(std::make_unique<httplib::Server>()) {}

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Create(const std::string& host, int port,
                                                                 const metrics::Registry& registry,
                                                                 ReadinessCheck readiness) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(fmt::format("admin: port {} out of range", port));
  }
  auto server = std::unique_ptr<AdminServer>(new AdminServer(registry, std::move(readiness)));
  AdminServer* self = server.get();

  self->Handle("/healthz", [](const Request&) {
    return Response{.status = 200, .content_type = "text/plain; charset=utf-8", .body = "ok\n"};
  });
  self->Handle("/readyz", [self](const Request&) {
    absl::Status ready =
        self->readiness_ ? self->readiness_() : absl::UnavailableError("no readiness check");
    if (ready.ok()) {
      return Response{
          .status = 200, .content_type = "text/plain; charset=utf-8", .body = "ready\n"};
    }
    return Response{.status = 503,
                    .content_type = "text/plain; charset=utf-8",
                    .body = fmt::format("not ready: {}\n", std::string(ready.message()))};
  });
  self->Handle("/metrics", [self](const Request&) {
    return Response{
        .status = 200, .content_type = kMetricsContentType, .body = self->registry_.Exposition()};
  });

  httplib::Server& http = *self->server_;
  http.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  http.set_socket_options(SocketOptions);
  http.Get(".*", [self](const httplib::Request& in, httplib::Response& out) {
    Handler handler = self->Find(in.path);
    if (!handler) {
      Write(out, Response{.status = 404,
                          .content_type = "text/plain; charset=utf-8",
                          .body = fmt::format("no such page: {}\n", in.path)});
      return;
    }
    Request request{.path = in.path, .query = in.params};
    try {
      Write(out, handler(request));
    } catch (const std::exception& e) {
      spdlog::error("admin: handler for {} failed: {}", in.path, e.what());
      Write(out, Response{.status = 500,
                          .content_type = "text/plain; charset=utf-8",
                          .body = fmt::format("internal error: {}\n", e.what())});
    } catch (...) {
      spdlog::error("admin: handler for {} failed", in.path);
      Write(out, Response{.status = 500,
                          .content_type = "text/plain; charset=utf-8",
                          .body = "internal error\n"});
    }
  });
  auto not_allowed = [self](const httplib::Request& in, httplib::Response& out) {
    bool known = static_cast<bool>(self->Find(in.path));
    Write(out, Response{.status = known ? 405 : 404,
                        .content_type = "text/plain; charset=utf-8",
                        .body = known ? "only GET is supported\n" : "no such page\n"});
    if (known) out.set_header("Allow", "GET, HEAD");
  };
  http.Post(".*", not_allowed);
  http.Put(".*", not_allowed);
  http.Patch(".*", not_allowed);
  http.Delete(".*", not_allowed);

  // "" = every interface: IPv6 any (dual-stack) when the machine has IPv6.
  std::vector<std::string> hosts =
      host.empty() ? std::vector<std::string>{"::", "0.0.0.0"} : std::vector<std::string>{host};
  for (const std::string& candidate : hosts) {
    if (port == 0) {
      int bound = http.bind_to_any_port(candidate);
      if (bound > 0) self->port_ = bound;
    } else if (http.bind_to_port(candidate, port)) {
      self->port_ = port;
    }
    if (self->port_ != 0) break;
  }
  if (self->port_ == 0) {
    return absl::UnavailableError(
        fmt::format("admin: cannot listen on {}:{}", host.empty() ? "*" : host, port));
  }

  self->thread_ = std::thread([self] {
    self->server_->listen_after_bind();
    self->listen_returned_ = true;
  });
  // Stop() only works once the accept loop runs: wait for it (the socket
  // already accepts connections into its backlog meanwhile).
  while (!http.is_running() && !self->listen_returned_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  spdlog::info("admin: serving HTTP on port {}", self->port_);
  return server;
}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

void AdminServer::Handle(std::string path, Handler handler) {
  absl::MutexLock lock(&mu_);
  routes_[std::move(path)] = std::move(handler);
}

Handler AdminServer::Find(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  auto it = routes_.find(path);
  return it == routes_.end() ? Handler() : it->second;
}

}  // namespace propsy::admin
