#include "model/propsy_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "model/json_fields.h"
#include "model/validation_errors.h"

namespace propsy::model {
namespace {

using ScopedField = ValidationErrors::ScopedField;

constexpr int64_t kMaxPort = 65535;
constexpr int64_t kMaxTimeoutMs = 600000;
constexpr int64_t kMaxConnectTimeoutMs = 60000;

// Every field of spec (SPEC §2), including the accepted aliases.
constexpr std::array<std::string_view, 35> kSpecFields = {
    "service",
    "servicePort",
    "servicePortName",
    "listen",
    "nodes",
    "percent",
    "canaryService",
    "canaryPercent",
    "type",
    "pathPrefix",
    "path",
    "prefixRewrite",
    "timeout",
    "connectTimeout",
    "maxRequestsPerConnection",
    "tlsCertificateSecret",
    "healthCheckType",
    "healthCheckTimeout",
    "healthCheckInterval",
    "healthCheckHealthyTreshold",
    "healthCheckHealthyThreshold",
    "healthCheckUnhealthyTreshold",
    "healthCheckUnhealthyThreshold",
    "healthCheckReuseConnection",
    "healthCheckHTTPPath",
    "healthCheckHTTPHost",
    "healthCheckOutlierEnabled",
    "healthCheckOutlierConsecutiveErrors",
    "healthCheckOutlierConsecutiveGwErrors",
    "healthCheckOutlierInterval",
    "healthCheckOutlierEjectionTime",
    "healthCheckOutlierEjectionPercent",
    "healthCheckOutlierMinimumHosts",
    "healthCheckOutlierMinimumRequests",
    "disabled",
};

// Active health check fields that mean nothing without healthCheckType.
constexpr std::array<std::string_view, 9> kHealthCheckFields = {
    "healthCheckTimeout",          "healthCheckInterval",          "healthCheckHealthyTreshold",
    "healthCheckHealthyThreshold", "healthCheckUnhealthyTreshold", "healthCheckUnhealthyThreshold",
    "healthCheckReuseConnection",  "healthCheckHTTPPath",          "healthCheckHTTPHost",
};

std::string Field(std::string_view name) { return fmt::format(".{}", name); }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

// Case-insensitive edit distance; enough to suggest a field for a typo.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      const size_t substitution = diagonal + (Lower(a[i - 1]) == Lower(b[j - 1]) ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitution});
      diagonal = above;
    }
  }
  return row[b.size()];
}

void CheckUnknownFields(const rapidjson::Value& spec, ValidationErrors* errors) {
  // Suggestions cost an edit distance per known field: offered for the first
  // few unknown fields only, so a spec with thousands of them stays cheap.
  constexpr size_t kMaxSuggestions = 8;
  constexpr size_t kMaxSuggestedLength = 64;
  size_t unknown = 0;
  for (const auto& member : spec.GetObject()) {
    const std::string_view name = StringOf(member.name);
    if (std::find(kSpecFields.begin(), kSpecFields.end(), name) != kSpecFields.end()) continue;
    std::string suggestion;
    if (++unknown <= kMaxSuggestions && name.size() <= kMaxSuggestedLength) {
      size_t best = 3;  // suggest only close matches
      for (std::string_view known : kSpecFields) {
        // The distance is at least the difference in length.
        const size_t length_difference =
            name.size() > known.size() ? name.size() - known.size() : known.size() - name.size();
        if (length_difference >= best) continue;
        const size_t distance = EditDistance(name, known);
        if (distance < best) {
          best = distance;
          suggestion = fmt::format(" (did you mean \"{}\"?)", known);
        }
      }
    }
    ScopedField field(errors, Field(SanitizeForMessage(name)));
    errors->AddError(fmt::format("unknown field{}", suggestion));
  }
}

// Strings Envoy puts into paths and headers: no control characters.
bool HasControlCharacters(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

// A string field that must name a Kubernetes object.
std::optional<std::string> ReadObjectName(const rapidjson::Value& spec, std::string_view name,
                                          Presence presence, bool (*valid)(std::string_view),
                                          std::string_view what, ValidationErrors* errors) {
  std::optional<std::string> value = ReadString(spec, name, presence, errors);
  if (value.has_value() && !valid(*value)) {
    ScopedField field(errors, Field(name));
    errors->AddError(fmt::format("must be a {}, got \"{}\"", what, SanitizeForMessage(*value)));
    return std::nullopt;
  }
  return value;
}

// A string field that must be an HTTP path ("/...").
std::optional<std::string> ReadPath(const rapidjson::Value& spec, std::string_view name,
                                    ValidationErrors* errors) {
  std::optional<std::string> value = ReadString(spec, name, Presence::kOptional, errors);
  if (!value.has_value()) return std::nullopt;
  ScopedField field(errors, Field(name));
  if (value->empty() || value->front() != '/') {
    errors->AddError(fmt::format("must start with \"/\", got \"{}\"", SanitizeForMessage(*value)));
    return std::nullopt;
  }
  if (HasControlCharacters(*value)) {
    errors->AddError("must not contain control characters");
    return std::nullopt;
  }
  return value;
}

// Reads a field given under its name or an alias; both given and different
// is an error on the alias.
template <typename T, typename Reader>
std::optional<T> ReadAliased(const rapidjson::Value& spec, std::string_view name,
                             std::string_view alias, ValidationErrors* errors, Reader read) {
  std::optional<T> primary = read(name);
  std::optional<T> secondary = read(alias);
  if (primary.has_value() && secondary.has_value() && *primary != *secondary) {
    ScopedField field(errors, Field(alias));
    errors->AddError(fmt::format("conflicts with {} (give one of them)", name));
    return std::nullopt;
  }
  if (primary.has_value()) return primary;
  if (FindField(spec, name) != nullptr) return std::nullopt;  // present but invalid
  return secondary;
}

std::optional<uint32_t> ReadUint32(const rapidjson::Value& spec, std::string_view name,
                                   Presence presence, int64_t min, int64_t max,
                                   ValidationErrors* errors) {
  const std::optional<int64_t> value = ReadInt(spec, name, presence, min, max, errors);
  if (!value.has_value()) return std::nullopt;
  return static_cast<uint32_t>(*value);
}

std::optional<HealthCheckSpec> DecodeHealthCheck(const rapidjson::Value& spec,
                                                 ValidationErrors* errors) {
  auto read_threshold = [&](std::string_view name) {
    return ReadUint32(spec, name, Presence::kOptional, 1, kMaxUint32, errors);
  };
  HealthCheckSpec health;
  health.timeout_ms =
      ReadUint32(spec, "healthCheckTimeout", Presence::kOptional, 1, kMaxUint32, errors);
  health.interval_ms =
      ReadUint32(spec, "healthCheckInterval", Presence::kOptional, 1, kMaxUint32, errors);
  health.healthy_threshold = ReadAliased<uint32_t>(
      spec, "healthCheckHealthyTreshold", "healthCheckHealthyThreshold", errors, read_threshold);
  health.unhealthy_threshold =
      ReadAliased<uint32_t>(spec, "healthCheckUnhealthyTreshold", "healthCheckUnhealthyThreshold",
                            errors, read_threshold);
  health.reuse_connection =
      ReadBool(spec, "healthCheckReuseConnection", Presence::kOptional, errors).value_or(false);
  health.http_path = ReadPath(spec, "healthCheckHTTPPath", errors).value_or("");
  if (auto host = ReadString(spec, "healthCheckHTTPHost", Presence::kOptional, errors)) {
    if (HasControlCharacters(*host)) {
      ScopedField field(errors, ".healthCheckHTTPHost");
      errors->AddError("must not contain control characters");
    } else {
      health.http_host = std::move(*host);
    }
  }

  const std::optional<std::string> type =
      ReadString(spec, "healthCheckType", Presence::kOptional, errors);
  if (!type.has_value()) {
    if (FindField(spec, "healthCheckType") != nullptr) return std::nullopt;  // reported
    for (std::string_view name : kHealthCheckFields) {
      if (FindField(spec, name) == nullptr) continue;
      ScopedField field(errors, Field(name));
      errors->AddError("needs healthCheckType (HTTP, HTTP2, TCP or GRPC)");
    }
    return std::nullopt;
  }
  if (EqualsIgnoreCase(*type, "HTTP")) {
    health.type = HealthCheckType::kHttp;
  } else if (EqualsIgnoreCase(*type, "HTTP2")) {
    health.type = HealthCheckType::kHttp2;
  } else if (EqualsIgnoreCase(*type, "TCP")) {
    health.type = HealthCheckType::kTcp;
  } else if (EqualsIgnoreCase(*type, "GRPC")) {
    health.type = HealthCheckType::kGrpc;
  } else {
    ScopedField field(errors, ".healthCheckType");
    errors->AddError(
        fmt::format("must be HTTP, HTTP2, TCP or GRPC, got \"{}\"", SanitizeForMessage(*type)));
    return std::nullopt;
  }
  const bool http = health.type == HealthCheckType::kHttp || health.type == HealthCheckType::kHttp2;
  if (!http && FindField(spec, "healthCheckHTTPPath") != nullptr) {
    ScopedField field(errors, ".healthCheckHTTPPath");
    errors->AddError("only for HTTP and HTTP2 health checks");
  }
  if (health.type == HealthCheckType::kTcp && FindField(spec, "healthCheckHTTPHost") != nullptr) {
    ScopedField field(errors, ".healthCheckHTTPHost");
    errors->AddError("only for HTTP, HTTP2 and GRPC health checks");
  }
  return health;
}

std::optional<OutlierDetectionSpec> DecodeOutlierDetection(const rapidjson::Value& spec,
                                                           ValidationErrors* errors) {
  // Every field is validated even when detection is off, so a mistake shows
  // before someone turns it on.
  OutlierDetectionSpec outlier;
  outlier.consecutive_errors = ReadUint32(spec, "healthCheckOutlierConsecutiveErrors",
                                          Presence::kOptional, 0, kMaxUint32, errors);
  outlier.consecutive_gw_errors = ReadUint32(spec, "healthCheckOutlierConsecutiveGwErrors",
                                             Presence::kOptional, 0, kMaxUint32, errors);
  outlier.interval_ms =
      ReadUint32(spec, "healthCheckOutlierInterval", Presence::kOptional, 1, kMaxUint32, errors);
  outlier.ejection_time_ms = ReadUint32(spec, "healthCheckOutlierEjectionTime", Presence::kOptional,
                                        1, kMaxUint32, errors);
  outlier.ejection_percent =
      ReadUint32(spec, "healthCheckOutlierEjectionPercent", Presence::kOptional, 0, 100, errors);
  outlier.minimum_hosts = ReadUint32(spec, "healthCheckOutlierMinimumHosts", Presence::kOptional, 0,
                                     kMaxUint32, errors);
  outlier.minimum_requests = ReadUint32(spec, "healthCheckOutlierMinimumRequests",
                                        Presence::kOptional, 0, kMaxUint32, errors);
  const bool enabled =
      ReadBool(spec, "healthCheckOutlierEnabled", Presence::kOptional, errors).value_or(false);
  if (!enabled) return std::nullopt;
  return outlier;
}

std::vector<std::string> DecodeNodes(const rapidjson::Value& spec, ValidationErrors* errors) {
  std::vector<std::string> nodes;
  const rapidjson::Value* value = FindField(spec, "nodes");
  ScopedField field(errors, ".nodes");
  if (value == nullptr) {
    errors->AddError("missing (list the Envoy node ids, or \"*\" for every node)");
    return nodes;
  }
  if (!value->IsArray()) {
    errors->AddError(fmt::format("must be a list of strings, got {}", DescribeValue(*value)));
    return nodes;
  }
  if (value->Empty()) errors->AddError("must list at least one node id");
  for (rapidjson::SizeType i = 0; i < value->Size(); ++i) {
    const rapidjson::Value& node = (*value)[i];
    ScopedField index(errors, fmt::format("[{}]", i));
    if (!node.IsString() || node.GetStringLength() == 0) {
      errors->AddError(fmt::format("must be a non-empty string, got {}", DescribeValue(node)));
      continue;
    }
    nodes.emplace_back(StringOf(node));
  }
  return nodes;
}

ProPsyServiceSpec DecodeSpec(const rapidjson::Value& spec, ValidationErrors* errors) {
  CheckUnknownFields(spec, errors);
  ProPsyServiceSpec out;

  out.service = ReadObjectName(spec, "service", Presence::kRequired, IsDns1035Label,
                               "Service name (DNS-1035 label)", errors)
                    .value_or("");
  const std::optional<uint32_t> port =
      ReadUint32(spec, "servicePort", Presence::kOptional, 1, kMaxPort, errors);
  const std::optional<std::string> port_name =
      ReadObjectName(spec, "servicePortName", Presence::kOptional, IsDns1123Label,
                     "port name (DNS-1123 label)", errors);
  out.service_port = port.value_or(0);
  out.service_port_name = port_name.value_or("");
  if (FindField(spec, "servicePort") == nullptr && FindField(spec, "servicePortName") == nullptr) {
    ScopedField field(errors, ".servicePort");
    errors->AddError("missing (give servicePort or servicePortName)");
  }

  if (auto listen = ReadString(spec, "listen", Presence::kRequired, errors)) {
    absl::StatusOr<ListenAddress> address = ParseListenAddress(*listen);
    if (address.ok()) {
      out.listen = *std::move(address);
    } else {
      ScopedField field(errors, ".listen");
      errors->AddError(std::string(address.status().message()));
    }
  }

  out.nodes = DecodeNodes(spec, errors);
  out.percent = ReadUint32(spec, "percent", Presence::kRequired, 0, 100, errors).value_or(0);

  out.canary_service = ReadObjectName(spec, "canaryService", Presence::kOptional, IsDns1035Label,
                                      "Service name (DNS-1035 label)", errors)
                           .value_or("");
  out.canary_percent =
      ReadUint32(spec, "canaryPercent", Presence::kOptional, 0, 100, errors).value_or(0);
  if (FindField(spec, "canaryPercent") != nullptr && FindField(spec, "canaryService") == nullptr) {
    ScopedField field(errors, ".canaryPercent");
    errors->AddError("needs canaryService");
  }

  if (auto type = ReadString(spec, "type", Presence::kOptional, errors)) {
    if (EqualsIgnoreCase(*type, "HTTP")) {
      out.type = ServiceType::kHttp;
    } else if (EqualsIgnoreCase(*type, "TCP")) {
      out.type = ServiceType::kTcp;
    } else {
      ScopedField field(errors, ".type");
      errors->AddError(fmt::format("must be HTTP or TCP, got \"{}\"", SanitizeForMessage(*type)));
    }
  }

  std::optional<std::string> path_prefix =
      ReadAliased<std::string>(spec, "pathPrefix", "path", errors,
                               [&](std::string_view name) { return ReadPath(spec, name, errors); });
  if (path_prefix.has_value()) out.path_prefix = std::move(*path_prefix);
  if (auto rewrite = ReadString(spec, "prefixRewrite", Presence::kOptional, errors)) {
    if (HasControlCharacters(*rewrite)) {
      ScopedField field(errors, ".prefixRewrite");
      errors->AddError("must not contain control characters");
    } else {
      out.prefix_rewrite = std::move(*rewrite);
    }
  }
  if (out.type == ServiceType::kTcp) {
    for (std::string_view name : {"pathPrefix", "path", "prefixRewrite"}) {
      const rapidjson::Value* value = FindField(spec, name);
      // The default "/" is harmless on a TCP service.
      if (value == nullptr ||
          (name != "prefixRewrite" && value->IsString() && StringOf(*value) == "/")) {
        continue;
      }
      ScopedField field(errors, Field(name));
      errors->AddError("only for HTTP services (type is TCP)");
    }
  }

  out.timeout_ms = ReadUint32(spec, "timeout", Presence::kOptional, 1, kMaxTimeoutMs, errors);
  out.connect_timeout_ms =
      ReadUint32(spec, "connectTimeout", Presence::kOptional, 1, kMaxConnectTimeoutMs, errors);
  if (!out.connect_timeout_ms.has_value() && out.timeout_ms.has_value() &&
      FindField(spec, "connectTimeout") == nullptr) {
    out.connect_timeout_ms =
        std::min<uint32_t>(*out.timeout_ms, static_cast<uint32_t>(kMaxConnectTimeoutMs));
  }
  out.max_requests_per_connection =
      ReadUint32(spec, "maxRequestsPerConnection", Presence::kOptional, 0, kMaxUint32, errors)
          .value_or(0);
  out.tls_certificate_secret =
      ReadObjectName(spec, "tlsCertificateSecret", Presence::kOptional, IsDns1123Subdomain,
                     "Secret name (DNS-1123 subdomain)", errors)
          .value_or("");

  out.health_check = DecodeHealthCheck(spec, errors);
  out.outlier_detection = DecodeOutlierDetection(spec, errors);
  out.disabled = ReadBool(spec, "disabled", Presence::kOptional, errors).value_or(false);
  return out;
}

}  // namespace

absl::StatusOr<ProPsyService> DecodeProPsyService(const rapidjson::Value& object) {
  ValidationErrors errors;
  if (!object.IsObject()) {
    errors.AddError(fmt::format("must be an object, got {}", DescribeValue(object)));
    return errors.status();
  }
  ProPsyService service;
  CheckTypeMeta(object, kProPsyApiVersion, kProPsyKind, Presence::kRequired, &errors);
  service.meta = DecodeObjectMeta(object, &errors);
  const rapidjson::Value* spec = FindField(object, "spec");
  if (spec == nullptr) {
    ScopedField field(&errors, "spec");
    errors.AddError("missing");
  } else if (!spec->IsObject()) {
    ScopedField field(&errors, "spec");
    errors.AddError(fmt::format("must be an object, got {}", DescribeValue(*spec)));
  } else {
    ScopedField field(&errors, "spec");
    service.spec = DecodeSpec(*spec, &errors);
  }
  if (!errors.ok()) return errors.status();
  return service;
}

}  // namespace propsy::model
