#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace propsy::kube {

struct HttpRequest {
  std::string method = "GET";
  // Path and query relative to the API server's base URL, e.g.
  // "/apis/discovery.k8s.io/v1/endpointslices?limit=500".
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Bound on the whole exchange; zero means none (a stream's connection is
  // watched for liveness instead).
  std::chrono::milliseconds timeout{0};
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // empty for streamed responses
};

// Talks to one API server: base URL, TLS, authentication and proxies are the
// transport's business; callers only see paths. Thread-safe: many reflectors
// share one transport (one connection set per API server).
class HttpTransport {
 public:
  // Receives a streamed body chunk by chunk; return false to stop reading.
  using ChunkCallback = std::function<bool(std::string_view chunk)>;

  virtual ~HttpTransport() = default;

  // A complete request. Transport failures (connect, TLS, timeout) are
  // errors; any HTTP status is a response.
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;

  // A streamed request (watch): `on_chunk` gets the body as it arrives, only
  // for 2xx answers (other answers come back whole in the response body);
  // it is first called with an empty chunk once a 2xx answer's headers are
  // in, so a quiet stream is known to be connected.
  // Returns when the server ends the body, on_chunk returns false,
  // `cancelled` becomes true (checked at least every 200 ms), or the
  // connection is found dead (DeadlineExceeded). A stream that is merely
  // quiet is never ended for it.
  virtual absl::StatusOr<HttpResponse> Stream(const HttpRequest& request,
                                              const ChunkCallback& on_chunk,
                                              const std::atomic<bool>& cancelled) = 0;

  // Where this transport goes, for logs ("https://127.0.0.1:6443").
  virtual std::string Describe() const = 0;
};

}  // namespace propsy::kube
