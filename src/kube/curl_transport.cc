#include "kube/curl_transport.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <utility>

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

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};

// Appends `line` to `list`; false when libcurl is out of memory.
bool Append(Slist* list, const std::string& line) {
  curl_slist* grown = curl_slist_append(list->get(), line.c_str());
  if (grown == nullptr) return false;
  (void)list->release();
  list->reset(grown);
  return true;
}

std::string Lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

// What one transfer collects; the curl callbacks write into it.
struct Transfer {
  HttpResponse response;
  const HttpTransport::ChunkCallback* on_chunk = nullptr;  // null: buffer the body
  bool stopped_by_callback = false;
  std::chrono::steady_clock::time_point last_activity;
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  transfer->last_activity = std::chrono::steady_clock::now();
  const std::string_view line = Trim(std::string_view(data, bytes));
  const int status = transfer->response.status;
  if (line.empty() && transfer->on_chunk != nullptr && status >= 200 && status < 300) {
    // Headers complete: tell the streamer the server answered, so a quiet
    // watch counts as connected before its first event.
    if (!(*transfer->on_chunk)(std::string_view())) {
      transfer->stopped_by_callback = true;
      return 0;
    }
    return bytes;
  }
  if (line.starts_with("HTTP/")) {
    // A new response (after 100 Continue, or a redirect): start over.
    transfer->response.headers.clear();
    const size_t space = line.find(' ');
    int status = 0;
    if (space != std::string_view::npos) {
      for (size_t i = space + 1; i < line.size() && i < space + 4; ++i) {
        if (line[i] < '0' || line[i] > '9') break;
        status = status * 10 + (line[i] - '0');
      }
    }
    transfer->response.status = status;
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return bytes;
  const std::string name = Lowercase(Trim(line.substr(0, colon)));
  const std::string_view value = Trim(line.substr(colon + 1));
  auto [it, inserted] = transfer->response.headers.try_emplace(name, value);
  if (!inserted) it->second = fmt::format("{}, {}", it->second, value);
  return bytes;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  transfer->last_activity = std::chrono::steady_clock::now();
  const int status = transfer->response.status;
  if (transfer->on_chunk != nullptr && status >= 200 && status < 300) {
    if (!(*transfer->on_chunk)(std::string_view(data, bytes))) {
      transfer->stopped_by_callback = true;
      return 0;  // any count but `bytes` ends the transfer
    }
    return bytes;
  }
  transfer->response.body.append(data, bytes);
  return bytes;
}

// Keeps libcurl's option setting readable: remembers the first failure.
class Options {
 public:
  explicit Options(CURL* easy) : easy_(easy) {}
  template <typename T>
  void Set(CURLoption option, T value) {
    const CURLcode code = curl_easy_setopt(easy_, option, value);
    if (code != CURLE_OK && first_error_ == CURLE_OK) {
      first_error_ = code;
      failed_option_ = static_cast<int>(option);
    }
  }
  void SetBlob(CURLoption option, const std::string& data) {
    curl_blob blob{
        .data = const_cast<char*>(data.data()), .len = data.size(), .flags = CURL_BLOB_COPY};
    Set(option, &blob);
  }
  absl::Status status() const {
    if (first_error_ == CURLE_OK) return absl::OkStatus();
    return absl::InternalError(fmt::format("libcurl option {} refused: {}", failed_option_,
                                           curl_easy_strerror(first_error_)));
  }

 private:
  CURL* easy_;
  CURLcode first_error_ = CURLE_OK;
  int failed_option_ = 0;
};

}  // namespace

// The CURLSH shared by every lane, with one lock per kind of shared data.
struct CurlTransport::Shared {
  CURLSH* share = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;

  ~Shared() {
    if (share != nullptr) curl_share_cleanup(share);
  }

  static void Lock(CURL* /*easy*/, curl_lock_data data, curl_lock_access /*access*/, void* user) {
    static_cast<Shared*>(user)->locks[static_cast<size_t>(data)].lock();
  }
  static void Unlock(CURL* /*easy*/, curl_lock_data data, void* user) {
    static_cast<Shared*>(user)->locks[static_cast<size_t>(data)].unlock();
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
  const std::string url = target_.base_url + request.path;
  const std::string what = fmt::format("{} {}", request.method, url);
  // Everything the easy handle points at is declared before it, so it
  // outlives the handle.
  Transfer transfer;
  transfer.on_chunk = on_chunk;
  std::array<char, CURL_ERROR_SIZE> error_buffer{};
  Slist headers;
  bool has_accept = false;
  for (const auto& [name, value] : request.headers) {
    has_accept = has_accept || Lowercase(name) == "accept";
    if (!Append(&headers, fmt::format("{}: {}", name, value))) {
      return absl::ResourceExhaustedError("curl_slist_append failed");
    }
  }
  std::vector<std::string> lines;
  if (!has_accept) lines.emplace_back("Accept: application/json");
  if (!credential.authorization.empty()) {
    lines.push_back("Authorization: " + credential.authorization);
  }
  if (!target_.host_header.empty()) lines.push_back(target_.host_header);
  lines.emplace_back("Expect:");  // no 100-continue round trip for bodies
  for (const std::string& line : lines) {
    if (!Append(&headers, line)) return absl::ResourceExhaustedError("curl_slist_append failed");
  }
  Slist connect_to;
  if (!target_.connect_to.empty() && !Append(&connect_to, target_.connect_to)) {
    return absl::ResourceExhaustedError("curl_slist_append failed");
  }
  EasyHandle easy(curl_easy_init());
  if (easy == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");

  Options set(easy.get());
  set.Set(CURLOPT_URL, url.c_str());
  set.Set(CURLOPT_SHARE, shared_->share);
  set.Set(CURLOPT_NOSIGNAL, 1L);
  set.Set(CURLOPT_ERRORBUFFER, error_buffer.data());
  set.Set(CURLOPT_HTTPHEADER, headers.get());
  set.Set(CURLOPT_USERAGENT, options_.user_agent.c_str());
  set.Set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  set.Set(CURLOPT_PROTOCOLS_STR, "http,https");
  set.Set(CURLOPT_FOLLOWLOCATION, 0L);
  set.Set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  if (request.timeout.count() > 0) {
    set.Set(CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  }
  set.Set(CURLOPT_TCP_KEEPALIVE, 1L);
  set.Set(CURLOPT_TCP_KEEPIDLE, 30L);
  set.Set(CURLOPT_TCP_KEEPINTVL, 10L);
  if (on_chunk == nullptr) set.Set(CURLOPT_ACCEPT_ENCODING, "gzip");
  set.Set(CURLOPT_HEADERFUNCTION, &OnHeader);
  set.Set(CURLOPT_HEADERDATA, &transfer);
  set.Set(CURLOPT_WRITEFUNCTION, &OnBody);
  set.Set(CURLOPT_WRITEDATA, &transfer);
  if (connect_to != nullptr) set.Set(CURLOPT_CONNECT_TO, connect_to.get());

  if (request.method == "GET") {
    set.Set(CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    set.Set(CURLOPT_NOBODY, 1L);
  } else {
    set.Set(CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      set.Set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      set.Set(CURLOPT_POSTFIELDS, request.body.c_str());
    }
  }

  // TLS. A configured CA replaces the system store (CAINFO/CAPATH cleared):
  // a cluster CA must be the only thing that can vouch for the server.
  if (!config_.certificate_authority_pem.empty()) {
    set.SetBlob(CURLOPT_CAINFO_BLOB, config_.certificate_authority_pem);
    set.Set(CURLOPT_CAINFO, static_cast<char*>(nullptr));
    set.Set(CURLOPT_CAPATH, static_cast<char*>(nullptr));
  }
  const bool credential_certificate = !credential.client_certificate_pem.empty();
  const std::string& certificate =
      credential_certificate ? credential.client_certificate_pem : config_.client_certificate_pem;
  const std::string& key =
      credential_certificate ? credential.client_key_pem : config_.client_key_pem;
  if (!certificate.empty()) {
    set.SetBlob(CURLOPT_SSLCERT_BLOB, certificate);
    set.Set(CURLOPT_SSLCERTTYPE, "PEM");
    set.SetBlob(CURLOPT_SSLKEY_BLOB, key);
    set.Set(CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (config_.insecure_skip_tls_verify) {
    set.Set(CURLOPT_SSL_VERIFYPEER, 0L);
    set.Set(CURLOPT_SSL_VERIFYHOST, 0L);
  } else {
    set.Set(CURLOPT_SSL_VERIFYPEER, 1L);
    set.Set(CURLOPT_SSL_VERIFYHOST, 2L);
  }
  // Without proxy-url libcurl reads http_proxy/https_proxy/no_proxy itself.
  if (!config_.proxy_url.empty()) set.Set(CURLOPT_PROXY, config_.proxy_url.c_str());
  set.Set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  if (absl::Status status = set.status(); !status.ok()) return status;

  absl::StatusOr<std::unique_ptr<Lane>> lane = AcquireLane();
  if (!lane.ok()) return lane.status();
  CURLM* multi = (*lane)->multi;
  if (const CURLMcode code = curl_multi_add_handle(multi, easy.get()); code != CURLM_OK) {
    return absl::InternalError(
        fmt::format("{}: curl_multi_add_handle: {}", what, curl_multi_strerror(code)));
  }

  // Drive the transfer, waking at least every poll_interval to honour the
  // cancellation flag and the idle clock.
  enum class Ending { kDone, kCancelled, kIdle, kMultiError };
  Ending ending = Ending::kDone;
  CURLMcode multi_error = CURLM_OK;
  transfer.last_activity = std::chrono::steady_clock::now();
  const int poll_ms = static_cast<int>(std::max<int64_t>(1, options_.poll_interval.count()));
  while (true) {
    int running = 0;
    multi_error = curl_multi_perform(multi, &running);
    if (multi_error != CURLM_OK) {
      ending = Ending::kMultiError;
      break;
    }
    if (running == 0) break;
    if (cancelled != nullptr && cancelled->load()) {
      ending = Ending::kCancelled;
      break;
    }
    if (on_chunk != nullptr &&
        std::chrono::steady_clock::now() - transfer.last_activity >= options_.idle_timeout) {
      ending = Ending::kIdle;
      break;
    }
    multi_error = curl_multi_poll(multi, nullptr, 0, poll_ms, nullptr);
    if (multi_error != CURLM_OK) {
      ending = Ending::kMultiError;
      break;
    }
  }
  CURLcode result = CURLE_OK;
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
    if (message->msg == CURLMSG_DONE && message->easy_handle == easy.get()) {
      result = message->data.result;
    }
  }
  curl_multi_remove_handle(multi, easy.get());
  ReleaseLane(*std::move(lane));

  switch (ending) {
    case Ending::kCancelled:
      return absl::CancelledError(fmt::format("{}: cancelled", what));
    case Ending::kIdle:
      return absl::DeadlineExceededError(fmt::format(
          "{}: no data for {} ms, the connection looks dead", what, options_.idle_timeout.count()));
    case Ending::kMultiError:
      return absl::InternalError(fmt::format("{}: {}", what, curl_multi_strerror(multi_error)));
    case Ending::kDone:
      break;
  }
  if (transfer.stopped_by_callback) return std::move(transfer.response);
  if (result != CURLE_OK) {
    const std::string detail = error_buffer[0] != '\0' ? std::string(error_buffer.data())
                                                       : std::string(curl_easy_strerror(result));
    const std::string message = fmt::format("{}: {}", what, detail);
    if (result == CURLE_OPERATION_TIMEDOUT) return absl::DeadlineExceededError(message);
    return absl::UnavailableError(message);
  }
  return std::move(transfer.response);
}

}  // namespace propsy::kube
