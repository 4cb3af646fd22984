#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace propsy::kube {

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };
const char* WatchEventTypeName(WatchEventType type);

// One event of a Kubernetes watch stream.
struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  // The event's "object": the Kubernetes object (ADDED, MODIFIED, DELETED),
  // an object carrying only metadata.resourceVersion (BOOKMARK), or a
  // metav1.Status (ERROR). Always a JSON object.
  rapidjson::Document object;
};

// A metav1.Status: what the API server answers instead of an object when a
// request fails, and what ERROR watch events carry.
struct ApiStatus {
  int code = 0;        // HTTP status code the failure maps to (410 for Expired)
  std::string reason;  // "Expired", "Gone", "NotFound", ...
  std::string message;

  // The resource version or continue token is too old: the client must list
  // again (HTTP 410, or reason Expired / Gone).
  bool IsExpired() const { return code == 410 || reason == "Expired" || reason == "Gone"; }
};

// Reads a metav1.Status from a JSON value; nullopt when `value` is not an
// object. Missing fields stay empty (a bare `{}` is a Status with code 0).
std::optional<ApiStatus> ReadApiStatus(const rapidjson::Value& value);
// Same from a response body; nullopt when it is not a JSON object.
std::optional<ApiStatus> ParseApiStatus(std::string_view body);

// Incremental decoder of a watch stream: newline-delimited JSON objects
// `{"type": "ADDED", "object": {...}}`, cut into chunks at arbitrary byte
// boundaries. Whitespace (blank lines, "\r\n") between events is ignored;
// several events on one line are accepted too.
//
// Invariants:
// - Each complete line yields its events, in order, as soon as its newline
//   arrives; a line that is not valid JSON, or whose JSON is not an event,
//   yields one error for that line and decoding resumes at the next line.
//   Events before the bad spot of the line are still delivered.
// - Memory is bounded: a line longer than `max_line_bytes` yields one error
//   and is discarded up to its newline without being buffered.
// - Never throws, never aborts, whatever the bytes (it is fuzzed).
// Not thread-safe: one decoder per stream.
class WatchDecoder {
 public:
  static constexpr size_t kDefaultMaxLineBytes = size_t{64} << 20;

  // Gets each event, or the error for a bad line (InvalidArgument, or
  // ResourceExhausted for an oversized line), naming the line number.
  using Handler = std::function<void(absl::StatusOr<WatchEvent> event)>;

  explicit WatchDecoder(size_t max_line_bytes = kDefaultMaxLineBytes);

  void Feed(std::string_view chunk, const Handler& handler);
  // End of stream: decodes a last line that had no newline.
  void Finish(const Handler& handler);

  // Bytes held for an incomplete line (at most max_line_bytes).
  size_t buffered_bytes() const { return buffer_.size(); }
  // Number (1-based) of the line being read now.
  int64_t line_number() const { return line_; }

 private:
  void DecodeLine(std::string_view line, const Handler& handler);

  const size_t max_line_bytes_;
  std::string buffer_;     // the current line, without its newline
  bool skipping_ = false;  // the current line is over the limit
  int64_t line_ = 1;       // number of the line being read
};

}  // namespace propsy::kube
