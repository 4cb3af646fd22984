#include "support/http_backend.h"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <stdexcept>

#include "support/wait.h"

namespace propsy::test {

HttpBackend::HttpBackend(std::string name, const std::string& host)
    : name_(std::move(name)), server_(std::make_unique<httplib::Server>()) {
  auto handler = [this](const httplib::Request& request, httplib::Response& response) {
    {
      absl::MutexLock lock(&mu_);
      paths_.push_back(request.path);
    }
    requests_.fetch_add(1);
    response.set_header("x-backend", name_);
    response.set_content(name_, "text/plain");
  };
  // Without TCP_NODELAY the body waits for the peer's delayed ACK of the
  // headers (tens of ms per request on a keep-alive connection).
  server_->set_tcp_nodelay(true);
  server_->Get(".*", handler);
  server_->Post(".*", handler);
  server_->Put(".*", handler);
  server_->Delete(".*", handler);
  port_ = server_->bind_to_any_port(host);
  if (port_ <= 0) throw std::runtime_error(fmt::format("backend {}: cannot bind {}", name_, host));
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  if (!WaitFor([this] { return server_->is_running(); }, std::chrono::seconds(10),
               std::chrono::milliseconds(5))) {
    server_->stop();
    thread_.join();
    throw std::runtime_error(fmt::format("backend {}: did not start", name_));
  }
}

std::vector<std::string> HttpBackend::paths() const {
  absl::MutexLock lock(&mu_);
  return paths_;
}

HttpBackend::~HttpBackend() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace propsy::test
