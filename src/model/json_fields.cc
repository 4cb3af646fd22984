#include "model/json_fields.h"

#include <fmt/format.h>

#include <cmath>

namespace propsy::model {
namespace {

// Doubles with a magnitude up to 2^53 hold every integer exactly.
constexpr double kMaxExactDouble = 9007199254740992.0;

constexpr char kDefaultNamespace[] = "default";

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

std::string RangeMessage(int64_t min, int64_t max, std::string_view got) {
  if (max == INT64_MAX) return fmt::format("must be at least {}, got {}", min, got);
  return fmt::format("must be between {} and {}, got {}", min, max, got);
}

}  // namespace

std::string SanitizeForMessage(std::string_view text, size_t max_length) {
  std::string out;
  const bool cut = text.size() > max_length;
  if (cut) text = text.substr(0, max_length);
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", byte);
    }
  }
  if (cut) out += "...";
  return out;
}

std::string DescribeValue(const rapidjson::Value& value) {
  switch (value.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
      return "false";
    case rapidjson::kTrueType:
      return "true";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "a list";
    case rapidjson::kStringType:
      return fmt::format("\"{}\"", SanitizeForMessage(StringOf(value)));
    case rapidjson::kNumberType:
      if (value.IsInt64()) return fmt::format("{}", value.GetInt64());
      if (value.IsUint64()) return fmt::format("{}", value.GetUint64());
      return fmt::format("{}", value.GetDouble());
  }
  return "a value";
}

const rapidjson::Value* FindField(const rapidjson::Value& object, std::string_view name) {
  if (!object.IsObject()) return nullptr;
  // StringRef with a length: names are compared whole, not up to a NUL.
  const auto it = object.FindMember(rapidjson::Value(
      rapidjson::StringRef(name.data(), static_cast<rapidjson::SizeType>(name.size()))));
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

namespace {

// Looks up `name`; reports "missing" for a required absent field.
const rapidjson::Value* Lookup(const rapidjson::Value& object, std::string_view name,
                               Presence presence, ValidationErrors* errors) {
  const rapidjson::Value* value = FindField(object, name);
  if (value == nullptr && presence == Presence::kRequired) {
    ValidationErrors::ScopedField field(errors, fmt::format(".{}", name));
    errors->AddError("missing");
  }
  return value;
}

}  // namespace

std::optional<std::string> ReadString(const rapidjson::Value& object, std::string_view name,
                                      Presence presence, ValidationErrors* errors) {
  const rapidjson::Value* value = Lookup(object, name, presence, errors);
  if (value == nullptr) return std::nullopt;
  if (!value->IsString()) {
    ValidationErrors::ScopedField field(errors, fmt::format(".{}", name));
    errors->AddError(fmt::format("must be a string, got {}", DescribeValue(*value)));
    return std::nullopt;
  }
  return std::string(StringOf(*value));
}

std::optional<bool> ReadBool(const rapidjson::Value& object, std::string_view name,
                             Presence presence, ValidationErrors* errors) {
  const rapidjson::Value* value = Lookup(object, name, presence, errors);
  if (value == nullptr) return std::nullopt;
  if (!value->IsBool()) {
    ValidationErrors::ScopedField field(errors, fmt::format(".{}", name));
    errors->AddError(fmt::format("must be true or false, got {}", DescribeValue(*value)));
    return std::nullopt;
  }
  return value->GetBool();
}

std::optional<int64_t> IntValue(const rapidjson::Value& value, int64_t min, int64_t max,
                                ValidationErrors* errors) {
  if (!value.IsNumber()) {
    errors->AddError(fmt::format("must be an integer, got {}", DescribeValue(value)));
    return std::nullopt;
  }
  int64_t number = 0;
  if (value.IsInt64()) {
    number = value.GetInt64();
  } else if (value.IsUint64()) {
    // Beyond int64: beyond every range the model uses.
    errors->AddError(RangeMessage(min, max, DescribeValue(value)));
    return std::nullopt;
  } else {
    const double d = value.GetDouble();
    if (!std::isfinite(d) || std::trunc(d) != d) {
      errors->AddError(fmt::format("must be an integer, got {}", DescribeValue(value)));
      return std::nullopt;
    }
    if (std::fabs(d) > kMaxExactDouble) {
      errors->AddError(RangeMessage(min, max, DescribeValue(value)));
      return std::nullopt;
    }
    number = static_cast<int64_t>(d);
  }
  if (number < min || number > max) {
    errors->AddError(RangeMessage(min, max, fmt::format("{}", number)));
    return std::nullopt;
  }
  return number;
}

std::optional<int64_t> ReadInt(const rapidjson::Value& object, std::string_view name,
                               Presence presence, int64_t min, int64_t max,
                               ValidationErrors* errors) {
  const rapidjson::Value* value = Lookup(object, name, presence, errors);
  if (value == nullptr) return std::nullopt;
  ValidationErrors::ScopedField field(errors, fmt::format(".{}", name));
  return IntValue(*value, min, max, errors);
}

void CheckTypeMeta(const rapidjson::Value& object, std::string_view api_version,
                   std::string_view kind, Presence presence, ValidationErrors* errors) {
  const std::optional<std::string> got_version = ReadString(object, "apiVersion", presence, errors);
  if (got_version.has_value() && *got_version != api_version) {
    ValidationErrors::ScopedField field(errors, ".apiVersion");
    errors->AddError(
        fmt::format("must be {}, got \"{}\"", api_version, SanitizeForMessage(*got_version)));
  }
  const std::optional<std::string> got_kind = ReadString(object, "kind", presence, errors);
  if (got_kind.has_value() && *got_kind != kind) {
    ValidationErrors::ScopedField field(errors, ".kind");
    errors->AddError(fmt::format("must be {}, got \"{}\"", kind, SanitizeForMessage(*got_kind)));
  }
}

ObjectMeta DecodeObjectMeta(const rapidjson::Value& object, ValidationErrors* errors) {
  ObjectMeta meta;
  const rapidjson::Value* metadata = Lookup(object, "metadata", Presence::kRequired, errors);
  if (metadata == nullptr) return meta;
  ValidationErrors::ScopedField field(errors, ".metadata");
  if (!metadata->IsObject()) {
    errors->AddError(fmt::format("must be an object, got {}", DescribeValue(*metadata)));
    return meta;
  }
  if (auto name = ReadString(*metadata, "name", Presence::kRequired, errors)) {
    if (name->empty()) {
      ValidationErrors::ScopedField name_field(errors, ".name");
      errors->AddError("must not be empty");
    }
    meta.key.name = std::move(*name);
  }
  meta.key.namespace_name = kDefaultNamespace;
  if (auto ns = ReadString(*metadata, "namespace", Presence::kOptional, errors)) {
    if (!ns->empty()) meta.key.namespace_name = std::move(*ns);
  }
  meta.uid = ReadString(*metadata, "uid", Presence::kOptional, errors).value_or("");
  meta.resource_version =
      ReadString(*metadata, "resourceVersion", Presence::kOptional, errors).value_or("");
  meta.creation_timestamp =
      ReadString(*metadata, "creationTimestamp", Presence::kOptional, errors).value_or("");
  meta.generation =
      ReadInt(*metadata, "generation", Presence::kOptional, 0, INT64_MAX, errors).value_or(0);
  if (const rapidjson::Value* labels = FindField(*metadata, "labels")) {
    ValidationErrors::ScopedField labels_field(errors, ".labels");
    if (!labels->IsObject()) {
      errors->AddError(fmt::format("must be an object, got {}", DescribeValue(*labels)));
    } else {
      for (const auto& member : labels->GetObject()) {
        const std::string key(StringOf(member.name));
        if (!member.value.IsString()) {
          ValidationErrors::ScopedField label(errors, fmt::format("[{}]", SanitizeForMessage(key)));
          errors->AddError(fmt::format("must be a string, got {}", DescribeValue(member.value)));
          continue;
        }
        meta.labels[key] = std::string(StringOf(member.value));
      }
    }
  }
  return meta;
}

std::optional<ObjectKey> ReadObjectKey(const rapidjson::Value& object) {
  const rapidjson::Value* metadata = FindField(object, "metadata");
  if (metadata == nullptr) return std::nullopt;
  const rapidjson::Value* name = FindField(*metadata, "name");
  if (name == nullptr || !name->IsString() || name->GetStringLength() == 0) return std::nullopt;
  ObjectKey key{.namespace_name = kDefaultNamespace, .name = std::string(StringOf(*name))};
  if (const rapidjson::Value* ns = FindField(*metadata, "namespace")) {
    if (!ns->IsString()) return std::nullopt;
    if (ns->GetStringLength() > 0) key.namespace_name = std::string(StringOf(*ns));
  }
  return key;
}

bool IsDns1123Label(std::string_view text) {
  if (text.empty() || text.size() > 63) return false;
  if (!IsLowerAlnum(text.front()) || !IsLowerAlnum(text.back())) return false;
  for (char c : text) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

bool IsDns1035Label(std::string_view text) {
  return IsDns1123Label(text) && text.front() >= 'a' && text.front() <= 'z';
}

bool IsDns1123Subdomain(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = text.find('.', start);
    const std::string_view label =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!IsDns1123Label(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace propsy::model
