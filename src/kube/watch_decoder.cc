#include "kube/watch_decoder.h"

#include <fmt/format.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>

#include <utility>

#include "model/json_fields.h"

namespace propsy::kube {
namespace {

// Past this, the buffer of a finished line is released rather than kept for
// the next one: one huge object must not pin its memory for the stream's life.
constexpr size_t kKeepCapacityBytes = size_t{1} << 20;

constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag;

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::optional<WatchEventType> EventTypeOf(std::string_view name) {
  if (name == "ADDED") return WatchEventType::kAdded;
  if (name == "MODIFIED") return WatchEventType::kModified;
  if (name == "DELETED") return WatchEventType::kDeleted;
  if (name == "BOOKMARK") return WatchEventType::kBookmark;
  if (name == "ERROR") return WatchEventType::kError;
  return std::nullopt;
}

// Turns a parsed line value into an event; `where` prefixes errors.
absl::StatusOr<WatchEvent> ToEvent(rapidjson::Document document, const std::string& where) {
  if (!document.IsObject()) {
    return absl::InvalidArgumentError(fmt::format("{}: an event must be a JSON object, got {}",
                                                  where, model::DescribeValue(document)));
  }
  const rapidjson::Value* type_field = model::FindField(document, "type");
  if (type_field == nullptr || !type_field->IsString()) {
    return absl::InvalidArgumentError(fmt::format("{}: event type: missing", where));
  }
  std::optional<WatchEventType> type = EventTypeOf(model::StringOf(*type_field));
  if (!type.has_value()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: unknown event type \"{}\"", where,
                    model::SanitizeForMessage(model::StringOf(*type_field))));
  }
  rapidjson::Value* object = nullptr;
  // Counted, not compared against MemberEnd(): clang's C++20 mode finds
  // RapidJSON's non-const iterator comparison ambiguous.
  auto member = document.MemberBegin();
  for (rapidjson::SizeType i = 0; i < document.MemberCount(); ++i, ++member) {
    if (model::StringOf(member->name) == "object") {
      object = &member->value;  // the first of duplicates, as FindField does
      break;
    }
  }
  if (object == nullptr || !object->IsObject()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {} event: object: missing (a JSON object required)", where,
                    WatchEventTypeName(*type)));
  }
  // Make the event's object the document's root without copying it: its
  // memory already belongs to the document's allocator, which moves along.
  rapidjson::Value inner;
  inner.Swap(*object);
  static_cast<rapidjson::Value&>(document).Swap(inner);
  WatchEvent event;
  event.type = *type;
  event.object = std::move(document);
  return event;
}

}  // namespace

const char* WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "UNKNOWN";
}

std::optional<ApiStatus> ReadApiStatus(const rapidjson::Value& value) {
  if (!value.IsObject()) return std::nullopt;
  ApiStatus status;
  if (const rapidjson::Value* code = model::FindField(value, "code");
      code != nullptr && code->IsInt()) {
    status.code = code->GetInt();
  }
  if (const rapidjson::Value* reason = model::FindField(value, "reason");
      reason != nullptr && reason->IsString()) {
    status.reason = std::string(model::StringOf(*reason));
  }
  if (const rapidjson::Value* message = model::FindField(value, "message");
      message != nullptr && message->IsString()) {
    status.message = std::string(model::StringOf(*message));
  }
  return status;
}

std::optional<ApiStatus> ParseApiStatus(std::string_view body) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (document.HasParseError()) return std::nullopt;
  return ReadApiStatus(document);
}

WatchDecoder::WatchDecoder(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

void WatchDecoder::Feed(std::string_view chunk, const Handler& handler) {
  size_t pos = 0;
  while (pos < chunk.size()) {
    const size_t newline = chunk.find('\n', pos);
    const size_t end = newline == std::string_view::npos ? chunk.size() : newline;
    const std::string_view piece = chunk.substr(pos, end - pos);
    pos = newline == std::string_view::npos ? chunk.size() : newline + 1;

    if (!skipping_ && buffer_.size() + piece.size() > max_line_bytes_) {
      handler(absl::ResourceExhaustedError(fmt::format(
          "watch stream line {}: longer than {} bytes; skipped", line_, max_line_bytes_)));
      skipping_ = true;
      buffer_.clear();
      buffer_.shrink_to_fit();
    }
    if (newline == std::string_view::npos) {
      if (!skipping_) buffer_.append(piece);
      break;
    }
    if (!skipping_) {
      if (buffer_.empty()) {
        DecodeLine(piece, handler);  // the whole line is in this chunk
      } else {
        buffer_.append(piece);
        DecodeLine(buffer_, handler);
      }
    }
    skipping_ = false;
    buffer_.clear();
    if (buffer_.capacity() > kKeepCapacityBytes) buffer_.shrink_to_fit();
    ++line_;
  }
}

void WatchDecoder::Finish(const Handler& handler) {
  if (!skipping_ && !buffer_.empty()) DecodeLine(buffer_, handler);
  skipping_ = false;
  buffer_.clear();
  buffer_.shrink_to_fit();
}

void WatchDecoder::DecodeLine(std::string_view line, const Handler& handler) {
  const std::string where = fmt::format("watch stream line {}", line_);
  size_t offset = 0;
  while (true) {
    while (offset < line.size() && IsJsonWhitespace(line[offset])) ++offset;
    if (offset == line.size()) return;
    rapidjson::Document document;
    rapidjson::MemoryStream stream(line.data() + offset, line.size() - offset);
    document.ParseStream<kParseFlags, rapidjson::UTF8<>>(stream);
    if (document.HasParseError() || stream.Tell() == 0) {
      handler(absl::InvalidArgumentError(fmt::format(
          "{}: invalid JSON at column {}: {}", where, offset + document.GetErrorOffset() + 1,
          rapidjson::GetParseError_En(document.GetParseError()))));
      return;  // the rest of the line cannot be trusted
    }
    offset += stream.Tell();
    handler(ToEvent(std::move(document), where));
  }
}

}  // namespace propsy::kube
