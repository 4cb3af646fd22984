#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace propsy::model {

// Where a listener binds. Parsed from `PORT`, `HOST:PORT`, `0:PORT`
// (= 0.0.0.0) or `[IPV6]:PORT`; a bare PORT (or `:PORT`) binds 0.0.0.0.
struct ListenAddress {
  std::string host;  // an IP literal, IPv6 without brackets
  uint32_t port = 0;

  // Canonical text: "0.0.0.0:80", "[::1]:443". Two PPS listen on the same
  // listener exactly when their canonical texts are equal.
  std::string ToString() const;
  bool IsIpv6() const;
  auto operator<=>(const ListenAddress&) const = default;
};

// Errors say what is wrong with `text` (bad port, bad host, missing port).
// Hosts must be IP literals: Envoy listeners bind addresses, not names.
absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text);

}  // namespace propsy::model
