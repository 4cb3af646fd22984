#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace propsy::model {

// The canonical text (inet_ntop form) of an IPv4 / IPv6 literal, or nullopt
// when `text` is not one. Canonical text makes equal addresses compare equal
// ("::0:1" and "::1"). IPv6 zone ids ("%eth0") are not accepted.
std::optional<std::string> CanonicalIpv4(std::string_view text);
std::optional<std::string> CanonicalIpv6(std::string_view text);

}  // namespace propsy::model
