#include "kube/list_request.h"

#include <fmt/format.h>
#include <rapidjson/error/en.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <utility>

#include "kube/watch_decoder.h"
#include "model/json_fields.h"

namespace propsy::kube {
namespace {

bool IsUnreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool IsSuccess(int status) { return status >= 200 && status < 300; }

// A short, printable excerpt of a body for messages when it is no Status.
std::string BodyExcerpt(std::string_view body) { return model::SanitizeForMessage(body, 200); }

std::string ListQuery(const ListOptions& options, bool paged, const std::string& continue_token) {
  std::vector<std::string> params;
  if (!options.field_selector.empty()) {
    params.push_back("fieldSelector=" + EncodeQueryValue(options.field_selector));
  }
  if (!options.label_selector.empty()) {
    params.push_back("labelSelector=" + EncodeQueryValue(options.label_selector));
  }
  if (paged) params.push_back(fmt::format("limit={}", options.page_size));
  if (!continue_token.empty()) params.push_back("continue=" + EncodeQueryValue(continue_token));
  if (params.empty()) return options.path;
  return fmt::format("{}?{}", options.path, fmt::join(params, "&"));
}

// The string at metadata.<name> of a list, or empty.
std::string ListMetaString(const rapidjson::Value& list, std::string_view name) {
  const rapidjson::Value* metadata = model::FindField(list, "metadata");
  if (metadata == nullptr) return "";
  const rapidjson::Value* value = model::FindField(*metadata, name);
  if (value == nullptr || !value->IsString()) return "";
  return std::string(model::StringOf(*value));
}

}  // namespace

std::string EncodeQueryValue(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (IsUnreserved(c)) {
      out.push_back(c);
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

std::optional<std::chrono::seconds> RetryAfter(const HttpResponse& response) {
  auto it = response.headers.find("retry-after");
  if (it == response.headers.end()) return std::nullopt;
  std::string_view text = it->second;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  int64_t seconds = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (error != std::errc() || end != text.data() + text.size() || seconds < 0) {
    return std::nullopt;
  }
  return std::chrono::seconds(seconds);
}

RequestFailure FailureFromResponse(std::string_view what, const HttpResponse& response) {
  RequestFailure failure;
  failure.http_status = response.status;
  failure.retry_after = RetryAfter(response);
  std::optional<ApiStatus> status = ParseApiStatus(response.body);
  failure.expired = response.status == 410 || (status.has_value() && status->IsExpired());
  std::string detail;
  if (status.has_value() && !status->message.empty()) {
    detail = status->reason.empty() ? status->message
                                    : fmt::format("{}: {}", status->reason, status->message);
  } else if (status.has_value() && !status->reason.empty()) {
    detail = status->reason;
  } else {
    detail = BodyExcerpt(response.body);
  }
  failure.message = detail.empty() ? fmt::format("{}: HTTP {}", what, response.status)
                                   : fmt::format("{}: HTTP {}: {}", what, response.status, detail);
  return failure;
}

absl::StatusOr<HttpResponse> FetchWhole(HttpTransport& transport, const HttpRequest& request,
                                        const std::atomic<bool>& cancelled, size_t max_body_bytes) {
  std::string body;
  bool too_big = false;
  absl::StatusOr<HttpResponse> response = transport.Stream(
      request,
      [&](std::string_view chunk) {
        if (body.size() + chunk.size() > max_body_bytes) {
          too_big = true;
          return false;
        }
        body.append(chunk);
        return !cancelled.load();
      },
      cancelled);
  if (cancelled.load()) return absl::CancelledError(fmt::format("{}: cancelled", request.path));
  if (!response.ok()) return response.status();
  if (too_big) {
    return absl::ResourceExhaustedError(
        fmt::format("{}: response larger than {} bytes", request.path, max_body_bytes));
  }
  if (IsSuccess(response->status) && response->body.empty()) response->body = std::move(body);
  return response;
}

ListResult ListCollection(HttpTransport& transport, const ListOptions& options,
                          const std::atomic<bool>& cancelled) {
  ListResult result;
  ListedCollection& collection = result.collection;
  const std::string what = fmt::format("LIST {}", options.path);
  std::string continue_token;
  bool full = options.page_size <= 0;
  while (true) {
    HttpRequest request{
        .method = "GET",
        .path = ListQuery(options, !full, continue_token),
        .headers = {{"Accept", "application/json"}},
        .body = "",
        .timeout = options.timeout,
    };
    ++collection.requests;
    absl::StatusOr<HttpResponse> response =
        FetchWhole(transport, request, cancelled, options.max_body_bytes);
    if (!response.ok()) {
      result.failure = RequestFailure{
          .message = fmt::format("{}: {}", what, std::string(response.status().message())),
          .http_status = 0,
          .retry_after = std::nullopt,
          .expired = false,
          .unanswered = true,
      };
      return result;
    }
    if (!IsSuccess(response->status)) {
      RequestFailure failure = FailureFromResponse(what, *response);
      if (failure.expired && !continue_token.empty() && !full) {
        // The pages read so far belong to a snapshot etcd compacted away:
        // start over with one unpaginated LIST (client-go does the same).
        spdlog::info("{}: continue token expired after {} pages; listing everything at once", what,
                     collection.pages.size());
        full = true;
        continue_token.clear();
        collection.pages.clear();
        collection.items.clear();
        collection.fell_back_to_full_list = true;
        continue;
      }
      result.failure = std::move(failure);
      return result;
    }
    auto page = std::make_unique<rapidjson::Document>();
    page->Parse<rapidjson::kParseIterativeFlag>(response->body.data(), response->body.size());
    std::string problem;
    if (page->HasParseError()) {
      problem = fmt::format("response is not JSON (offset {}: {})", page->GetErrorOffset(),
                            rapidjson::GetParseError_En(page->GetParseError()));
    } else if (!page->IsObject()) {
      problem = "response is not a JSON object";
    } else if (const rapidjson::Value* items = model::FindField(*page, "items");
               items != nullptr && !items->IsArray()) {
      problem = "items: not a list";
    }
    if (!problem.empty()) {
      result.failure = RequestFailure{.message = fmt::format("{}: {}", what, problem),
                                      .http_status = 0,
                                      .retry_after = std::nullopt,
                                      .expired = false,
                                      .unanswered = false};
      return result;
    }
    if (const rapidjson::Value* items = model::FindField(*page, "items")) {
      for (const rapidjson::Value& item : items->GetArray()) collection.items.push_back(&item);
    }
    collection.resource_version = ListMetaString(*page, "resourceVersion");
    continue_token = full ? "" : ListMetaString(*page, "continue");
    collection.pages.push_back(std::move(page));
    if (continue_token.empty()) return result;
  }
}

}  // namespace propsy::kube
