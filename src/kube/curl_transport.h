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
#include "common/clock.h"
#include "kube/http_transport.h"
#include "kube/kubeconfig.h"

namespace propsy::kube {

struct CurlTransportOptions {
  // Dead connections are found without taking silence for death: a watch
  // on a quiet collection may see no byte for its whole lifetime.
  //
  // TCP keepalive (every connection): after keepalive_idle without traffic
  // the kernel probes every keepalive_interval; keepalive_count unanswered
  // probes end the connection, and so does data left unacknowledged for
  // as long (TCP_USER_TIMEOUT). Finds peers that vanished: 60 s.
  std::chrono::seconds keepalive_idle{30};
  std::chrono::seconds keepalive_interval{10};
  int keepalive_count = 3;
  // HTTP/2 streams: after stream_probe_after without a byte, a small GET of
  // stream_probe_path is multiplexed onto the stream's own connection; no
  // answer within stream_probe_timeout means the connection is dead. Finds
  // peers whose kernel still acknowledges but that no longer answer (a
  // blackholed proxy, a frozen server) in 45 s, as client-go's HTTP/2
  // read-idle ping does (30 s + 15 s).
  std::chrono::milliseconds stream_probe_after{30000};
  std::chrono::milliseconds stream_probe_timeout{15000};
  // Served to every authenticated client (system:public-info-viewer).
  std::string stream_probe_path = "/version";
  std::chrono::milliseconds connect_timeout{30000};
  // How often a running request looks at its cancellation flag.
  std::chrono::milliseconds poll_interval{100};
  // Connection sets kept open for reuse after their request ended.
  size_t max_idle_lanes = 8;
  // Sent as User-Agent; empty gives "propsy/VERSION".
  std::string user_agent;
  // Time for the liveness rules; null: the machine's clock.
  const Clock* clock = nullptr;
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
// Liveness: see CurlTransportOptions. libcurl 7.88's own HTTP/2 PING
// (curl_easy_upkeep) only reaches connections of curl_easy_perform's
// internal multi handle, not of the lanes here, and it never waits for the
// PING's answer; the probe request is the PING's equivalent that works on a
// lane: it travels on the same connection, and an answer proves it alive.
// A stream whose connection is HTTP/1.1 cannot be probed that way and
// relies on TCP keepalive and the watch's own timeout.
//
// Authentication: every request asks the Authenticator for a credential;
// after a 401 the request is repeated once if the authenticator says a new
// credential may help (an exec plugin re-runs, a token file is re-read).
//
// Results: transport failures are Unavailable (connect, TLS, reset),
// DeadlineExceeded (request timeout, or a Stream's connection found dead),
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
  const RealClock real_clock_;
  const Clock& clock_;
  const Target target_;
  const std::unique_ptr<Shared> shared_;
  absl::Mutex lanes_mutex_;
  std::vector<std::unique_ptr<Lane>> idle_lanes_ ABSL_GUARDED_BY(lanes_mutex_);
};

}  // namespace propsy::kube
