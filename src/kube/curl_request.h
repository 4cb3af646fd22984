#pragma once

// One libcurl easy handle and everything it points at, built for a request
// of CurlTransport (an implementation file of kube/, not an interface).

#include <curl/curl.h>

#include <array>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "kube/curl_transport.h"
#include "kube/http_transport.h"
#include "kube/kubeconfig.h"

namespace propsy::kube {

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// What one transfer collects; libcurl's callbacks write into it.
struct Transfer {
  HttpResponse response;
  const HttpTransport::ChunkCallback* on_chunk = nullptr;  // null: buffer the body
  bool stopped_by_callback = false;
  const Clock* clock = nullptr;
  Clock::TimePoint last_received;  // the newest header or body bytes
};

// What every request of one transport shares.
struct CurlRequestContext {
  const ClusterConnectionConfig* config = nullptr;
  const CurlTransportOptions* options = nullptr;
  std::string base_url;     // scheme://host:port/prefix the paths are appended to
  std::string connect_to;   // CURLOPT_CONNECT_TO entry, or empty
  std::string host_header;  // "Host: …" to send, or empty
  CURLSH* share = nullptr;
  const Clock* clock = nullptr;
};

// Members are declared in the order they must outlive each other: the easy
// handle last, so it is destroyed first.
struct CurlRequest {
  std::string what;  // "GET https://…/path", for messages
  Transfer transfer;
  std::array<char, CURL_ERROR_SIZE> error_buffer{};
  Slist headers;
  Slist connect_to;
  EasyHandle easy;

  // The message for a transfer that failed with `result`.
  std::string Failure(CURLcode result) const;
};

// An easy handle for `request` with every option set: URL, TLS, the
// credential, TCP keepalive, callbacks into `transfer`. `on_chunk` null
// buffers the body.
absl::StatusOr<std::unique_ptr<CurlRequest>> NewCurlRequest(
    const CurlRequestContext& context, const HttpRequest& request, const Credential& credential,
    const HttpTransport::ChunkCallback* on_chunk);

}  // namespace propsy::kube
