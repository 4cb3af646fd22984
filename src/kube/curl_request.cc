#include "kube/curl_request.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <vector>

namespace propsy::kube {
namespace {

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

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  transfer->last_received = transfer->clock->Now();
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
  transfer->last_received = transfer->clock->Now();
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

// The keepalive probe count and TCP_USER_TIMEOUT of a new connection.
// Failures are ignored: the socket works without them (and a proxy's
// socket may not be TCP at all).
int OnSocket(void* user, curl_socket_t socket, curlsocktype purpose) {
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKOPT_OK;
  const auto& options = *static_cast<const CurlTransportOptions*>(user);
  const int count = options.keepalive_count;
  (void)setsockopt(socket, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
  // Unacknowledged data gives up as late as keepalive would.
  const unsigned int user_timeout_ms = static_cast<unsigned int>(
      std::chrono::milliseconds(options.keepalive_idle +
                                options.keepalive_interval * options.keepalive_count)
          .count());
  (void)setsockopt(socket, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
                   sizeof(user_timeout_ms));
  return CURL_SOCKOPT_OK;
}

}  // namespace

std::string CurlRequest::Failure(CURLcode result) const {
  const std::string detail = error_buffer[0] != '\0' ? std::string(error_buffer.data())
                                                     : std::string(curl_easy_strerror(result));
  return fmt::format("{}: {}", what, detail);
}

absl::StatusOr<std::unique_ptr<CurlRequest>> NewCurlRequest(
    const CurlRequestContext& context, const HttpRequest& request, const Credential& credential,
    const HttpTransport::ChunkCallback* on_chunk) {
  const CurlTransportOptions& options = *context.options;
  const ClusterConnectionConfig& config = *context.config;
  const std::string url = context.base_url + request.path;
  auto owned = std::make_unique<CurlRequest>();
  owned->what = fmt::format("{} {}", request.method, url);
  Transfer& transfer = owned->transfer;
  transfer.on_chunk = on_chunk;
  transfer.clock = context.clock;
  transfer.last_received = context.clock->Now();
  Slist& headers = owned->headers;
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
  if (!context.host_header.empty()) lines.push_back(context.host_header);
  lines.emplace_back("Expect:");  // no 100-continue round trip for bodies
  for (const std::string& line : lines) {
    if (!Append(&headers, line)) return absl::ResourceExhaustedError("curl_slist_append failed");
  }
  Slist& connect_to = owned->connect_to;
  if (!context.connect_to.empty() && !Append(&connect_to, context.connect_to)) {
    return absl::ResourceExhaustedError("curl_slist_append failed");
  }
  owned->easy.reset(curl_easy_init());
  EasyHandle& easy = owned->easy;
  if (easy == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");

  Options set(easy.get());
  set.Set(CURLOPT_URL, url.c_str());
  set.Set(CURLOPT_SHARE, context.share);
  set.Set(CURLOPT_NOSIGNAL, 1L);
  set.Set(CURLOPT_ERRORBUFFER, owned->error_buffer.data());
  set.Set(CURLOPT_HTTPHEADER, headers.get());
  set.Set(CURLOPT_USERAGENT, options.user_agent.c_str());
  set.Set(CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  set.Set(CURLOPT_PROTOCOLS_STR, "http,https");
  set.Set(CURLOPT_FOLLOWLOCATION, 0L);
  set.Set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  if (request.timeout.count() > 0) {
    set.Set(CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  }
  set.Set(CURLOPT_TCP_KEEPALIVE, 1L);
  set.Set(CURLOPT_TCP_KEEPIDLE, static_cast<long>(options.keepalive_idle.count()));
  set.Set(CURLOPT_TCP_KEEPINTVL, static_cast<long>(options.keepalive_interval.count()));
  // The probe count and TCP_USER_TIMEOUT have no libcurl option here.
  set.Set(CURLOPT_SOCKOPTFUNCTION, &OnSocket);
  set.Set(CURLOPT_SOCKOPTDATA, static_cast<void*>(const_cast<CurlTransportOptions*>(&options)));
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
  if (!config.certificate_authority_pem.empty()) {
    set.SetBlob(CURLOPT_CAINFO_BLOB, config.certificate_authority_pem);
    set.Set(CURLOPT_CAINFO, static_cast<char*>(nullptr));
    set.Set(CURLOPT_CAPATH, static_cast<char*>(nullptr));
  }
  const bool credential_certificate = !credential.client_certificate_pem.empty();
  const std::string& certificate =
      credential_certificate ? credential.client_certificate_pem : config.client_certificate_pem;
  const std::string& key =
      credential_certificate ? credential.client_key_pem : config.client_key_pem;
  if (!certificate.empty()) {
    set.SetBlob(CURLOPT_SSLCERT_BLOB, certificate);
    set.Set(CURLOPT_SSLCERTTYPE, "PEM");
    set.SetBlob(CURLOPT_SSLKEY_BLOB, key);
    set.Set(CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (config.insecure_skip_tls_verify) {
    set.Set(CURLOPT_SSL_VERIFYPEER, 0L);
    set.Set(CURLOPT_SSL_VERIFYHOST, 0L);
  } else {
    set.Set(CURLOPT_SSL_VERIFYPEER, 1L);
    set.Set(CURLOPT_SSL_VERIFYHOST, 2L);
  }
  // Without proxy-url libcurl reads http_proxy/https_proxy/no_proxy itself.
  if (!config.proxy_url.empty()) set.Set(CURLOPT_PROXY, config.proxy_url.c_str());
  set.Set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  if (absl::Status status = set.status(); !status.ok()) return status;
  return owned;
}

}  // namespace propsy::kube
