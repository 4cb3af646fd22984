#include "kube/curl_transport.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <utility>

#include "kube/curl_request.h"
#include "kube/stream_probe.h"

#ifndef PROPSY_VERSION
#define PROPSY_VERSION "unknown"
#endif

namespace propsy::kube {
namespace {

// curl_global_init is not thread-safe and must run once before any other
// libcurl call; it is never undone (the process owns libcurl until exit).
absl::Status InitCurlOnce() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) {
    return absl::InternalError(
        fmt::format("curl_global_init failed: {}", curl_easy_strerror(result)));
  }
  return absl::OkStatus();
}

struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};

}  // namespace

// The CURLSH shared by every lane, with one lock per kind of shared data.
struct CurlTransport::Shared {
  CURLSH* share = nullptr;
  std::array<absl::Mutex, CURL_LOCK_DATA_LAST> locks;

  ~Shared() {
    if (share != nullptr) curl_share_cleanup(share);
  }

  // libcurl pairs these calls itself, which the analysis cannot follow.
  static void Lock(CURL* /*easy*/, curl_lock_data data, curl_lock_access /*access*/,
                   void* user) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<Shared*>(user)->locks[static_cast<size_t>(data)].Lock();
  }
  static void Unlock(CURL* /*easy*/, curl_lock_data data,
                     void* user) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<Shared*>(user)->locks[static_cast<size_t>(data)].Unlock();
  }
};

struct CurlTransport::Lane {
  CURLM* multi = nullptr;
  ~Lane() {
    if (multi != nullptr) curl_multi_cleanup(multi);
  }
};

CurlTransport::CurlTransport(ClusterConnectionConfig config, CurlTransportOptions options,
                             Target target, std::unique_ptr<Shared> shared)
    : config_(std::move(config)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : real_clock_),
      target_(std::move(target)),
      shared_(std::move(shared)) {}

CurlTransport::~CurlTransport() {
  absl::MutexLock lock(&lanes_mutex_);
  // Lanes go before the share their handles point at.
  idle_lanes_.clear();
}

absl::StatusOr<std::unique_ptr<CurlTransport>> CurlTransport::Create(ClusterConnectionConfig config,
                                                                     CurlTransportOptions options) {
  if (absl::Status status = InitCurlOnce(); !status.ok()) return status;
  if (config.authenticator == nullptr) config.authenticator = std::make_shared<NoAuthentication>();
  if (options.user_agent.empty()) options.user_agent = "propsy/" PROPSY_VERSION;

  std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
  if (url == nullptr) return absl::ResourceExhaustedError("curl_url failed");
  if (curl_url_set(url.get(), CURLUPART_URL, config.server.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(fmt::format("server \"{}\" is not a URL", config.server));
  }
  Target target{.base_url = config.server, .connect_to = {}, .host_header = {}};
  while (!target.base_url.empty() && target.base_url.back() == '/') target.base_url.pop_back();
  if (!config.tls_server_name.empty()) {
    char* host = nullptr;
    char* port = nullptr;
    curl_url_get(url.get(), CURLUPART_HOST, &host, 0);
    curl_url_get(url.get(), CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    const std::string host_text = host != nullptr ? host : "";
    const std::string port_text = port != nullptr ? port : "";
    curl_free(host);
    curl_free(port);
    if (host_text.empty() || port_text.empty()) {
      return absl::InvalidArgumentError(
          fmt::format("server \"{}\" has no host or port", config.server));
    }
    // The request names tls_server_name (SNI, certificate check) and
    // connects to the server's own address.
    if (curl_url_set(url.get(), CURLUPART_HOST, config.tls_server_name.c_str(), 0) != CURLUE_OK ||
        curl_url_set(url.get(), CURLUPART_PORT, port_text.c_str(), 0) != CURLUE_OK) {
      return absl::InvalidArgumentError(
          fmt::format("tls-server-name \"{}\" is not a host name", config.tls_server_name));
    }
    char* rewritten = nullptr;
    if (curl_url_get(url.get(), CURLUPART_URL, &rewritten, 0) != CURLUE_OK) {
      return absl::InvalidArgumentError(
          fmt::format("tls-server-name \"{}\" is not a host name", config.tls_server_name));
    }
    target.base_url = rewritten;
    curl_free(rewritten);
    while (!target.base_url.empty() && target.base_url.back() == '/') target.base_url.pop_back();
    target.connect_to =
        fmt::format("{}:{}:{}:{}", config.tls_server_name, port_text, host_text, port_text);
    target.host_header = fmt::format("Host: {}:{}", host_text, port_text);
  }

  auto shared = std::make_unique<Shared>();
  shared->share = curl_share_init();
  if (shared->share == nullptr) return absl::ResourceExhaustedError("curl_share_init failed");
  curl_share_setopt(shared->share, CURLSHOPT_LOCKFUNC, &Shared::Lock);
  curl_share_setopt(shared->share, CURLSHOPT_UNLOCKFUNC, &Shared::Unlock);
  curl_share_setopt(shared->share, CURLSHOPT_USERDATA, shared.get());
  curl_share_setopt(shared->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(shared->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  return std::unique_ptr<CurlTransport>(new CurlTransport(std::move(config), std::move(options),
                                                          std::move(target), std::move(shared)));
}

std::string CurlTransport::Describe() const {
  if (config_.tls_server_name.empty()) return config_.server;
  return fmt::format("{} (tls-server-name {})", config_.server, config_.tls_server_name);
}

absl::StatusOr<std::unique_ptr<CurlTransport::Lane>> CurlTransport::AcquireLane() {
  {
    absl::MutexLock lock(&lanes_mutex_);
    if (!idle_lanes_.empty()) {
      std::unique_ptr<Lane> lane = std::move(idle_lanes_.back());
      idle_lanes_.pop_back();
      return lane;
    }
  }
  auto lane = std::make_unique<Lane>();
  lane->multi = curl_multi_init();
  if (lane->multi == nullptr) return absl::ResourceExhaustedError("curl_multi_init failed");
  return lane;
}

void CurlTransport::ReleaseLane(std::unique_ptr<Lane> lane) {
  absl::MutexLock lock(&lanes_mutex_);
  if (idle_lanes_.size() < options_.max_idle_lanes) idle_lanes_.push_back(std::move(lane));
}

absl::StatusOr<HttpResponse> CurlTransport::Send(const HttpRequest& request) {
  return Perform(request, nullptr, nullptr);
}

absl::StatusOr<HttpResponse> CurlTransport::Stream(const HttpRequest& request,
                                                   const ChunkCallback& on_chunk,
                                                   const std::atomic<bool>& cancelled) {
  return Perform(request, &on_chunk, &cancelled);
}

absl::StatusOr<HttpResponse> CurlTransport::Perform(const HttpRequest& request,
                                                    const ChunkCallback* on_chunk,
                                                    const std::atomic<bool>* cancelled) {
  absl::StatusOr<Credential> credential = config_.authenticator->GetCredential();
  if (!credential.ok()) return credential.status();
  absl::StatusOr<HttpResponse> response = PerformOnce(request, *credential, on_chunk, cancelled);
  if (!response.ok() || response->status != 401 ||
      !config_.authenticator->OnUnauthorized(*credential)) {
    return response;
  }
  absl::StatusOr<Credential> renewed = config_.authenticator->GetCredential();
  if (!renewed.ok()) return renewed.status();
  spdlog::debug("{}: 401 for {}; retrying with a renewed credential ({})", Describe(), request.path,
                config_.authenticator->Describe());
  return PerformOnce(request, *renewed, on_chunk, cancelled);
}

absl::StatusOr<HttpResponse> CurlTransport::PerformOnce(const HttpRequest& request,
                                                        const Credential& credential,
                                                        const ChunkCallback* on_chunk,
                                                        const std::atomic<bool>* cancelled) {
  const CurlRequestContext context{.config = &config_,
                                   .options = &options_,
                                   .base_url = target_.base_url,
                                   .connect_to = target_.connect_to,
                                   .host_header = target_.host_header,
                                   .share = shared_->share,
                                   .clock = &clock_};
  absl::StatusOr<std::unique_ptr<CurlRequest>> main =
      NewCurlRequest(context, request, credential, on_chunk);
  if (!main.ok()) return main.status();
  CurlRequest& transfer = **main;
  absl::StatusOr<std::unique_ptr<Lane>> lane = AcquireLane();
  if (!lane.ok()) return lane.status();
  CURLM* multi = (*lane)->multi;
  if (const CURLMcode code = curl_multi_add_handle(multi, transfer.easy.get()); code != CURLM_OK) {
    return absl::InternalError(
        fmt::format("{}: curl_multi_add_handle: {}", transfer.what, curl_multi_strerror(code)));
  }
  StreamProbe probe(context, credential, multi, on_chunk != nullptr);

  // Drive the transfer, waking at least every poll_interval to honour the
  // cancellation flag and to look after the stream's liveness.
  enum class Ending { kDone, kCancelled, kDead, kMultiError };
  Ending ending = Ending::kDone;
  CURLMcode multi_error = CURLM_OK;
  CURLcode result = CURLE_OK;
  std::string dead;
  const int poll_ms = static_cast<int>(std::max<int64_t>(1, options_.poll_interval.count()));
  while (true) {
    int running = 0;
    multi_error = curl_multi_perform(multi, &running);
    if (multi_error != CURLM_OK) {
      ending = Ending::kMultiError;
      break;
    }
    bool done = false;
    int queued = 0;
    while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
      if (message->msg != CURLMSG_DONE) continue;
      if (message->easy_handle == transfer.easy.get()) {
        result = message->data.result;
        done = true;
      } else {
        probe.OnDone(message->easy_handle, message->data.result, transfer);
      }
    }
    if (done) break;
    if (cancelled != nullptr && cancelled->load()) {
      ending = Ending::kCancelled;
      break;
    }
    if (std::optional<std::string> why = probe.Check(transfer); why.has_value()) {
      ending = Ending::kDead;
      dead = std::move(*why);
      break;
    }
    multi_error = curl_multi_poll(multi, nullptr, 0, poll_ms, nullptr);
    if (multi_error != CURLM_OK) {
      ending = Ending::kMultiError;
      break;
    }
  }
  probe.Stop();
  curl_multi_remove_handle(multi, transfer.easy.get());
  // A dead connection must not be reused: it goes with its lane.
  if (ending != Ending::kDead) ReleaseLane(*std::move(lane));

  switch (ending) {
    case Ending::kCancelled:
      return absl::CancelledError(fmt::format("{}: cancelled", transfer.what));
    case Ending::kDead:
      return absl::DeadlineExceededError(fmt::format("{}: {}", transfer.what, dead));
    case Ending::kMultiError:
      return absl::InternalError(
          fmt::format("{}: {}", transfer.what, curl_multi_strerror(multi_error)));
    case Ending::kDone:
      break;
  }
  if (transfer.transfer.stopped_by_callback) return std::move(transfer.transfer.response);
  if (result != CURLE_OK) {
    const std::string message = transfer.Failure(result);
    if (result == CURLE_OPERATION_TIMEDOUT) return absl::DeadlineExceededError(message);
    return absl::UnavailableError(message);
  }
  return std::move(transfer.transfer.response);
}

}  // namespace propsy::kube
