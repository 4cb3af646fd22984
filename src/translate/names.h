#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "model/object_meta.h"

// Names of the Envoy resources ProPsy generates. They are part of the
// product's observable behaviour (stats, admin output, debugging), so they
// live in one place.
namespace propsy::translate {

inline std::string PrimaryClusterName(const model::ObjectKey& service) {
  return fmt::format("{}/primary", service.ToString());
}

inline std::string RemoteClusterName(const model::ObjectKey& service,
                                     std::string_view endpoint_cluster) {
  return fmt::format("{}/remote/{}", service.ToString(), endpoint_cluster);
}

inline std::string CanaryClusterName(const model::ObjectKey& service) {
  return fmt::format("{}/canary", service.ToString());
}

// SDS name of a TLS secret: the config cluster is part of the name because
// objects with one key in two config clusters may differ.
inline std::string SecretResourceName(std::string_view config_cluster,
                                      const model::ObjectKey& secret) {
  return fmt::format("{}/{}", config_cluster, secret.ToString());
}

// A stat prefix from a listener name: IPv6 brackets are dropped and any
// other character but [A-Za-z0-9] becomes '_', so "0.0.0.0:80" gives
// "0_0_0_0_80" instead of opening a stat sub-scope at every dot.
inline std::string StatPrefix(std::string_view listener_name) {
  std::string prefix;
  for (char c : listener_name) {
    if (c == '[' || c == ']') continue;
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    prefix += keep ? c : '_';
  }
  return prefix;
}

}  // namespace propsy::translate
