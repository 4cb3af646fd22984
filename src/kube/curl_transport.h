#pragma once

// HttpTransport over libcurl: TLS with the cluster's CA and client
// certificate, bearer tokens from the Authenticator, proxies, HTTP/2 when
// the server offers it, and connection reuse.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kube/http_transport.h"
#include "kube/kubeconfig.h"

namespace propsy::kube {

struct CurlTransportOptions {
  // Stream: the connection counts as dead after this long without a byte
  // (API servers send a bookmark about every minute on an idle watch).
  std::chrono::milliseconds idle_timeout{90000};
  std::chrono::milliseconds connect_timeout{30000};
  // How often a running request looks at its cancellation flag.
  std::chrono::milliseconds poll_interval{100};
  // Connection sets kept open for reuse after their request ended.
  size_t max_idle_lanes = 8;
  // Sent as User-Agent; empty gives "propsy/VERSION".
  std::string user_agent;
};

// One API server, shared by every reflector of that cluster. Thread-safe.
//
// How it works: each request runs on its own easy handle inside a "lane", a
// curl multi handle that owns a connection cache. A request borrows an idle
// lane (so it reuses that lane's open connection) or opens a new one, and
// returns it when done; the multi loop wakes every poll_interval to look at
// the cancellation flag and the idle clock. DNS answers and TLS sessions are
// shared between lanes (a CURLSH), so a new lane resumes TLS cheaply.
// Concurrent watches use separate connections, HTTP/2 or not: a connection
// belongs to one lane at a time.
//
// TLS: the cluster's CA alone is trusted when one is given (the system
// store otherwise); insecure_skip_tls_verify turns verification off only
// when the configuration says so. tls_server_name is honoured by sending
// the request to that name (SNI and certificate check) while connecting to
// the server's address (CURLOPT_CONNECT_TO) and keeping the server's
// authority in the Host header.
//
// Authentication: every request asks the Authenticator for a credential;
// after a 401 the request is repeated once if the authenticator says a new
// credential may help (an exec plugin re-runs, a token file is re-read).
//
// Results: transport failures are Unavailable (connect, TLS, reset),
// DeadlineExceeded (request timeout, or Stream idle for idle_timeout),
// Cancelled (the flag was set); an authenticator failure keeps its code.
// Response header names are lower-cased; repeated headers are joined with
// ", ".
class CurlTransport : public HttpTransport {
 public:
  static absl::StatusOr<std::unique_ptr<CurlTransport>> Create(ClusterConnectionConfig config,
                                                               CurlTransportOptions options = {});
  ~CurlTransport() override;

  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override;
  absl::StatusOr<HttpResponse> Stream(const HttpRequest& request, const ChunkCallback& on_chunk,
                                      const std::atomic<bool>& cancelled) override;
  std::string Describe() const override;

 private:
  struct Shared;  // the CURLSH and its locks
  struct Lane;    // a multi handle with its connection cache

  // How the URL is built and where the connection goes.
  struct Target {
    std::string base_url;     // scheme://host:port/prefix the paths are appended to
    std::string connect_to;   // CURLOPT_CONNECT_TO entry, or empty
    std::string host_header;  // "Host: …" to send, or empty
  };

  CurlTransport(ClusterConnectionConfig config, CurlTransportOptions options, Target target,
                std::unique_ptr<Shared> shared);

  absl::StatusOr<HttpResponse> Perform(const HttpRequest& request, const ChunkCallback* on_chunk,
                                       const std::atomic<bool>* cancelled);
  absl::StatusOr<HttpResponse> PerformOnce(const HttpRequest& request, const Credential& credential,
                                           const ChunkCallback* on_chunk,
                                           const std::atomic<bool>* cancelled);
  absl::StatusOr<std::unique_ptr<Lane>> AcquireLane();
  void ReleaseLane(std::unique_ptr<Lane> lane);

  const ClusterConnectionConfig config_;
  const CurlTransportOptions options_;
  const Target target_;
  const std::unique_ptr<Shared> shared_;
  absl::Mutex lanes_mutex_;
  std::vector<std::unique_ptr<Lane>> idle_lanes_ ABSL_GUARDED_BY(lanes_mutex_);
};

}  // namespace propsy::kube
