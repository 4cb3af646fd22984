#include "main/flags.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>

#ifndef PROPSY_VERSION
#define PROPSY_VERSION "unknown"
#endif

namespace propsy {
namespace {

constexpr std::string_view kDirPrefix = "dir:";

// SRC is a kubeconfig path, "incluster" or "dir:PATH" with a PATH.
absl::Status ValidateSource(std::string_view source) {
  if (source.empty()) return absl::InvalidArgumentError("SRC is empty");
  if (source.starts_with(kDirPrefix) && source.size() == kDirPrefix.size()) {
    return absl::InvalidArgumentError("dir: needs a PATH (dir:/path/to/manifests)");
  }
  return absl::OkStatus();
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// A Kubernetes namespace name: an RFC 1123 DNS label.
absl::Status ValidateNamespace(std::string_view name) {
  if (name.empty() || name.size() > 63) {
    return absl::InvalidArgumentError("a namespace name has 1 to 63 characters");
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return absl::InvalidArgumentError("a namespace name has only a-z, 0-9 and '-'");
    }
  }
  if (name.front() == '-' || name.back() == '-') {
    return absl::InvalidArgumentError("a namespace name starts and ends with a letter or digit");
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ParsePort(std::string_view text) {
  int port = -1;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  bool digits_only = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits_only || ec != std::errc() || ptr != text.data() + text.size() || port > 65535) {
    return absl::InvalidArgumentError(
        fmt::format("port \"{}\" is not a number between 0 and 65535", text));
  }
  return port;
}

// Adds `-name` taking a HOST:PORT, stored as text once it parses.
void AddAddressFlag(FlagSet& flags, std::string name, std::string* target, std::string usage) {
  flags.Custom(std::move(name), "HOST:PORT", fmt::format("\"{}\"", *target), std::move(usage),
               false, [target](std::string_view value) -> absl::Status {
                 absl::StatusOr<HostPort> parsed = ParseHostPort(value);
                 if (!parsed.ok()) return parsed.status();
                 *target = std::string(value);
                 return absl::OkStatus();
               });
}

// Adds `-name` taking a non-negative Go duration, kept in milliseconds.
void AddDurationFlag(FlagSet& flags, std::string name, std::chrono::milliseconds* target,
                     std::string usage) {
  flags.Custom(std::move(name), "duration", FormatGoDuration(*target), std::move(usage), false,
               [target](std::string_view value) -> absl::Status {
                 absl::StatusOr<std::chrono::nanoseconds> parsed = ParseGoDuration(value);
                 if (!parsed.ok()) return parsed.status();
                 if (parsed->count() < 0) return absl::InvalidArgumentError("must not be negative");
                 *target = std::chrono::duration_cast<std::chrono::milliseconds>(*parsed);
                 return absl::OkStatus();
               });
}

// Checks what single flags cannot: required flags, combinations, uniqueness.
absl::Status ValidateOptions(PropsyOptions& options,
                             const std::vector<std::string>& endpoint_texts) {
  if (options.zone.empty()) {
    return absl::InvalidArgumentError("-zone is required: the local zone of this ProPsy");
  }
  if (options.config_clusters.empty()) {
    return absl::InvalidArgumentError("at least one -configcluster SRC:ZONE is required");
  }
  if (options.endpoint_clusters.empty()) {
    return absl::InvalidArgumentError(
        "at least one -endpointcluster SRC:ZONE:PRIORITY is required");
  }
  std::map<int, size_t> priority_owner;
  for (size_t i = 0; i < options.endpoint_clusters.size(); ++i) {
    int priority = options.endpoint_clusters[i].priority;
    auto [it, inserted] = priority_owner.emplace(priority, i);
    if (!inserted) {
      return absl::InvalidArgumentError(fmt::format(
          "-endpointcluster \"{}\" and -endpointcluster \"{}\" have the same priority {}: "
          "priorities must be unique",
          endpoint_texts[it->second], endpoint_texts[i], priority));
    }
  }

  // TLS: cert + key, optionally + client CA. Never a silent plaintext.
  const bool cert = !options.server_cert.empty();
  const bool key = !options.server_key.empty();
  const bool ca = !options.client_verify_ca.empty();
  if (cert && !key) return absl::InvalidArgumentError("-servercert requires -serverkey");
  if (key && !cert) return absl::InvalidArgumentError("-serverkey requires -servercert");
  if (ca && !(cert && key)) {
    return absl::InvalidArgumentError(
        "-clientverifyca requires -servercert and -serverkey (mutual TLS is TLS first)");
  }
  if (options.peer_skip_cn && !ca) {
    options.warnings.push_back(
        "-peerskipcn has no effect without -clientverifyca (no client certificates are checked)");
  }

  bool local_config = false;
  for (const ConfigClusterFlag& cluster : options.config_clusters) {
    local_config = local_config || cluster.zone == options.zone;
  }
  if (!local_config) {
    options.warnings.push_back(
        fmt::format("no -configcluster has the -zone zone \"{}\": every service is governed by the "
                    "first config cluster and traffic percentages do not apply",
                    options.zone));
  }

  auto warn_duplicate_sources = [&options](std::string_view flag, const auto& clusters) {
    std::set<std::string> seen;
    for (const auto& cluster : clusters) {
      if (!seen.insert(cluster.source).second) {
        options.warnings.push_back(
            fmt::format("{} source \"{}\" is given more than once", flag, cluster.source));
      }
    }
  };
  warn_duplicate_sources("-configcluster", options.config_clusters);
  warn_duplicate_sources("-endpointcluster", options.endpoint_clusters);

  auto assign_names = [](auto& clusters) {
    std::vector<std::string> derived;
    for (const auto& cluster : clusters) derived.push_back(DeriveClusterName(cluster.source));
    std::vector<std::string> unique = UniqueNames(derived);
    for (size_t i = 0; i < clusters.size(); ++i) clusters[i].name = unique[i];
  };
  assign_names(options.config_clusters);
  assign_names(options.endpoint_clusters);

  // Repeats of -namespace mean nothing more; keep the first of each.
  std::set<std::string> seen;
  std::vector<std::string> namespaces;
  for (std::string& name : options.namespaces) {
    if (seen.insert(name).second) namespaces.push_back(std::move(name));
  }
  options.namespaces = std::move(namespaces);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ConfigClusterFlag> ParseConfigClusterFlag(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError("want SRC:ZONE (e.g. dir:/etc/propsy:zone-a)");
  }
  ConfigClusterFlag flag{
      .source = std::string(text.substr(0, colon)),
      .zone = std::string(text.substr(colon + 1)),
      .name = "",
  };
  if (absl::Status status = ValidateSource(flag.source); !status.ok()) return status;
  if (flag.zone.empty()) return absl::InvalidArgumentError("ZONE is empty (want SRC:ZONE)");
  return flag;
}

absl::StatusOr<EndpointClusterFlag> ParseEndpointClusterFlag(std::string_view text) {
  size_t last = text.rfind(':');
  size_t middle = last == std::string_view::npos || last == 0 ? std::string_view::npos
                                                              : text.rfind(':', last - 1);
  if (middle == std::string_view::npos) {
    return absl::InvalidArgumentError(
        "want SRC:ZONE:PRIORITY (e.g. /etc/kube/cluster-a.yaml:zone-a:0)");
  }
  EndpointClusterFlag flag{
      .source = std::string(text.substr(0, middle)),
      .zone = std::string(text.substr(middle + 1, last - middle - 1)),
      .priority = 0,
      .name = "",
  };
  if (absl::Status status = ValidateSource(flag.source); !status.ok()) return status;
  if (flag.zone.empty()) {
    return absl::InvalidArgumentError("ZONE is empty (want SRC:ZONE:PRIORITY)");
  }
  std::string_view priority = text.substr(last + 1);
  auto [ptr, ec] =
      std::from_chars(priority.data(), priority.data() + priority.size(), flag.priority);
  bool digits_only =
      !priority.empty() && priority.find_first_not_of("0123456789") == std::string::npos;
  if (!digits_only || ec != std::errc() || ptr != priority.data() + priority.size()) {
    return absl::InvalidArgumentError(
        fmt::format("PRIORITY \"{}\" is not a non-negative integer", priority));
  }
  return flag;
}

std::string DeriveClusterName(std::string_view source) {
  if (source == "incluster") return "incluster";
  const bool dir = source.starts_with(kDirPrefix);
  std::string_view path = dir ? source.substr(kDirPrefix.size()) : source;
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::string_view base =
      path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  // A kubeconfig's extension says nothing about the cluster.
  if (size_t dot = base.rfind('.'); !dir && dot != std::string_view::npos && dot > 0) {
    base = base.substr(0, dot);
  }
  // ".../cluster-b/kubeconfig" or "~/.kube/config": the folder names the cluster.
  if (!dir && (base == "kubeconfig" || base == "config")) {
    std::string_view parent = path.substr(0, path.size() - path.substr(path.rfind('/') + 1).size());
    while (parent.size() > 1 && parent.back() == '/') parent.remove_suffix(1);
    std::string_view folder = parent.substr(parent.rfind('/') + 1);
    if (path.find('/') != std::string_view::npos && !folder.empty() && folder != "." &&
        folder != ".." && folder != ".kube" && folder != "/") {
      base = folder;
    }
  }
  if (base.empty() || base == "." || base == "..") return dir ? "dir" : "kubeconfig";
  std::string name(base);
  for (char& c : name) {
    if (!IsNameChar(c)) c = '-';
  }
  return name;
}

std::vector<std::string> UniqueNames(const std::vector<std::string>& names) {
  // Every name as given stays reserved, so a suffixed name never takes a
  // name that a later cluster derives by itself.
  std::set<std::string> taken(names.begin(), names.end());
  std::set<std::string> assigned;
  std::vector<std::string> unique;
  for (const std::string& name : names) {
    if (assigned.insert(name).second) {
      unique.push_back(name);
      continue;
    }
    for (int n = 2;; ++n) {
      std::string candidate = fmt::format("{}-{}", name, n);
      if (!taken.contains(candidate) && assigned.insert(candidate).second) {
        unique.push_back(candidate);
        break;
      }
    }
  }
  return unique;
}

std::string HostPort::ToString() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty address (want HOST:PORT, e.g. :8888)");
  HostPort result;
  std::string_view port;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError("missing ']' in address");
    }
    result.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return absl::InvalidArgumentError("missing port after ']' (want [IPV6]:PORT)");
    }
    port = rest.substr(1);
    in6_addr address;
    if (inet_pton(AF_INET6, result.host.c_str(), &address) != 1) {
      return absl::InvalidArgumentError(fmt::format("\"{}\" is not an IPv6 address", result.host));
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError("missing port (want HOST:PORT, e.g. :8888)");
    }
    result.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (result.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(
          "too many colons in address (write IPv6 addresses as [::1]:PORT)");
    }
    for (char c : result.host) {
      if (!IsNameChar(c)) {
        return absl::InvalidArgumentError(
            fmt::format("\"{}\" is not a host name or IP address", result.host));
      }
    }
  }
  absl::StatusOr<int> parsed_port = ParsePort(port);
  if (!parsed_port.ok()) return parsed_port.status();
  result.port = *parsed_port;
  return result;
}

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             const std::string& service_account_namespace_file) {
  CommandLine command_line;
  PropsyOptions& options = command_line.options;
  std::vector<std::string> endpoint_texts;
  std::optional<bool> leader_elect;

  FlagSet flags("propsy");
  AddAddressFlag(flags, "listen", &options.listen, "xDS gRPC address");
  flags.String("zone", &options.zone, "local zone: where preferred traffic goes (required)");
  flags.Custom("configcluster", "SRC:ZONE", "",
               "where ProPsyServices and TLS Secrets are read; SRC is a kubeconfig path,\n"
               "\"incluster\" or \"dir:PATH\"; repeatable, at least one",
               false, [&options](std::string_view value) -> absl::Status {
                 absl::StatusOr<ConfigClusterFlag> parsed = ParseConfigClusterFlag(value);
                 if (!parsed.ok()) return parsed.status();
                 options.config_clusters.push_back(*std::move(parsed));
                 return absl::OkStatus();
               });
  flags.Custom("endpointcluster", "SRC:ZONE:PRIORITY", "",
               "where endpoints are read; SRC as for -configcluster; repeatable, at least\n"
               "one; priorities unique (lower is preferred)",
               false, [&options, &endpoint_texts](std::string_view value) -> absl::Status {
                 absl::StatusOr<EndpointClusterFlag> parsed = ParseEndpointClusterFlag(value);
                 if (!parsed.ok()) return parsed.status();
                 options.endpoint_clusters.push_back(*std::move(parsed));
                 endpoint_texts.emplace_back(value);
                 return absl::OkStatus();
               });
  flags.String("servercert", &options.server_cert,
               "PEM certificate for TLS on the xDS server (with -serverkey)");
  flags.String("serverkey", &options.server_key,
               "PEM private key for TLS on the xDS server (with -servercert)");
  flags.String("clientverifyca", &options.client_verify_ca,
               "PEM CA that client certificates must chain to: mutual TLS (needs -servercert\n"
               "and -serverkey)");
  flags.Bool("peerskipcn", &options.peer_skip_cn,
             "do not require the client certificate identity to equal the Envoy node id");
  AddAddressFlag(flags, "listenhealth", &options.listen_health,
                 "admin HTTP address (health, readiness, metrics, debug)");
  flags.Bool("debug", &options.debug, "debug logging");
  flags.Custom("xdscluster", "string", fmt::format("\"{}\"", options.xds_cluster),
               "cluster name Envoy uses to reach ProPsy, used in config sources of nodes\n"
               "not on ADS",
               false, [&options](std::string_view value) -> absl::Status {
                 if (value.empty()) return absl::InvalidArgumentError("must not be empty");
                 options.xds_cluster = std::string(value);
                 return absl::OkStatus();
               });
  flags.Custom("namespace", "NAME", "",
               "watch only this namespace; repeatable (default: all namespaces)", false,
               [&options](std::string_view value) -> absl::Status {
                 if (absl::Status status = ValidateNamespace(value); !status.ok()) return status;
                 options.namespaces.emplace_back(value);
                 return absl::OkStatus();
               });
  AddDurationFlag(flags, "synctimeout", &options.sync_timeout,
                  "how long start-up waits for clusters outside the local zone");
  AddDurationFlag(flags, "drainperiod", &options.drain_period,
                  "on SIGTERM: stop accepting xDS streams and close the open ones spread over\n"
                  "this period, so Envoys move to other replicas gradually; then exit");

  flags.Custom("leaderelect", "", "true with a Kubernetes config cluster",
               "write status only while holding a coordination.k8s.io Lease per config\n"
               "cluster (one writer among replicas); false: always write",
               true, [&leader_elect](std::string_view value) -> absl::Status {
                 absl::StatusOr<bool> parsed = ParseBool(value);
                 if (!parsed.ok()) return parsed.status();
                 leader_elect = *parsed;
                 return absl::OkStatus();
               });
  flags.Custom("leasenamespace", "NAME", "the pod's namespace in cluster, else \"default\"",
               "namespace of the leader election Lease in each Kubernetes config cluster", false,
               [&options](std::string_view value) -> absl::Status {
                 if (absl::Status status = ValidateNamespace(value); !status.ok()) return status;
                 options.lease_namespace = std::string(value);
                 return absl::OkStatus();
               });
  flags.Custom("leasename", "NAME", fmt::format("\"{}\"", options.lease_name),
               "name of the leader election Lease", false,
               [&options](std::string_view value) -> absl::Status {
                 // A Lease name is a DNS-1123 subdomain; the namespace rule (a
                 // label) is stricter but fits every name a user picks here.
                 if (absl::Status status = ValidateNamespace(value); !status.ok()) {
                   return absl::InvalidArgumentError(
                       "a lease name has 1 to 63 characters of a-z, 0-9 and '-', starting and "
                       "ending with a letter or digit");
                 }
                 options.lease_name = std::string(value);
                 return absl::OkStatus();
               });

  flags.Bool(
      "legacyendpoints", &options.legacy_endpoints,
      "also read core/v1 Endpoints where a cluster serves EndpointSlices: a service\n"
      "with no EndpointSlice in a cluster uses its Endpoints object there (-legacyendpoints=false\n"
      "saves the watch on very large clusters)");

  absl::StatusOr<FlagSet::Outcome> outcome = flags.Parse(args);
  if (!outcome.ok()) return outcome.status();
  switch (*outcome) {
    case FlagSet::Outcome::kHelp:
      command_line.action = CommandLine::Action::kHelp;
      command_line.text = flags.Usage();
      return command_line;
    case FlagSet::Outcome::kVersion:
      command_line.action = CommandLine::Action::kVersion;
      command_line.text = fmt::format("propsy {}", PROPSY_VERSION);
      return command_line;
    case FlagSet::Outcome::kParsed:
      break;
  }
  if (absl::Status status = ValidateOptions(options, endpoint_texts); !status.ok()) return status;
  const bool kube_config_cluster =
      std::any_of(options.config_clusters.begin(), options.config_clusters.end(),
                  [](const ConfigClusterFlag& flag) { return !flag.source.starts_with("dir:"); });
  options.leader_elect = leader_elect.value_or(kube_config_cluster);
  if (options.lease_namespace.empty()) {
    options.lease_namespace = "default";
    std::ifstream file(service_account_namespace_file);
    std::string name;
    if (file && std::getline(file, name) && ValidateNamespace(name).ok()) {
      options.lease_namespace = name;
    }
  }
  return command_line;
}

}  // namespace propsy
