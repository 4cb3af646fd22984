#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "main/flag_set.h"

namespace propsy {

// ProPsy's command line (SPEC §1): the options, their validation, and the
// helpers the validation is made of. The generic parser is in flag_set.h.

// -configcluster SRC:ZONE
struct ConfigClusterFlag {
  std::string source;  // kubeconfig path, "incluster" or "dir:PATH"
  std::string zone;
  std::string name;  // derived from the source; unique among config clusters
};

// -endpointcluster SRC:ZONE:PRIORITY
struct EndpointClusterFlag {
  std::string source;
  std::string zone;
  int priority = 0;  // unique among endpoint clusters
  std::string name;  // derived from the source; unique among endpoint clusters
};

// Validated options. When ParseCommandLine returns them: zone is set, there
// is at least one cluster of each role, TLS flags form a complete
// combination, listen addresses parse, names are unique per role.
struct PropsyOptions {
  std::string listen = ":8888";
  std::string zone;
  std::vector<ConfigClusterFlag> config_clusters;
  std::vector<EndpointClusterFlag> endpoint_clusters;
  std::string server_cert, server_key, client_verify_ca;
  bool peer_skip_cn = false;
  std::string listen_health = ":8889";
  bool debug = false;
  std::string xds_cluster = "xds_cluster";
  std::vector<std::string> namespaces;  // empty = all
  std::chrono::milliseconds sync_timeout{30000};
  // On SIGTERM, open xDS streams are closed spread over this period.
  std::chrono::milliseconds drain_period{10000};
  // Status writing (SPEC §2, §6). leader_elect defaults to on when a config
  // cluster is a Kubernetes source (ParseCommandLine settles it).
  bool leader_elect = false;
  std::string lease_namespace;  // default: the pod's namespace in cluster, else "default"
  std::string lease_name = "propsy";
  // Also watch core/v1 Endpoints on clusters that serve EndpointSlices (a
  // service without slices there uses its Endpoints object).
  bool legacy_endpoints = true;
  // Not errors, but worth a log line at start-up.
  std::vector<std::string> warnings;
};

struct CommandLine {
  enum class Action { kRun, kHelp, kVersion };
  Action action = Action::kRun;
  PropsyOptions options;  // meaningful for kRun
  std::string text;       // kHelp: the usage text; kVersion: "propsy VERSION"
};

// Parses and validates ProPsy's flags (`args` without the program name).
// Errors name the flag; main prints them and exits non-zero.
// `service_account_namespace_file` is where -leasenamespace's default is read
// from (the pod's namespace when running in a cluster).
absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args,
    const std::string& service_account_namespace_file =
        "/var/run/secrets/kubernetes.io/serviceaccount/namespace");

// "SRC:ZONE" split on the last colon, SRC and ZONE non-empty.
absl::StatusOr<ConfigClusterFlag> ParseConfigClusterFlag(std::string_view text);
// "SRC:ZONE:PRIORITY" split on the last two colons; PRIORITY a non-negative
// integer.
absl::StatusOr<EndpointClusterFlag> ParseEndpointClusterFlag(std::string_view text);

// The cluster name a source yields before clashes are resolved:
// "dir:/x/zone-a" -> "zone-a", "/k/kubeconfig-foo.yaml" -> "kubeconfig-foo",
// "incluster" -> "incluster". Only [A-Za-z0-9._-]; other characters become '-'.
std::string DeriveClusterName(std::string_view source);

// Makes names unique in order: the first keeps its name, later ones get
// "-2", "-3", ... (skipping names already taken).
std::vector<std::string> UniqueNames(const std::vector<std::string>& names);

// A `host:port` listen address (-listen, -listenhealth).
struct HostPort {
  std::string host;  // "" = all interfaces; IPv6 without brackets
  int port = 0;      // 0..65535; 0 = pick a free port

  // "host:port", "[v6]:port", ":port" for all interfaces.
  std::string ToString() const;
};

// ":8888", "127.0.0.1:0", "[::1]:9000", "localhost:80".
absl::StatusOr<HostPort> ParseHostPort(std::string_view text);

}  // namespace propsy
