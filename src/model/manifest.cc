#include "model/manifest.h"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "model/json_fields.h"

namespace propsy::model {
namespace {

constexpr int kMaxDepth = 100;
// How far aliases may blow a manifest up: its JSON values may cost (one per
// node plus the bytes of each scalar) this much plus 4x the text's size.
constexpr size_t kExpansionAllowance = size_t{16} << 20;

constexpr char kStringTag[] = "tag:yaml.org,2002:str";

using Allocator = rapidjson::Document::AllocatorType;

bool IsDigits(std::string_view text, bool hex = false) {
  if (text.empty()) return false;
  for (char c : text) {
    const bool digit = c >= '0' && c <= '9';
    const bool hex_letter = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!digit && !(hex && hex_letter)) return false;
  }
  return true;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsFloat(std::string_view text) {
  size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  size_t integer_digits = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++integer_digits;
  size_t fraction_digits = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i, ++fraction_digits;
  }
  if (integer_digits == 0 && fraction_digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    if (i == text.size()) return false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  }
  return i == text.size();
}

// Sets `out` to the integer `magnitude` with `negative` sign; false when it
// fits no JSON integer.
bool SetInteger(uint64_t magnitude, bool negative, rapidjson::Value* out) {
  constexpr uint64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
  if (!negative) {
    if (magnitude <= kMaxInt64) {
      out->SetInt64(static_cast<int64_t>(magnitude));
    } else {
      out->SetUint64(magnitude);
    }
    return true;
  }
  if (magnitude > kMaxInt64 + 1) return false;
  out->SetInt64(magnitude == kMaxInt64 + 1 ? std::numeric_limits<int64_t>::min()
                                           : -static_cast<int64_t>(magnitude));
  return true;
}

bool ParseUnsigned(std::string_view digits, int base, uint64_t* value) {
  const auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), *value, base);
  return ec == std::errc() && end == digits.data() + digits.size();
}

// A plain scalar by the YAML 1.2 core schema.
void ResolvePlainScalar(const std::string& text, rapidjson::Value* out, Allocator& allocator) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    out->SetNull();
    return;
  }
  if (text == "true" || text == "True" || text == "TRUE") {
    out->SetBool(true);
    return;
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    out->SetBool(false);
    return;
  }
  std::string_view body = text;
  const bool negative = body.front() == '-';
  if (body.front() == '-' || body.front() == '+') body.remove_prefix(1);
  uint64_t magnitude = 0;
  if (IsDigits(body)) {
    if (ParseUnsigned(body, 10, &magnitude) && SetInteger(magnitude, negative, out)) return;
    // Beyond 64 bits: still a number, as a double.
    out->SetDouble(std::strtod(text.c_str(), nullptr));
    return;
  }
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'o' || text[1] == 'x')) {
    const std::string_view digits = std::string_view(text).substr(2);
    const bool hex = text[1] == 'x';
    if (IsDigits(digits, hex) && ParseUnsigned(digits, hex ? 16 : 8, &magnitude) &&
        SetInteger(magnitude, false, out)) {
      return;
    }
  }
  if (IsFloat(text)) {
    out->SetDouble(std::strtod(text.c_str(), nullptr));
    return;
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    out->SetDouble(negative ? -HUGE_VAL : HUGE_VAL);
    return;
  }
  if (text == ".nan" || text == ".NaN" || text == ".NAN") {
    out->SetDouble(std::numeric_limits<double>::quiet_NaN());
    return;
  }
  out->SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
}

// Raised inside the parse to stop it; becomes the error status.
YAML::ParserException Failure(const YAML::Mark& mark, std::string_view reason) {
  return YAML::ParserException(mark, std::string(reason));
}

// Builds one document's JSON value from yaml-cpp parser events, enforcing the
// depth and expansion limits. Events come from the streaming parser, so no
// YAML node graph is ever built. Problems are thrown as ParserException.
class JsonBuilder : public YAML::EventHandler {
 public:
  JsonBuilder(Allocator* allocator, size_t* budget) : allocator_(allocator), budget_(budget) {}

  rapidjson::Value& root() { return root_; }
  const YAML::Mark& root_mark() const { return root_mark_; }
  bool has_root() const { return has_root_; }
  // Lines of the elements of the root mapping's `items` sequence.
  const std::vector<int>& item_lines() const { return item_lines_; }

  void OnDocumentStart(const YAML::Mark& /*mark*/) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (ExpectingKey()) throw Failure(mark, "a key must be a string, got null");
    Complete(rapidjson::Value(), 1, anchor, mark);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto it = anchors_.find(anchor);
    // yaml-cpp registers an anchor when its node starts: an alias inside the
    // node it names would repeat forever.
    if (it == anchors_.end()) throw Failure(mark, "an alias refers to a node that contains it");
    Spend(it->second.cost, mark);
    if (ExpectingKey()) {
      if (!it->second.value.IsString()) throw Failure(mark, "a key must be a string");
      frames_.back().cost += it->second.cost;
      SetKey(std::string(it->second.value.GetString(), it->second.value.GetStringLength()), mark);
      return;
    }
    Complete(rapidjson::Value(it->second.value, *allocator_), it->second.cost, YAML::NullAnchor,
             mark);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    Spend(1 + value.size(), mark);
    if (ExpectingKey()) {
      if (anchor != YAML::NullAnchor) {
        anchors_.insert_or_assign(
            anchor,
            Anchored{rapidjson::Value(value.data(), static_cast<rapidjson::SizeType>(value.size()),
                                      *allocator_),
                     1 + value.size()});
      }
      frames_.back().cost += 1 + value.size();
      SetKey(value, mark);
      return;
    }
    rapidjson::Value out;
    // "!" marks a quoted or block scalar: always a string.
    if (tag == "!" || tag == kStringTag) {
      out.SetString(value.data(), static_cast<rapidjson::SizeType>(value.size()), *allocator_);
    } else {
      ResolvePlainScalar(value, &out, *allocator_);
    }
    Complete(std::move(out), 1 + value.size(), anchor, mark);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    Open(rapidjson::kArrayType, "a list", anchor, mark);
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    Open(rapidjson::kObjectType, "a mapping", anchor, mark);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Frame {
    rapidjson::Value value;
    YAML::anchor_t anchor;
    YAML::Mark mark;
    size_t cost = 1;
    std::optional<std::string> key;  // mappings: the key waiting for its value
    std::unordered_set<std::string> keys;
    bool records_item_lines = false;
  };
  struct Anchored {
    rapidjson::Value value;
    size_t cost;
  };

  bool ExpectingKey() const {
    return !frames_.empty() && frames_.back().value.IsObject() && !frames_.back().key.has_value();
  }

  void SetKey(std::string key, const YAML::Mark& mark) {
    Frame& frame = frames_.back();
    if (!frame.keys.insert(key).second) {
      throw Failure(mark, fmt::format("duplicate key \"{}\"", key));
    }
    frame.key = std::move(key);
  }

  void Spend(size_t cost, const YAML::Mark& mark) {
    if (cost > *budget_) {
      throw Failure(mark, "the manifest expands too much (anchors and aliases repeat too often)");
    }
    *budget_ -= cost;
  }

  void NoteStart(const YAML::Mark& mark) {
    if (frames_.empty()) {
      root_mark_ = mark;
    } else if (frames_.back().records_item_lines) {
      item_lines_.push_back(mark.line + 1);
    }
  }

  void Open(rapidjson::Type type, std::string_view what, YAML::anchor_t anchor,
            const YAML::Mark& mark) {
    if (ExpectingKey()) throw Failure(mark, fmt::format("a key must be a string, got {}", what));
    if (frames_.size() >= static_cast<size_t>(kMaxDepth)) {
      throw Failure(mark, fmt::format("nested deeper than {} levels", kMaxDepth));
    }
    Spend(1, mark);
    NoteStart(mark);
    const bool items = type == rapidjson::kArrayType && frames_.size() == 1 &&
                       frames_.back().key == std::optional<std::string>("items");
    frames_.push_back({.value = rapidjson::Value(type),
                       .anchor = anchor,
                       .mark = mark,
                       .cost = 1,
                       .key = {},
                       .keys = {},
                       .records_item_lines = items});
  }

  void Close() {
    Frame frame = std::move(frames_.back());
    frames_.pop_back();
    Place(std::move(frame.value), frame.cost, frame.anchor, frame.mark);
  }

  // A finished scalar (containers go through Open/Close).
  void Complete(rapidjson::Value value, size_t cost, YAML::anchor_t anchor,
                const YAML::Mark& mark) {
    NoteStart(mark);
    Place(std::move(value), cost, anchor, mark);
  }

  void Place(rapidjson::Value value, size_t cost, YAML::anchor_t anchor, const YAML::Mark& mark) {
    if (anchor != YAML::NullAnchor) {
      anchors_.insert_or_assign(anchor, Anchored{rapidjson::Value(value, *allocator_), cost});
    }
    if (frames_.empty()) {
      root_ = std::move(value);
      root_mark_ = mark;
      has_root_ = true;
      return;
    }
    Frame& parent = frames_.back();
    parent.cost += cost;
    if (parent.value.IsArray()) {
      parent.value.PushBack(value, *allocator_);
      return;
    }
    const std::string& key = *parent.key;
    parent.value.AddMember(
        rapidjson::Value(key.data(), static_cast<rapidjson::SizeType>(key.size()), *allocator_),
        value, *allocator_);
    parent.key.reset();
  }

  Allocator* allocator_;
  size_t* budget_;
  std::vector<Frame> frames_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  rapidjson::Value root_;
  YAML::Mark root_mark_;
  bool has_root_ = false;
  std::vector<int> item_lines_;
};

const char* TypeName(const rapidjson::Value& value) {
  if (value.IsArray()) return "a list";
  if (value.IsObject()) return "a mapping";
  if (value.IsNull()) return "null";
  return "a scalar";
}

std::string Located(std::string_view file_name, const YAML::Mark& mark, std::string_view reason) {
  if (mark.is_null()) return fmt::format("{}: {}", file_name, reason);
  return fmt::format("{}:{}:{}: {}", file_name, mark.line + 1, mark.column + 1, reason);
}

// `source_bytes`: the size of the text the object came from, a fair
// estimate of its tree's size.
ManifestDocument MakeDocument(const rapidjson::Value& object, int line, size_t source_bytes) {
  constexpr size_t kMinChunk = 1024;
  constexpr size_t kMaxChunk = 64 * 1024;
  ManifestDocument document;
  document.allocator = std::make_unique<rapidjson::MemoryPoolAllocator<>>(
      std::clamp(2 * source_bytes, kMinChunk, kMaxChunk));
  document.object.CopyFrom(object, *document.allocator);
  document.line = line;
  return document;
}

absl::StatusOr<std::vector<ManifestDocument>> Parse(std::string_view text,
                                                    std::string_view file_name) {
  std::istringstream input{std::string(text)};
  YAML::Parser parser(input);
  size_t budget = kExpansionAllowance + 4 * text.size();
  std::vector<ManifestDocument> documents;
  // yaml-cpp 0.7 can report empty documents forever at a spot it cannot get
  // past (e.g. a stray ','); real input never holds more documents than
  // bytes, and an empty one never starts where the previous one did.
  size_t document_count = 0;
  std::optional<int> last_empty_position;
  while (true) {
    rapidjson::Document scratch;
    JsonBuilder builder(&scratch.GetAllocator(), &budget);
    if (!parser.HandleNextDocument(builder)) break;
    const YAML::Mark& mark = builder.root_mark();
    if (++document_count > text.size() + 1 ||
        (builder.root().IsNull() && last_empty_position == mark.pos)) {
      const std::string_view at = mark.pos >= 0 && static_cast<size_t>(mark.pos) < text.size()
                                      ? text.substr(static_cast<size_t>(mark.pos), 1)
                                      : std::string_view();
      return absl::InvalidArgumentError(
          Located(file_name, mark, fmt::format("unexpected \"{}\"", SanitizeForMessage(at))));
    }
    if (!builder.has_root() || builder.root().IsNull()) {
      last_empty_position = mark.pos;
      continue;  // an empty document, e.g. after a trailing "---"
    }
    last_empty_position.reset();
    const rapidjson::Value& root = builder.root();
    if (!root.IsObject()) {
      return absl::InvalidArgumentError(
          Located(file_name, mark,
                  fmt::format("a document must be a mapping (an object), got {}", TypeName(root))));
    }
    const auto kind = root.FindMember("kind");
    if (kind == root.MemberEnd() || !kind->value.IsString() ||
        std::string_view(kind->value.GetString(), kind->value.GetStringLength()) != "List") {
      documents.push_back(MakeDocument(root, mark.line + 1, text.size()));
      continue;
    }
    // kubectl's List: its items are the documents.
    const auto items = root.FindMember("items");
    if (items == root.MemberEnd() || items->value.IsNull()) continue;
    if (!items->value.IsArray()) {
      return absl::InvalidArgumentError(
          Located(file_name, mark,
                  fmt::format("items of a List must be a list, got {}", TypeName(items->value))));
    }
    const std::vector<int>& lines = builder.item_lines();
    for (rapidjson::SizeType i = 0; i < items->value.Size(); ++i) {
      const int line = i < lines.size() ? lines[i] : mark.line + 1;
      if (!items->value[i].IsObject()) {
        return absl::InvalidArgumentError(
            fmt::format("{}:{}: an item of a List must be a mapping, got {}", file_name, line,
                        TypeName(items->value[i])));
      }
      documents.push_back(MakeDocument(items->value[i], line, text.size() / items->value.Size()));
    }
  }
  return documents;
}

}  // namespace

absl::StatusOr<std::vector<ManifestDocument>> ParseManifest(std::string_view text,
                                                            std::string_view file_name) {
  // yaml-cpp reports problems by exceptions, and so does JsonBuilder; none
  // leaves this function.
  try {
    return Parse(text, file_name);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(Located(file_name, e.mark, e.msg));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(fmt::format("{}: {}", file_name, e.what()));
  }
}

}  // namespace propsy::model
