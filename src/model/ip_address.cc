#include "model/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>

namespace propsy::model {
namespace {

std::optional<std::string> Canonical(std::string_view text, int family) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  // Only the characters of IP literals: inet_pton reads a C string, so an
  // embedded NUL would otherwise cut the text short unnoticed.
  const bool literal_characters = std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' ||
           c == ':';
  });
  if (!literal_characters) return std::nullopt;
  const std::string copy(text);
  unsigned char binary[sizeof(struct in6_addr)];
  if (inet_pton(family, copy.c_str(), binary) != 1) return std::nullopt;
  char out[INET6_ADDRSTRLEN];
  if (inet_ntop(family, binary, out, sizeof(out)) == nullptr) return std::nullopt;
  return std::string(out);
}

}  // namespace

std::optional<std::string> CanonicalIpv4(std::string_view text) { return Canonical(text, AF_INET); }

std::optional<std::string> CanonicalIpv6(std::string_view text) {
  return Canonical(text, AF_INET6);
}

}  // namespace propsy::model
