#include "translate/proto_validation.h"

#include <fmt/format.h>
#include <google/protobuf/any.pb.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/wrappers.pb.h>

#include <memory>
#include <string_view>

#include "validate/validate.pb.h"

namespace propsy::translate::test {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr std::string_view kTypePrefix = "type.googleapis.com/";

class Validator {
 public:
  std::vector<std::string> errors;

  void Check(const Message& message, const std::string& path) {
    const Descriptor* descriptor = message.GetDescriptor();
    if (descriptor->full_name() == "google.protobuf.Any") {
      CheckAny(static_cast<const google::protobuf::Any&>(message), path);
      return;
    }
    const Reflection* reflection = message.GetReflection();
    for (int i = 0; i < descriptor->oneof_decl_count(); ++i) {
      const auto* oneof = descriptor->oneof_decl(i);
      if (oneof->options().GetExtension(validate::required) &&
          !reflection->HasOneof(message, oneof)) {
        Error(path + "." + oneof->name(), "one of its fields is required");
      }
    }
    for (int i = 0; i < descriptor->field_count(); ++i) {
      const FieldDescriptor* field = descriptor->field(i);
      CheckField(message, field, path + "." + field->name());
    }
  }

 private:
  void Error(const std::string& path, const std::string& what) {
    errors.push_back(fmt::format("{}: {}", path, what));
  }

  void CheckAny(const google::protobuf::Any& any, const std::string& path) {
    std::string_view url = any.type_url();
    if (url.substr(0, kTypePrefix.size()) != kTypePrefix) {
      Error(path, fmt::format("type URL {} lacks {}", url, kTypePrefix));
      return;
    }
    const std::string type(url.substr(kTypePrefix.size()));
    const Descriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type);
    if (descriptor == nullptr) {
      Error(path, "unknown type " + type);
      return;
    }
    std::unique_ptr<Message> inner(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
    if (!inner->ParseFromString(any.value())) {
      Error(path, "value does not parse as " + type);
      return;
    }
    Check(*inner, path + "<" + type + ">");
  }

  void CheckField(const Message& message, const FieldDescriptor* field, const std::string& path) {
    const Reflection* reflection = message.GetReflection();
    const validate::FieldRules& rules = field->options().GetExtension(validate::rules);
    if (field->is_repeated()) {
      const int size = reflection->FieldSize(message, field);
      if (rules.has_repeated() && rules.repeated().has_min_items() &&
          static_cast<uint64_t>(size) < rules.repeated().min_items() &&
          !(rules.repeated().ignore_empty() && size == 0)) {
        Error(path, fmt::format("needs at least {} items", rules.repeated().min_items()));
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        for (int i = 0; i < size; ++i) {
          Check(reflection->GetRepeatedMessage(message, field, i), fmt::format("{}[{}]", path, i));
        }
      }
      return;
    }
    // Rules of a oneof member apply only when it is the one set.
    if (field->real_containing_oneof() != nullptr && !reflection->HasField(message, field)) return;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        const bool set = reflection->HasField(message, field);
        if (!set) {
          if (rules.message().required() || (rules.has_duration() && rules.duration().required())) {
            Error(path, "is required");
          }
          return;
        }
        const Message& value = reflection->GetMessage(message, field);
        CheckMessageValue(value, rules, path);
        Check(value, path);
        return;
      }
      case FieldDescriptor::CPPTYPE_STRING: {
        if (!rules.has_string()) return;
        const std::string value = reflection->GetString(message, field);
        const auto& s = rules.string();
        if (s.ignore_empty() && value.empty()) return;
        if (s.has_min_len() && value.size() < s.min_len()) Error(path, "is too short");
        if (s.has_min_bytes() && value.size() < s.min_bytes()) Error(path, "is too short");
        if (s.has_max_bytes() && value.size() > s.max_bytes()) Error(path, "is too long");
        return;
      }
      case FieldDescriptor::CPPTYPE_UINT32:
        if (rules.has_uint32())
          CheckUint(reflection->GetUInt32(message, field), rules.uint32(), path);
        return;
      case FieldDescriptor::CPPTYPE_ENUM:
        if (rules.enum_().defined_only() &&
            field->enum_type()->FindValueByNumber(reflection->GetEnumValue(message, field)) ==
                nullptr) {
          Error(path, "is not a defined enum value");
        }
        return;
      default:
        return;
    }
  }

  // Rules on wrapper and Duration messages apply to the value they carry.
  void CheckMessageValue(const Message& value, const validate::FieldRules& rules,
                         const std::string& path) {
    const std::string& type = value.GetDescriptor()->full_name();
    if (type == "google.protobuf.UInt32Value" && rules.has_uint32()) {
      CheckUint(static_cast<const google::protobuf::UInt32Value&>(value).value(), rules.uint32(),
                path);
    } else if (type == "google.protobuf.Duration" && rules.has_duration()) {
      const auto& d = static_cast<const google::protobuf::Duration&>(value);
      const int64_t nanos = d.seconds() * 1000000000 + d.nanos();
      auto to_nanos = [](const google::protobuf::Duration& bound) {
        return bound.seconds() * 1000000000 + bound.nanos();
      };
      const auto& r = rules.duration();
      if (r.has_gt() && !(nanos > to_nanos(r.gt()))) Error(path, "is too short");
      if (r.has_gte() && !(nanos >= to_nanos(r.gte()))) Error(path, "is too short");
      if (r.has_lt() && !(nanos < to_nanos(r.lt()))) Error(path, "is too long");
      if (r.has_lte() && !(nanos <= to_nanos(r.lte()))) Error(path, "is too long");
    }
  }

  void CheckUint(uint32_t value, const validate::UInt32Rules& r, const std::string& path) {
    if (r.has_gt() && !(value > r.gt())) Error(path, fmt::format("{} is not > {}", value, r.gt()));
    if (r.has_gte() && !(value >= r.gte()))
      Error(path, fmt::format("{} is not >= {}", value, r.gte()));
    if (r.has_lt() && !(value < r.lt())) Error(path, fmt::format("{} is not < {}", value, r.lt()));
    if (r.has_lte() && !(value <= r.lte()))
      Error(path, fmt::format("{} is not <= {}", value, r.lte()));
  }
};

}  // namespace

std::vector<std::string> ValidationErrors(const google::protobuf::Message& message) {
  Validator validator;
  validator.Check(message, message.GetDescriptor()->name());
  return std::move(validator.errors);
}

}  // namespace propsy::translate::test
