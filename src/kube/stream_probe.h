#pragma once

#include <curl/curl.h>

#include <memory>
#include <optional>
#include <string>

#include "kube/curl_request.h"

namespace propsy::kube {

// Liveness of one streamed transfer's HTTP/2 connection: after
// `stream_probe_after` without a byte, a GET of `stream_probe_path` is
// multiplexed onto the same connection (same lane, PIPEWAIT). An answer of
// any status proves the connection alive; no answer and no byte of the
// stream for `stream_probe_timeout` means it is dead.
//
// States: waiting -> probing -> waiting (answered, or the stream got
// bytes) | dead. Disabled for good (TCP keepalive still applies) when the
// transfer is not a stream, its connection is not HTTP/2, or a probe went
// over a new connection or failed: then it could prove nothing.
//
// Used by the one thread that drives the lane's multi handle.
class StreamProbe {
 public:
  StreamProbe(const CurlRequestContext& context, const Credential& credential, CURLM* multi,
              bool streamed);
  ~StreamProbe() { Stop(); }
  StreamProbe(const StreamProbe&) = delete;
  StreamProbe& operator=(const StreamProbe&) = delete;

  // `easy` (not the stream's) finished with `result`.
  void OnDone(CURL* easy, CURLcode result, CurlRequest& stream);
  // Starts a probe when one is due. Returns why the connection is dead, if
  // it is.
  std::optional<std::string> Check(CurlRequest& stream);
  // Takes a probe in flight out of the multi handle. Idempotent.
  void Stop();

 private:
  void Disable(const std::string& why, const CurlRequest& stream);

  const CurlRequestContext& context_;
  const Credential& credential_;
  CURLM* const multi_;
  bool enabled_;
  bool version_checked_ = false;
  std::unique_ptr<CurlRequest> probe_;  // in flight when set
  Clock::TimePoint probe_started_;
};

}  // namespace propsy::kube
