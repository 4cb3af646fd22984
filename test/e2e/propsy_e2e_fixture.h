#pragma once

// The fixture of the end-to-end tests of the `propsy` binary: manifests in
// `dir:` sources (one config and one endpoint directory per zone), the real
// binary, a real Envoy that gets everything from it over ADS, and HTTP/TCP
// backends that answer with their own name.

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "support/envoy_process.h"
#include "support/http_backend.h"
#include "support/propsy_process.h"
#include "support/tcp_backend.h"
#include "support/temp_dir.h"

namespace propsy::e2e {

inline constexpr char kNodeId[] = "edge-1";
inline constexpr char kNamespace[] = "shop";
inline constexpr char kLocalZone[] = "zone-a";

// One zone: a config cluster and an endpoint cluster (of that priority),
// each a directory named after the zone (so the endpoint cluster's name, the
// directory's base name, is the zone's name).
struct ZoneLayout {
  std::string name;
  int priority = 0;
};

// A ProPsyService manifest in namespace kNamespace. Port selection is by
// name (`servicePortName`), since every backend has its own port.
struct ServiceManifest {
  std::string name;
  std::string service;  // the Service whose endpoints get the traffic
  int listen_port = 0;  // on 127.0.0.1
  int percent = 100;
  std::string canary_service;  // empty = none
  int canary_percent = 0;
  std::string type = "HTTP";
  std::string path_prefix = "/";
  std::string prefix_rewrite;  // empty = none
  std::string tls_secret;      // empty = plaintext
  std::string port_name = "http";
  int connect_timeout = 0;  // ms; 0 = absent
  std::string creation_timestamp = "2026-01-01T00:00:00Z";
};
std::string ServiceYaml(const ServiceManifest& manifest);

// An EndpointSlice with one endpoint at `address`:`port`, port named
// `port_name`, labelled for `service`.
struct SliceManifest {
  std::string name;
  std::string service;
  int port = 0;
  std::string port_name = "http";
  std::string address = "127.0.0.1";
  bool ready = true;
};
std::string SliceYaml(const SliceManifest& manifest);

// A kubernetes.io/tls Secret with PEM text in stringData.
std::string TlsSecretYaml(const std::string& name, const std::string& cert_pem,
                          const std::string& key_pem);

// YAML documents as one multi-document file.
std::string Documents(const std::vector<std::string>& documents);

// "127.0.0.1:PORT": the canonical listen address, which is also the name
// ProPsy gives the listener.
std::string ListenerName(int port);

// One plain HTTP GET (no keep-alive).
struct Answer {
  int status = 0;    // 0 when no HTTP answer came
  std::string body;  // or what went wrong
  bool ok() const { return status == 200; }
};
Answer HttpGet(int port, const std::string& path);

// A self-signed certificate (EC P-256) with subject CN `common_name`, made by
// the openssl command line.
struct PemPair {
  std::string cert, key;
};
absl::StatusOr<PemPair> MakeSelfSignedCert(const std::string& work_dir,
                                           const std::string& common_name);

// Parses JSON text (object or array) for assertions.
absl::StatusOr<rapidjson::Document> ParseJson(const std::string& text);

class PropsyEnvoyTest : public testing::Test {
 protected:
  void SetUp() override;
  // Asserts 0 NACKs on both sides and that propsy still runs, prints the
  // logs' tails on failure, then stops Envoy, propsy and the backends in
  // that order.
  void TearDown() override;

  std::string ConfigDir(const std::string& zone) const;
  std::string EndpointDir(const std::string& zone) const;
  // Writes a manifest atomically (a hidden temporary file renamed into
  // place), so propsy never reads half a file.
  void WriteFile(const std::string& dir, const std::string& name, const std::string& text);
  void WriteConfig(const std::string& zone, const std::string& name, const std::string& text) {
    WriteFile(ConfigDir(zone), name, text);
  }
  void WriteEndpoints(const std::string& zone, const std::string& name, const std::string& text) {
    WriteFile(EndpointDir(zone), name, text);
  }

  // Backends live as long as the test and are stopped after Envoy.
  test::HttpBackend& AddHttpBackend(const std::string& name);
  test::TcpBackend& AddTcpBackend(const std::string& name);
  // A free port on 127.0.0.1, distinct from every port picked before in this
  // test (0 and a test failure if none could be had).
  int FreePort();

  // Creates the zone directories (zones_ may be changed before), starts
  // propsy and waits for /readyz. Use with ASSERT_NO_FATAL_FAILURE.
  void StartPropsy();
  // Starts Envoy against propsy and waits until it is LIVE.
  void StartEnvoy();
  void StartAll() {
    StartPropsy();
    if (!HasFatalFailure()) StartEnvoy();
  }
  // The command line propsy gets (without -listenhealth).
  std::vector<std::string> PropsyArgs() const;

  // Waits until Envoy's listener for `port` is active.
  void WaitForListener(int port);
  // Polls GET `path` until the body is `expected` (status 200); false on
  // timeout with the last answer in `last`.
  bool WaitForBody(int port, const std::string& path, const std::string& expected,
                   std::chrono::milliseconds timeout, Answer* last = nullptr);
  // Sends `requests` GETs over one keep-alive connection; counts answers by
  // body ("error: ..." / "status N" for failures). Bounded to 120 s.
  std::map<std::string, int> CountBodies(int port, const std::string& path, int requests);

  // propsy admin GET that must answer 200; "" and a test failure otherwise.
  std::string PropsyGet(const std::string& path);
  // Counters that must not move when only data (endpoints, secrets, weights)
  // changes; see ExpectListenersUntouched.
  struct ListenerCounters {
    int64_t modified = 0, removed = 0, draining = 0;
  };
  ListenerCounters ReadListenerCounters();
  void ExpectListenersUntouched(const ListenerCounters& before);

  // Tails of propsy's and Envoy's logs.
  std::string Diagnostics() const;

  std::vector<ZoneLayout> zones_ = {{.name = "zone-a", .priority = 0},
                                    {.name = "zone-b", .priority = 1}};
  bool delta_xds_ = false;  // Envoy's ADS flavour: delta or state of the world
  // Envoy's bootstrap adds a runtime layer over ADS (layered_runtime →
  // rtds_layer "rtds-layer", rtds_config: { ads: {} }) after a static layer.
  bool rtds_layer_ = false;
  int xds_port_ = 0;
  // More propsy replicas that Envoy's xds_cluster lists after xds_port_.
  std::vector<int> replica_xds_ports_;
  int admin_port_ = 0;

  // Destroyed bottom-up, but TearDown stops the processes first.
  test::TempDir dir_{"propsy-e2e"};
  std::set<int> ports_;
  std::vector<std::unique_ptr<test::HttpBackend>> http_backends_;
  std::vector<std::unique_ptr<test::TcpBackend>> tcp_backends_;
  std::unique_ptr<test::PropsyProcess> propsy_;
  std::unique_ptr<test::EnvoyProcess> envoy_;
};

}  // namespace propsy::e2e
