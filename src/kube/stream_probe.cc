#include "kube/stream_probe.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace propsy::kube {
namespace {

int64_t Millis(Clock::Duration duration) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
}

}  // namespace

StreamProbe::StreamProbe(const CurlRequestContext& context, const Credential& credential,
                         CURLM* multi, bool streamed)
    : context_(context),
      credential_(credential),
      multi_(multi),
      enabled_(streamed && context.options->stream_probe_after.count() > 0) {}

void StreamProbe::Stop() {
  if (probe_ == nullptr) return;
  curl_multi_remove_handle(multi_, probe_->easy.get());
  probe_.reset();
}

void StreamProbe::Disable(const std::string& why, const CurlRequest& stream) {
  spdlog::debug("{}: {}; its connection is watched by TCP keepalive only", stream.what, why);
  enabled_ = false;
  Stop();
}

void StreamProbe::OnDone(CURL* easy, CURLcode result, CurlRequest& stream) {
  if (probe_ == nullptr || easy != probe_->easy.get()) return;
  long connects = 0;
  curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
  const std::string what = probe_->what;
  if (result != CURLE_OK) {
    const std::string failure = probe_->Failure(result);
    Stop();
    enabled_ = false;
    spdlog::debug("liveness probe {} failed; the stream is watched by TCP keepalive only", failure);
    return;
  }
  Stop();
  if (connects > 0) {
    // It opened a connection of its own, so it says nothing about the
    // stream's: the server did not multiplex it.
    enabled_ = false;
    spdlog::debug(
        "liveness probe {} went over a new connection; the stream is watched by TCP "
        "keepalive only",
        what);
    return;
  }
  const Clock::TimePoint now = context_.clock->Now();
  spdlog::debug("{}: quiet, and alive: a request on its connection was answered in {} ms",
                stream.what, Millis(now - probe_started_));
  stream.transfer.last_received = now;
}

std::optional<std::string> StreamProbe::Check(CurlRequest& stream) {
  if (!enabled_ || stream.transfer.response.status == 0) return std::nullopt;
  if (!version_checked_) {
    version_checked_ = true;
    long version = 0;
    curl_easy_getinfo(stream.easy.get(), CURLINFO_HTTP_VERSION, &version);
    if (version != CURL_HTTP_VERSION_2_0) {
      Disable("the connection is not HTTP/2", stream);
      return std::nullopt;
    }
  }
  const CurlTransportOptions& options = *context_.options;
  const Clock::TimePoint now = context_.clock->Now();
  const Clock::Duration silent = now - stream.transfer.last_received;
  if (probe_ == nullptr) {
    if (silent < options.stream_probe_after) return std::nullopt;
    const HttpRequest request{
        .method = "GET",
        .path = options.stream_probe_path,
        .headers = {{"Accept", "application/json"}},
        .body = "",
        .timeout = options.stream_probe_timeout + std::chrono::seconds(5),
    };
    absl::StatusOr<std::unique_ptr<CurlRequest>> probe =
        NewCurlRequest(context_, request, credential_, nullptr);
    if (!probe.ok()) {
      Disable(fmt::format("no liveness probe: {}", std::string(probe.status().message())), stream);
      return std::nullopt;
    }
    // Wait for the stream's connection instead of opening another.
    curl_easy_setopt((*probe)->easy.get(), CURLOPT_PIPEWAIT, 1L);
    if (curl_multi_add_handle(multi_, (*probe)->easy.get()) != CURLM_OK) {
      Disable("no liveness probe: curl_multi_add_handle failed", stream);
      return std::nullopt;
    }
    probe_ = std::move(*probe);
    probe_started_ = now;
    return std::nullopt;
  }
  // Bytes of the stream after the probe began prove the connection alive.
  if (stream.transfer.last_received >= probe_started_) return std::nullopt;
  if (now - probe_started_ < options.stream_probe_timeout) return std::nullopt;
  return fmt::format(
      "nothing received for {} ms, and a request on the same HTTP/2 connection got no answer "
      "in {} ms: the connection is dead",
      Millis(silent), Millis(now - probe_started_));
}

}  // namespace propsy::kube
