#pragma once

// Requests a reflector makes besides the watch itself: a whole-body GET that
// can be cancelled, and the paginated LIST of a collection.

#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kube/http_transport.h"

namespace propsy::kube {

// Percent-encodes `text` for a URL query value (RFC 3986 unreserved
// characters stay as they are).
std::string EncodeQueryValue(std::string_view text);

// The Retry-After header of `response` as a delay, when it holds a number of
// seconds (an HTTP date is not honoured).
std::optional<std::chrono::seconds> RetryAfter(const HttpResponse& response);

// Why an exchange with the API server did not give what was asked.
struct RequestFailure {
  std::string message;  // for logs and stats; names the request and the cause
  int http_status = 0;  // 0: the transport failed (or the body did not decode)
  std::optional<std::chrono::seconds> retry_after;
  // HTTP 410, or a Status with reason Expired / Gone: list again.
  bool expired = false;
  // No HTTP answer at all: connection refused, reset, timed out.
  bool unanswered = false;

  // Worth retrying the same request after a pause: transport failures, 429
  // and 5xx answers.
  bool Transient() const { return http_status == 0 || http_status == 429 || http_status >= 500; }
};

// Builds the failure for a non-2xx response to `what` ("LIST /api/v1/...").
RequestFailure FailureFromResponse(std::string_view what, const HttpResponse& response);

// A GET whose body is read whole but which stops within the transport's
// cancellation interval once `cancelled` is set (HttpTransport::Send cannot
// be interrupted). Bodies over `max_body_bytes` fail with ResourceExhausted;
// a cancelled request fails with Cancelled.
absl::StatusOr<HttpResponse> FetchWhole(HttpTransport& transport, const HttpRequest& request,
                                        const std::atomic<bool>& cancelled, size_t max_body_bytes);

struct ListOptions {
  // Collection path, e.g. "/api/v1/namespaces/shop/secrets".
  std::string path;
  std::string field_selector;  // empty: none
  std::string label_selector;  // empty: none
  int page_size = 500;         // `limit`; 0 asks for everything at once
  std::chrono::milliseconds timeout{std::chrono::minutes(2)};  // per page
  size_t max_body_bytes = size_t{1} << 30;                     // per page
};

// Everything a complete LIST returned. `items` point into `pages`.
struct ListedCollection {
  std::string resource_version;  // of the list (consistent across pages)
  std::vector<std::unique_ptr<rapidjson::Document>> pages;
  std::vector<const rapidjson::Value*> items;
  int requests = 0;                     // pages fetched, the fallback included
  bool fell_back_to_full_list = false;  // a continue token had expired
};

struct ListResult {
  bool ok() const { return !failure.has_value(); }
  std::optional<RequestFailure> failure;
  ListedCollection collection;  // meaningful when ok()
};

// Lists a collection the way client-go does: pages of `page_size` with
// `limit`/`continue`; when a continue token has expired (410 while paging),
// one full LIST without `limit` replaces the pages read so far. Items that
// are not JSON objects are left in `items` for the caller to report.
ListResult ListCollection(HttpTransport& transport, const ListOptions& options,
                          const std::atomic<bool>& cancelled);

}  // namespace propsy::kube
