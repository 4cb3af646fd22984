#include "kube/reflector.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "model/json_fields.h"

namespace propsy::kube {
namespace {

using std::chrono::milliseconds;

bool IsSuccess(int status) { return status >= 200 && status < 300; }

// metadata.resourceVersion of an object, or empty.
std::string ResourceVersionOf(const rapidjson::Value& object) {
  const rapidjson::Value* metadata = model::FindField(object, "metadata");
  if (metadata == nullptr) return "";
  const rapidjson::Value* version = model::FindField(*metadata, "resourceVersion");
  if (version == nullptr || !version->IsString()) return "";
  return std::string(model::StringOf(*version));
}

}  // namespace

Reflector::Reflector(std::shared_ptr<HttpTransport> transport, ReflectorOptions options,
                     ObjectSink& sink, Clock& clock, ReflectorHooks hooks)
    : transport_(std::move(transport)),
      options_(std::move(options)),
      sink_(sink),
      clock_(clock),
      hooks_(std::move(hooks)),
      backoff_(options_.initial_backoff) {
  if (!hooks_.random) rng_.seed(std::random_device{}());
  absl::MutexLock lock(&mu_);
  stats_.collection = options_.collection_path;
}

Reflector::~Reflector() { Stop(); }

void Reflector::Start() {
  if (thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stats_.disconnected_since = clock_.WallNow();
  }
  thread_ = std::thread([this] { Run(); });
}

void Reflector::RequestStop() {
  // Under the lock: releasing it re-checks the backoff wait's condition.
  absl::MutexLock lock(&mu_);
  cancelled_.store(true);
}

void Reflector::Stop() {
  RequestStop();
  if (thread_.joinable()) thread_.join();
}

std::string Reflector::Describe() const {
  return fmt::format("{}{}", transport_->Describe(), options_.collection_path);
}

ReflectorStats Reflector::Stats() const {
  absl::MutexLock lock(&mu_);
  ReflectorStats stats = stats_;
  stats.recent_decode_errors.assign(recent_problems_.begin(), recent_problems_.end());
  return stats;
}

int64_t Reflector::Random(int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  if (hooks_.random) return std::clamp(hooks_.random(lo, hi), lo, hi);
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
}

bool Reflector::SleepFor(milliseconds delay) {
  absl::MutexLock lock(&mu_);
  auto stopped = [this] { return cancelled_.load(); };
  clock_.AwaitUntil(mu_, absl::Condition(&stopped), clock_.Now() + delay);
  return !cancelled_.load();
}

bool Reflector::Backoff(const RequestFailure* failure) {
  milliseconds delay = failure != nullptr && failure->retry_after.has_value()
                           ? std::min<milliseconds>(*failure->retry_after, options_.max_backoff)
                           : milliseconds(Random(0, backoff_.count()));
  // No answer at all (connection refused, reset, timed out): trying again
  // costs the server nothing, and changes made while it was out of reach
  // must arrive within seconds of its return.
  if (failure != nullptr && failure->unanswered) {
    delay = std::min(delay, options_.max_unreachable_backoff);
  }
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  return SleepFor(delay);
}

void Reflector::MarkConnected() {
  {
    absl::MutexLock lock(&mu_);
    if (stats_.connected) return;
    stats_.connected = true;
    stats_.connected_since = clock_.WallNow();
  }
  sink_.StateChanged();
}

void Reflector::MarkFailed(const std::string& message) {
  spdlog::warn("{}: {}", transport_->Describe(), message);  // the message names the path
  {
    absl::MutexLock lock(&mu_);
    stats_.last_error = message;
    if (stats_.connected) {
      stats_.connected = false;
      stats_.disconnected_since = clock_.WallNow();
    }
  }
  sink_.StateChanged();
}

void Reflector::RecordDecodeError(const std::string& message, bool skipped) {
  spdlog::warn("{}: {}", Describe(), message);
  {
    absl::MutexLock lock(&mu_);
    ++stats_.decode_errors;
    stats_.last_error = message;
    if (skipped) {
      recent_problems_.push_back(message);
      while (recent_problems_.size() > options_.max_recent_problems) recent_problems_.pop_front();
    }
  }
  sink_.StateChanged();
}

std::string Reflector::NameOf(const rapidjson::Value& object) {
  std::optional<model::ObjectKey> key = model::ReadObjectKey(object);
  return key.has_value() ? model::SanitizeForMessage(key->ToString(), 253) : "(unnamed)";
}

void Reflector::Run() {
  bool need_list = true;
  while (!cancelled_.load()) {
    std::optional<RequestFailure> failure;
    const bool just_listed = need_list;
    if (need_list) {
      if (!ListAndApply(&failure)) {
        if (cancelled_.load()) return;
        MarkFailed(failure->message);
        if (!Backoff(&*failure)) return;
        continue;
      }
      need_list = false;
    }
    const std::string version_before_watch = resource_version_;
    const WatchEnd end = Watch(&failure);
    if (end == WatchEnd::kCancelled || cancelled_.load()) return;
    {
      absl::MutexLock lock(&mu_);
      ++stats_.watch_restarts;
    }
    switch (end) {
      case WatchEnd::kClosed:
        break;  // the server's timeoutSeconds ran out: watch on at once
      case WatchEnd::kQuickClose:
        if (!Backoff(nullptr)) return;
        break;
      case WatchEnd::kExpired:
        spdlog::info("{}: {}; listing again", transport_->Describe(), failure->message);
        // A list's version that expires before any event means something is
        // off with the server: do not spin between LIST and WATCH.
        if (just_listed && resource_version_ == version_before_watch && !Backoff(nullptr)) {
          return;
        }
        need_list = true;
        break;
      case WatchEnd::kRetry:
        MarkFailed(failure->message);
        if (!Backoff(&*failure)) return;
        break;
      case WatchEnd::kRelist:
        MarkFailed(failure->message);
        if (!Backoff(&*failure)) return;
        need_list = true;
        break;
      case WatchEnd::kCancelled:
        return;
    }
    if (resource_version_.empty()) need_list = true;  // nothing to resume from
  }
}

bool Reflector::ListAndApply(std::optional<RequestFailure>* failure) {
  const ListOptions list_options{
      .path = options_.collection_path,
      .field_selector = options_.field_selector,
      .label_selector = options_.label_selector,
      .page_size = options_.page_size,
      .timeout = options_.list_timeout,
      .max_body_bytes = options_.max_list_body_bytes,
  };
  ListResult result = ListCollection(*transport_, list_options, cancelled_);
  if (!result.ok()) {
    *failure = std::move(result.failure);
    return false;
  }
  {
    // A complete list is a fresh view: older problems no longer hold.
    absl::MutexLock lock(&mu_);
    recent_problems_.clear();
  }
  ObjectBatch batch{.kind = options_.kind, .upserts = {}, .deletes = {}};
  std::set<model::ObjectKey> listed;
  for (size_t i = 0; i < result.collection.items.size(); ++i) {
    const rapidjson::Value& item = *result.collection.items[i];
    std::optional<model::ObjectKey> key =
        item.IsObject() ? model::ReadObjectKey(item) : std::nullopt;
    if (!key.has_value()) {
      RecordDecodeError(
          fmt::format("list item {}: skipped: {}", i,
                      item.IsObject() ? "metadata.name: missing" : "not a JSON object"),
          true);
      continue;
    }
    listed.insert(*key);
    batch.upserts.push_back(&item);
  }
  for (const model::ObjectKey& key : known_) {
    if (!listed.contains(key)) batch.deletes.push_back(key);
  }
  const std::vector<absl::Status> statuses = sink_.Apply(batch);
  for (size_t i = 0; i < statuses.size() && i < batch.upserts.size(); ++i) {
    if (!statuses[i].ok()) {
      RecordDecodeError(fmt::format("{} {}: {}", model::ObjectKindName(options_.kind),
                                    NameOf(*batch.upserts[i]), std::string(statuses[i].message())),
                        false);
    }
  }
  known_ = std::move(listed);
  resource_version_ = result.collection.resource_version;
  backoff_ = options_.initial_backoff;
  {
    absl::MutexLock lock(&mu_);
    if (stats_.synced) ++stats_.relists;
    ++stats_.lists;
    stats_.synced = true;
    stats_.resource_version = resource_version_;
  }
  spdlog::debug("{}: listed {} objects at version {} ({} requests, {} deleted)", Describe(),
                batch.upserts.size(), resource_version_, result.collection.requests,
                batch.deletes.size());
  synced_.store(true);
  MarkConnected();
  sink_.StateChanged();
  return true;
}

Reflector::WatchEnd Reflector::Watch(std::optional<RequestFailure>* failure) {
  const int64_t timeout_seconds =
      Random(options_.min_watch_timeout.count(), options_.max_watch_timeout.count());
  std::vector<std::string> params = {"allowWatchBookmarks=true"};
  if (!options_.field_selector.empty()) {
    params.push_back("fieldSelector=" + EncodeQueryValue(options_.field_selector));
  }
  if (!options_.label_selector.empty()) {
    params.push_back("labelSelector=" + EncodeQueryValue(options_.label_selector));
  }
  params.push_back("resourceVersion=" + EncodeQueryValue(resource_version_));
  params.push_back(fmt::format("timeoutSeconds={}", timeout_seconds));
  params.push_back("watch=true");
  const HttpRequest request{
      .method = "GET",
      .path = fmt::format("{}?{}", options_.collection_path, fmt::join(params, "&")),
      .headers = {{"Accept", "application/json"}},
      .body = "",
      // The server ends the watch itself; this only guards against one that
      // does not.
      .timeout = std::chrono::seconds(timeout_seconds + 30),
  };
  const std::string what = fmt::format("WATCH {}", options_.collection_path);
  {
    absl::MutexLock lock(&mu_);
    ++stats_.watches_started;
  }

  WatchDecoder decoder(options_.max_watch_line_bytes);
  const Clock::TimePoint started = clock_.Now();
  bool any_bytes = false;
  bool stop_stream = false;
  int64_t events = 0;
  WatchEnd end = WatchEnd::kClosed;
  const WatchDecoder::Handler handler = [&](absl::StatusOr<WatchEvent> event) {
    if (stop_stream) return;
    if (!event.ok()) {
      RecordDecodeError(std::string(event.status().message()), true);
      return;
    }
    ++events;
    if (!HandleEvent(*event, &end, failure)) stop_stream = true;
  };
  absl::StatusOr<HttpResponse> response = transport_->Stream(
      request,
      [&](std::string_view chunk) {
        // Any call, an empty chunk too, means the server accepted the watch.
        if (!any_bytes) {
          any_bytes = true;
          MarkConnected();
        }
        decoder.Feed(chunk, handler);
        return !stop_stream && !cancelled_.load();
      },
      cancelled_);
  if (cancelled_.load()) return WatchEnd::kCancelled;
  if (stop_stream) return end;
  if (!response.ok()) {
    *failure = RequestFailure{
        .message = fmt::format("{}: {}", what, std::string(response.status().message())),
        .http_status = 0,
        .retry_after = std::nullopt,
        .expired = false,
        .unanswered = true,
    };
    return WatchEnd::kRetry;
  }
  if (!IsSuccess(response->status)) {
    *failure = FailureFromResponse(what, *response);
    if ((*failure)->expired) return WatchEnd::kExpired;
    return (*failure)->Transient() ? WatchEnd::kRetry : WatchEnd::kRelist;
  }
  decoder.Finish(handler);
  if (stop_stream) return end;
  MarkConnected();
  if (events == 0 && clock_.Now() - started < options_.min_clean_watch) {
    spdlog::debug("{}: watch ended at once without events; backing off", Describe());
    return WatchEnd::kQuickClose;
  }
  backoff_ = options_.initial_backoff;
  return WatchEnd::kClosed;
}

bool Reflector::HandleEvent(const WatchEvent& event, WatchEnd* end,
                            std::optional<RequestFailure>* failure) {
  const rapidjson::Value& object = event.object;
  if (event.type == WatchEventType::kError) {
    const ApiStatus status = ReadApiStatus(object).value_or(ApiStatus{});
    *failure = RequestFailure{
        .message = fmt::format("WATCH {}: ERROR event: {} {}: {}", options_.collection_path,
                               status.code, status.reason, status.message),
        .http_status = status.code,
        .retry_after = std::nullopt,
        .expired = status.IsExpired(),
        .unanswered = false,
    };
    if ((*failure)->expired) {
      *end = WatchEnd::kExpired;
    } else {
      *end = (*failure)->Transient() ? WatchEnd::kRetry : WatchEnd::kRelist;
    }
    return false;
  }
  if (event.type != WatchEventType::kBookmark) {
    std::optional<model::ObjectKey> key = model::ReadObjectKey(object);
    if (!key.has_value()) {
      RecordDecodeError(
          fmt::format("{} event: skipped: metadata.name: missing", WatchEventTypeName(event.type)),
          true);
    } else if (event.type == WatchEventType::kDeleted) {
      sink_.Apply({.kind = options_.kind, .upserts = {}, .deletes = {*key}});
      known_.erase(*key);
    } else {
      const std::vector<absl::Status> statuses =
          sink_.Apply({.kind = options_.kind, .upserts = {&object}, .deletes = {}});
      known_.insert(*key);
      if (!statuses.empty() && !statuses.front().ok()) {
        RecordDecodeError(fmt::format("{} {}: {}", model::ObjectKindName(options_.kind),
                                      NameOf(object), std::string(statuses.front().message())),
                          false);
      }
    }
  }
  if (std::string version = ResourceVersionOf(object); !version.empty()) {
    resource_version_ = std::move(version);
    absl::MutexLock lock(&mu_);
    stats_.resource_version = resource_version_;
  }
  return true;
}

}  // namespace propsy::kube
