#pragma once

// Helpers the decoders share for reading Kubernetes JSON trees: typed field
// readers that report problems to a ValidationErrors under the field's path,
// and metadata decoding. JSON null counts as absent everywhere, as the API
// server prunes nulls from objects with a structural schema.

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/object_meta.h"
#include "model/validation_errors.h"

namespace propsy::model {

// Largest value of the uint32 fields of the model.
inline constexpr int64_t kMaxUint32 = 4294967295;

enum class Presence { kOptional, kRequired };

// Text of a string value (may hold NUL bytes). Precondition: value.IsString().
inline std::string_view StringOf(const rapidjson::Value& value) {
  return {value.GetString(), value.GetStringLength()};
}

// `text` made safe to quote in a message: printable ASCII is kept, anything
// else is escaped as \xNN, and long text is cut short.
std::string SanitizeForMessage(std::string_view text, size_t max_length = 64);

// What a value is, for messages: "\"80\"", "1.5", "true", "null", "a list",
// "an object".
std::string DescribeValue(const rapidjson::Value& value);

// The member `name` of `object`, or nullptr when `object` is not an object,
// the member is absent, or it is null.
const rapidjson::Value* FindField(const rapidjson::Value& object, std::string_view name);

// Typed readers: each looks up `name` in `object` and, on a problem, records
// it under ".name". Absent (or null) gives nullopt, and an error "missing"
// when `presence` is kRequired. A value of the wrong type gives nullopt and
// an error naming the bad value.
std::optional<std::string> ReadString(const rapidjson::Value& object, std::string_view name,
                                      Presence presence, ValidationErrors* errors);
std::optional<bool> ReadBool(const rapidjson::Value& object, std::string_view name,
                             Presence presence, ValidationErrors* errors);
// Integers: JSON integers, or numbers without a fraction (80.0); strings,
// fractions and values outside [min, max] are errors.
std::optional<int64_t> ReadInt(const rapidjson::Value& object, std::string_view name,
                               Presence presence, int64_t min, int64_t max,
                               ValidationErrors* errors);

// The same checks for a value already found (the current path names it).
std::optional<int64_t> IntValue(const rapidjson::Value& value, int64_t min, int64_t max,
                                ValidationErrors* errors);

// Checks apiVersion and kind. With kOptional, absent ones are accepted: items
// of a list of a built-in kind come without them.
void CheckTypeMeta(const rapidjson::Value& object, std::string_view api_version,
                   std::string_view kind, Presence presence, ValidationErrors* errors);

// Decodes `metadata` (name required; namespace defaults to "default", as
// objects in manifest files usually leave it out; labels must be strings).
ObjectMeta DecodeObjectMeta(const rapidjson::Value& object, ValidationErrors* errors);

// Namespace and name of an object that may be invalid otherwise; nullopt when
// even those cannot be read. Same defaulting as DecodeObjectMeta.
std::optional<ObjectKey> ReadObjectKey(const rapidjson::Value& object);

// DNS-1035 label (a Service name): lowercase letters, digits and '-', starts
// with a letter, ends with a letter or digit, at most 63 characters.
bool IsDns1035Label(std::string_view text);
// DNS-1123 label: as DNS-1035 but may start with a digit.
bool IsDns1123Label(std::string_view text);
// DNS-1123 subdomain (a Secret name): dot-separated DNS-1123 labels, at most
// 253 characters.
bool IsDns1123Subdomain(std::string_view text);

}  // namespace propsy::model
