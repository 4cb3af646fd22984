#include "model/endpoints.h"

#include <fmt/format.h>

#include "model/ip_address.h"
#include "model/json_fields.h"
#include "model/validation_errors.h"

namespace propsy::model {
namespace {

using ScopedField = ValidationErrors::ScopedField;

constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";

// Validates one address of a slice of `type`; nullopt (reported) when bad.
std::optional<std::string> DecodeAddress(const rapidjson::Value& value, AddressType type,
                                         ValidationErrors* errors) {
  if (!value.IsString() || value.GetStringLength() == 0) {
    errors->AddError(fmt::format("must be a non-empty string, got {}", DescribeValue(value)));
    return std::nullopt;
  }
  const std::string_view text = StringOf(value);
  switch (type) {
    case AddressType::kFqdn:
      return std::string(text);
    case AddressType::kIpv4:
      if (auto ip = CanonicalIpv4(text)) return ip;
      errors->AddError(fmt::format("not an IPv4 address: \"{}\"", SanitizeForMessage(text)));
      return std::nullopt;
    case AddressType::kIpv6:
      if (auto ip = CanonicalIpv6(text)) return ip;
      errors->AddError(fmt::format("not an IPv6 address: \"{}\"", SanitizeForMessage(text)));
      return std::nullopt;
  }
  return std::nullopt;
}

// The array at `name`, or nullptr when absent (reported when not a list).
const rapidjson::Value* FindList(const rapidjson::Value& object, std::string_view name,
                                 ValidationErrors* errors) {
  const rapidjson::Value* value = FindField(object, name);
  if (value == nullptr || value->IsArray()) return value;
  ScopedField field(errors, fmt::format(".{}", name));
  errors->AddError(fmt::format("must be a list, got {}", DescribeValue(*value)));
  return nullptr;
}

// ports[] of a slice or a subset. An entry without a port means "all ports"
// in Kubernetes, which no PPS can select: it is skipped.
std::vector<EndpointPort> DecodePorts(const rapidjson::Value& object, ValidationErrors* errors) {
  std::vector<EndpointPort> ports;
  const rapidjson::Value* list = FindList(object, "ports", errors);
  if (list == nullptr) return ports;
  ScopedField field(errors, ".ports");
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    ScopedField index(errors, fmt::format("[{}]", i));
    const rapidjson::Value& entry = (*list)[i];
    if (!entry.IsObject()) {
      errors->AddError(fmt::format("must be an object, got {}", DescribeValue(entry)));
      continue;
    }
    std::optional<std::string> name = ReadString(entry, "name", Presence::kOptional, errors);
    std::optional<int64_t> port = ReadInt(entry, "port", Presence::kOptional, 1, 65535, errors);
    if (!port.has_value()) continue;
    ports.push_back({.name = name.value_or(""), .port = static_cast<uint32_t>(*port)});
  }
  return ports;
}

std::optional<AddressType> DecodeAddressType(const rapidjson::Value& object,
                                             ValidationErrors* errors) {
  const std::optional<std::string> text =
      ReadString(object, "addressType", Presence::kRequired, errors);
  if (!text.has_value()) return std::nullopt;
  if (*text == "IPv4") return AddressType::kIpv4;
  if (*text == "IPv6") return AddressType::kIpv6;
  if (*text == "FQDN") return AddressType::kFqdn;
  ScopedField field(errors, ".addressType");
  errors->AddError(
      fmt::format("must be IPv4, IPv6 or FQDN, got \"{}\"", SanitizeForMessage(*text)));
  return std::nullopt;
}

std::optional<EndpointEntry> DecodeEndpoint(const rapidjson::Value& entry, AddressType type,
                                            ValidationErrors* errors) {
  if (!entry.IsObject()) {
    errors->AddError(fmt::format("must be an object, got {}", DescribeValue(entry)));
    return std::nullopt;
  }
  EndpointEntry endpoint;
  {
    const rapidjson::Value* addresses = FindField(entry, "addresses");
    ScopedField field(errors, ".addresses");
    if (addresses == nullptr) {
      errors->AddError("missing");
    } else if (!addresses->IsArray()) {
      errors->AddError(fmt::format("must be a list, got {}", DescribeValue(*addresses)));
    } else if (addresses->Empty()) {
      errors->AddError("must list at least one address");
    } else {
      for (rapidjson::SizeType i = 0; i < addresses->Size(); ++i) {
        ScopedField index(errors, fmt::format("[{}]", i));
        if (auto address = DecodeAddress((*addresses)[i], type, errors)) {
          endpoint.addresses.push_back(std::move(*address));
        }
      }
    }
  }
  if (const rapidjson::Value* conditions = FindField(entry, "conditions")) {
    ScopedField field(errors, ".conditions");
    if (!conditions->IsObject()) {
      errors->AddError(fmt::format("must be an object, got {}", DescribeValue(*conditions)));
    } else {
      endpoint.ready = ReadBool(*conditions, "ready", Presence::kOptional, errors).value_or(true);
      endpoint.serving =
          ReadBool(*conditions, "serving", Presence::kOptional, errors).value_or(endpoint.ready);
      endpoint.terminating =
          ReadBool(*conditions, "terminating", Presence::kOptional, errors).value_or(false);
    }
  }
  endpoint.zone = ReadString(entry, "zone", Presence::kOptional, errors).value_or("");
  return endpoint;
}

}  // namespace

absl::StatusOr<EndpointSlice> DecodeEndpointSlice(const rapidjson::Value& object) {
  ValidationErrors errors;
  if (!object.IsObject()) {
    errors.AddError(fmt::format("must be an object, got {}", DescribeValue(object)));
    return errors.status();
  }
  EndpointSlice slice;
  CheckTypeMeta(object, "discovery.k8s.io/v1", "EndpointSlice", Presence::kOptional, &errors);
  slice.meta = DecodeObjectMeta(object, &errors);
  if (const auto it = slice.meta.labels.find(kServiceNameLabel); it != slice.meta.labels.end()) {
    slice.service_name = it->second;
  }
  if (slice.service_name.empty()) {
    // A label of the wrong type was reported by DecodeObjectMeta already.
    const rapidjson::Value* labels = FindField(object, "metadata");
    if (labels != nullptr) labels = FindField(*labels, "labels");
    const rapidjson::Value* label =
        labels == nullptr ? nullptr : FindField(*labels, kServiceNameLabel);
    if (label == nullptr || label->IsString()) {
      ScopedField field(&errors, fmt::format("metadata.labels[{}]", kServiceNameLabel));
      errors.AddError(label == nullptr ? "missing (the slice cannot be attributed to a Service)"
                                       : "must not be empty");
    }
  }
  const std::optional<AddressType> type = DecodeAddressType(object, &errors);
  if (type.has_value()) slice.address_type = *type;
  slice.ports = DecodePorts(object, &errors);
  if (const rapidjson::Value* endpoints = FindList(object, "endpoints", &errors);
      endpoints != nullptr && type.has_value()) {
    ScopedField field(&errors, ".endpoints");
    for (rapidjson::SizeType i = 0; i < endpoints->Size(); ++i) {
      ScopedField index(&errors, fmt::format("[{}]", i));
      if (auto endpoint = DecodeEndpoint((*endpoints)[i], *type, &errors)) {
        slice.endpoints.push_back(std::move(*endpoint));
      }
    }
  }
  if (!errors.ok()) return errors.status();
  return slice;
}

namespace {

// addresses[] or notReadyAddresses[] of a subset, appended to the slice of
// the address's family.
void DecodeSubsetAddresses(const rapidjson::Value& subset, std::string_view name, bool ready,
                           EndpointSlice* ipv4, EndpointSlice* ipv6, ValidationErrors* errors) {
  const rapidjson::Value* list = FindList(subset, name, errors);
  if (list == nullptr) return;
  ScopedField field(errors, fmt::format(".{}", name));
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    ScopedField index(errors, fmt::format("[{}]", i));
    const rapidjson::Value& entry = (*list)[i];
    if (!entry.IsObject()) {
      errors->AddError(fmt::format("must be an object, got {}", DescribeValue(entry)));
      continue;
    }
    const std::optional<std::string> ip = ReadString(entry, "ip", Presence::kRequired, errors);
    if (!ip.has_value()) continue;
    EndpointEntry endpoint{
        .addresses = {}, .ready = ready, .serving = ready, .terminating = false, .zone = ""};
    if (auto v4 = CanonicalIpv4(*ip)) {
      endpoint.addresses.push_back(std::move(*v4));
      ipv4->endpoints.push_back(std::move(endpoint));
    } else if (auto v6 = CanonicalIpv6(*ip)) {
      endpoint.addresses.push_back(std::move(*v6));
      ipv6->endpoints.push_back(std::move(endpoint));
    } else {
      ScopedField ip_field(errors, ".ip");
      errors->AddError(fmt::format("not an IP address: \"{}\"", SanitizeForMessage(*ip)));
    }
  }
}

}  // namespace

absl::StatusOr<std::vector<EndpointSlice>> DecodeCoreEndpoints(const rapidjson::Value& object) {
  ValidationErrors errors;
  if (!object.IsObject()) {
    errors.AddError(fmt::format("must be an object, got {}", DescribeValue(object)));
    return errors.status();
  }
  CheckTypeMeta(object, "v1", "Endpoints", Presence::kOptional, &errors);
  const ObjectMeta meta = DecodeObjectMeta(object, &errors);
  std::vector<EndpointSlice> slices;
  if (const rapidjson::Value* subsets = FindList(object, "subsets", &errors)) {
    ScopedField field(&errors, ".subsets");
    for (rapidjson::SizeType i = 0; i < subsets->Size(); ++i) {
      ScopedField index(&errors, fmt::format("[{}]", i));
      const rapidjson::Value& subset = (*subsets)[i];
      if (!subset.IsObject()) {
        errors.AddError(fmt::format("must be an object, got {}", DescribeValue(subset)));
        continue;
      }
      EndpointSlice ipv4{.meta = meta,
                         .service_name = meta.key.name,
                         .address_type = AddressType::kIpv4,
                         .ports = DecodePorts(subset, &errors),
                         .endpoints = {},
                         .from_core_endpoints = true};
      EndpointSlice ipv6 = ipv4;
      ipv6.address_type = AddressType::kIpv6;
      DecodeSubsetAddresses(subset, "addresses", true, &ipv4, &ipv6, &errors);
      DecodeSubsetAddresses(subset, "notReadyAddresses", false, &ipv4, &ipv6, &errors);
      if (!ipv4.endpoints.empty()) slices.push_back(std::move(ipv4));
      if (!ipv6.endpoints.empty()) slices.push_back(std::move(ipv6));
    }
  }
  if (!errors.ok()) return errors.status();
  return slices;
}

}  // namespace propsy::model
