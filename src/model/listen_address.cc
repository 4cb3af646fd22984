#include "model/listen_address.h"

#include <fmt/format.h>

#include <charconv>

#include "model/ip_address.h"
#include "model/json_fields.h"

namespace propsy::model {
namespace {

constexpr char kAnyIpv4[] = "0.0.0.0";

absl::Status Invalid(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      fmt::format("listen address \"{}\": {}", SanitizeForMessage(text), why));
}

// Digits only, 1..65535.
std::optional<uint32_t> ParsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  uint32_t port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

}  // namespace

std::string ListenAddress::ToString() const {
  if (IsIpv6()) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

bool ListenAddress::IsIpv6() const { return host.find(':') != std::string::npos; }

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text) {
  if (text.empty()) return Invalid(text, "empty");
  std::string_view host_text;
  std::string_view port_text;
  bool bracketed = false;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return Invalid(text, "missing ']' after an IPv6 address");
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return Invalid(text, "missing :PORT after the IPv6 address");
    }
    host_text = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    bracketed = true;
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      port_text = text;  // a bare PORT
    } else {
      host_text = text.substr(0, colon);
      port_text = text.substr(colon + 1);
      if (host_text.find(':') != std::string_view::npos) {
        return Invalid(text, "IPv6 addresses need brackets, as in [::1]:8080");
      }
    }
  }

  const std::optional<uint32_t> port = ParsePort(port_text);
  if (!port.has_value()) {
    return Invalid(text, fmt::format("port must be a number between 1 and 65535, got \"{}\"",
                                     SanitizeForMessage(port_text)));
  }

  ListenAddress address;
  address.port = *port;
  if (bracketed) {
    std::optional<std::string> host = CanonicalIpv6(host_text);
    if (!host.has_value()) return Invalid(text, "not an IPv6 address inside the brackets");
    address.host = std::move(*host);
  } else if (host_text.empty() || host_text == "0") {
    address.host = kAnyIpv4;
  } else {
    std::optional<std::string> host = CanonicalIpv4(host_text);
    if (!host.has_value()) {
      return Invalid(text, "host must be an IP address (listeners bind addresses, not names)");
    }
    address.host = std::move(*host);
  }
  return address;
}

}  // namespace propsy::model
