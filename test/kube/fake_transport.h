#pragma once

// A scripted HttpTransport for reflector and source tests: replies are
// queued per route (path without query, watch or not), every request is
// recorded, and a request on a route with nothing queued waits for a reply
// to be pushed (or the caller to cancel: like a quiet watch), so a script
// ends in a known state and a test can answer a request later.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "kube/http_transport.h"

namespace propsy::kube::testing {

struct FakeReply {
  absl::Status error;  // not ok: the transport fails with it
  int status = 200;
  std::map<std::string, std::string> headers;  // lower-case names
  std::vector<std::string> chunks;             // the body, chunk by chunk
  // After the chunks, keep the stream open until it is cancelled (or an
  // outage starts).
  bool hold_open = false;
};

inline FakeReply Reply(int status, std::string body) {
  return FakeReply{.error = {},
                   .status = status,
                   .headers = {},
                   .chunks = {std::move(body)},
                   .hold_open = false};
}
inline FakeReply Failure(absl::Status error) {
  return FakeReply{
      .error = std::move(error), .status = 0, .headers = {}, .chunks = {}, .hold_open = false};
}

// A request path taken apart: "/api/v1/secrets?limit=500&watch=true".
struct ParsedPath {
  std::string path;
  std::map<std::string, std::string> query;  // values percent-decoded
  bool watch() const {
    auto it = query.find("watch");
    return it != query.end() && it->second == "true";
  }
  std::string Param(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? "" : it->second;
  }
  bool Has(const std::string& name) const { return query.contains(name); }
};

inline std::string PercentDecode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

inline ParsedPath ParsePath(const std::string& full) {
  ParsedPath parsed;
  const size_t question = full.find('?');
  parsed.path = full.substr(0, question);
  if (question == std::string::npos) return parsed;
  std::string_view rest = std::string_view(full).substr(question + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view param = rest.substr(0, amp);
    const size_t eq = param.find('=');
    parsed.query[std::string(param.substr(0, eq))] =
        eq == std::string_view::npos ? "" : PercentDecode(param.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return parsed;
}

class FakeTransport : public HttpTransport {
 public:
  // Queues a reply for the next request on `path` (no query) of that type.
  void PushList(const std::string& path, FakeReply reply) { Push(path, false, std::move(reply)); }
  void PushWatch(const std::string& path, FakeReply reply) { Push(path, true, std::move(reply)); }
  void Push(const std::string& path, bool watch, FakeReply reply) {
    {
      std::lock_guard lock(mu_);
      queues_[{path, watch}].push_back(std::move(reply));
    }
    changed_.notify_all();
  }
  // The reply for the route once its queue is empty (instead of holding).
  void SetDefault(const std::string& path, bool watch, FakeReply reply) {
    std::lock_guard lock(mu_);
    defaults_[{path, watch}] = std::move(reply);
  }
  // While set, every request fails with `error` and held streams end with
  // it. An ok status ends the outage.
  void SetOutage(absl::Status error) {
    {
      std::lock_guard lock(mu_);
      outage_ = std::move(error);
    }
    changed_.notify_all();
  }

  std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<ParsedPath> parsed_requests() const {
    std::vector<ParsedPath> parsed;
    for (const HttpRequest& request : requests()) parsed.push_back(ParsePath(request.path));
    return parsed;
  }
  size_t request_count() const {
    std::lock_guard lock(mu_);
    return requests_.size();
  }
  // Requests currently held open (waiting for a reply, or after it).
  int holding() const {
    std::lock_guard lock(mu_);
    return holding_;
  }
  // Waits until at least `count` requests arrived.
  bool WaitForRequests(size_t count,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
  }
  bool WaitForHolding(int count,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return holding_ >= count; });
  }

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    std::string body;
    std::atomic<bool> never{false};
    absl::StatusOr<HttpResponse> response = Stream(
        request,
        [&](std::string_view chunk) {
          body.append(chunk);
          return true;
        },
        never);
    if (response.ok() && response->status / 100 == 2) response->body = std::move(body);
    return response;
  }

  absl::StatusOr<HttpResponse> Stream(const HttpRequest& request, const ChunkCallback& on_chunk,
                                      const std::atomic<bool>& cancelled) override {
    const ParsedPath parsed = ParsePath(request.path);
    const std::pair<std::string, bool> route{parsed.path, parsed.watch()};
    std::optional<FakeReply> reply;
    {
      std::unique_lock lock(mu_);
      requests_.push_back(request);
      changed_.notify_all();
      auto& queue = queues_[route];
      bool waiting = false;
      while (true) {
        if (!outage_.ok()) break;
        if (!queue.empty()) {
          reply = std::move(queue.front());
          queue.pop_front();
          break;
        }
        if (auto it = defaults_.find(route); it != defaults_.end()) {
          reply = it->second;
          break;
        }
        if (cancelled.load()) break;
        if (!waiting) {
          waiting = true;
          ++holding_;
          changed_.notify_all();
        }
        // Real transports look at the flag at least every 200 ms.
        changed_.wait_for(lock, std::chrono::milliseconds(5));
      }
      if (waiting) {
        --holding_;
        changed_.notify_all();
      }
      if (!outage_.ok()) return outage_;
      if (!reply.has_value()) return absl::CancelledError("cancelled");
    }
    if (!reply->error.ok()) return reply->error;
    HttpResponse response{.status = reply->status, .headers = reply->headers, .body = ""};
    if (reply->status / 100 != 2) {
      for (const std::string& chunk : reply->chunks) response.body += chunk;
      return response;
    }
    for (const std::string& chunk : reply->chunks) {
      if (cancelled.load() || !on_chunk(chunk)) return response;
    }
    if (!reply->hold_open) return response;
    std::unique_lock lock(mu_);
    ++holding_;
    changed_.notify_all();
    // Real transports look at the flag at least every 200 ms.
    while (!cancelled.load() && outage_.ok()) {
      changed_.wait_for(lock, std::chrono::milliseconds(5));
    }
    --holding_;
    changed_.notify_all();
    if (!outage_.ok()) return outage_;
    return absl::CancelledError("cancelled");
  }

  std::string Describe() const override { return "fake://api"; }

 private:
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::pair<std::string, bool>, std::deque<FakeReply>> queues_;
  std::map<std::pair<std::string, bool>, FakeReply> defaults_;
  absl::Status outage_;
  std::vector<HttpRequest> requests_;
  int holding_ = 0;
};

}  // namespace propsy::kube::testing
