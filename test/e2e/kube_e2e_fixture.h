#pragma once

// The fixture of the end-to-end tests against real Kubernetes API servers:
// two clusters per test suite, started by the test binary itself (zone-a:
// priority 0, the local zone, watch cache on; zone-b: priority 1, watch
// cache off so that compaction gives 410 Gone), each both a config and an
// endpoint cluster of propsy; objects written with kubectl; per test the
// propsy binary and a real Envoy, with the zero-NACK checks of
// PropsyEnvoyTest at the end. Under CTest every test is a process of its
// own, so each starts its own clusters (about 6 s); run the binary directly
// to share them within a suite.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "e2e/kube_env.h"
#include "e2e/propsy_e2e_fixture.h"
#include "support/http_backend.h"

namespace propsy::e2e {

// Index of a cluster in the suite's KubeEnv; also the endpoint priority.
enum Zone : size_t { kZoneA = 0, kZoneB = 1 };
// "zone-a", "zone-b": the zone and the cluster name propsy derives from the
// kubeconfig file name (zone-a.yaml).
const char* ZoneName(Zone zone);

// GETs `path` on 127.0.0.1:port over one keep-alive connection every
// `pause`, on a thread of its own, until stopped: the traffic that must not
// notice outages.
class TrafficLoop {
 public:
  struct Result {
    int requests = 0;
    int failures = 0;  // no answer, or not 200
    std::map<std::string, int> bodies;
    std::vector<std::string> first_failures;  // up to 10, with the time since start
    std::chrono::milliseconds duration{0};
  };

  TrafficLoop(int port, std::string path, std::chrono::milliseconds pause);
  ~TrafficLoop();
  TrafficLoop(const TrafficLoop&) = delete;
  TrafficLoop& operator=(const TrafficLoop&) = delete;

  // Requests so far (any outcome).
  int requests() const { return requests_.load(); }
  // Stops and returns what happened. Call once.
  Result Stop();

 private:
  void Run(int port, const std::string& path, std::chrono::milliseconds pause);

  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  absl::Mutex mu_;
  Result result_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

class KubePropsyTest : public PropsyEnvoyTest {
 public:
  // Starts the two clusters, applies the CRD and creates namespace kNamespace
  // in both. A failure here fails every test of the suite (in SetUp).
  static void SetUpTestSuite();
  // Stops the clusters.
  static void TearDownTestSuite();

 protected:
  void SetUp() override;
  // PropsyEnvoyTest's checks and stops; prints the API servers' log tails on
  // failure; brings back an API server a test left stopped.
  void TearDown() override;

  static KubeEnv& kube() { return *env_; }
  static const std::string& endpoint_ip() { return endpoint_ip_; }

  // The kubeconfig propsy reads zone's cluster from (zone-a.yaml,
  // zone-b.yaml in the test directory). SetUp writes them with the API
  // server's address and the admin token; tests may rewrite them before
  // starting propsy (another server address, another credential).
  std::string KubeconfigPath(Zone zone) const;
  void WriteZoneKubeconfig(Zone zone, const std::string& server, const std::string& user_yaml);
  // The user entry with the cluster's admin token.
  std::string AdminTokenUser(Zone zone) const;

  // Starts propsy on the two kubeconfigs (-zone zone-a) and waits for
  // /readyz. Use with ASSERT_NO_FATAL_FAILURE.
  void StartPropsyOnKube();
  void StartAllOnKube() {
    StartPropsyOnKube();
    if (!HasFatalFailure()) StartEnvoy();
  }
  std::vector<std::string> KubePropsyArgs() const;
  // Another replica: the same command line with its own xDS and admin ports
  // and log (dir_/log_name); waits for /readyz. Use with
  // ASSERT_NO_FATAL_FAILURE; null on failure.
  void StartKubeReplica(int xds_port, const std::string& log_name,
                        std::unique_ptr<test::PropsyProcess>* replica);

  // kubectl apply into zone's cluster; a test failure if kubectl fails.
  void Apply(Zone zone, const std::string& yaml, bool validate = true);
  // Any kubectl command against zone's cluster; its output ("" and a test
  // failure if it fails).
  std::string Kubectl(Zone zone, const std::vector<std::string>& args);
  // Outage and return of zone's API server (tracked: TearDown restarts one
  // that a failed test left stopped).
  void StopApiserver(Zone zone);
  void StartApiserver(Zone zone);

  // An HTTP backend on endpoint_ip(), stopped after Envoy.
  test::HttpBackend& AddKubeBackend(const std::string& name);
  // EndpointSlice `name` of `service` with one endpoint: the backend.
  std::string Slice(const std::string& name, const std::string& service,
                    const test::HttpBackend& backend) const;
  // Applies ProPsyService "web" (HTTP on a fresh port, returned) and its
  // EndpointSlice "web-a" with one endpoint, `backend`, to zone-a's cluster.
  int ApplyWebService(const test::HttpBackend& backend);
  // "IP:PORT" of the backend as Envoy sees it.
  std::string HostOf(const test::HttpBackend& backend) const;

  // Addresses ("IP:PORT") of every host of Envoy's cluster `cluster`, all
  // priorities (from the admin /clusters page).
  std::set<std::string> EnvoyHosts(const std::string& cluster);
  // Polls until EnvoyHosts(cluster) == want; false on timeout.
  bool WaitForEnvoyHosts(const std::string& cluster, const std::set<std::string>& want,
                         std::chrono::milliseconds timeout);
  // Weighted clusters of the routes of the listener on `port` (route
  // configuration ListenerName(port)): cluster name -> weight.
  std::map<std::string, double> EnvoyRouteWeights(int port);

  // One source as /debug/clusters shows it.
  struct SourceView {
    bool found = false;
    bool synced = false;
    bool stale = false;
    int64_t stale_since_unix_ms = 0;
    std::vector<std::string> problems;
  };
  SourceView Source(Zone zone, const std::string& role);
  // propsy_source_<event>_total{cluster=zone, role} summed over the
  // resources; -1 when absent.
  double SourceEvents(Zone zone, const std::string& role, const std::string& event);
  // The condition `type` of service "ns/name" on /debug/services as
  // "Status Reason: message", or "" when absent.
  std::string Condition(const std::string& service, const std::string& type);
  // Names of the node's resources of `type` ("cluster", "listener",
  // "secret", ...) on propsy's /debug/config_dump.
  std::set<std::string> PropsyResourceNames(const std::string& type);

  // Waits until the route weights are `route_weights` and every backend of
  // `backend_weights` (and no other) answers, then measures the share of
  // each backend over `requests` GETs; each must be within 3 points of its
  // weight's share. Prints "[shares] label: ...".
  void MeasureShares(const std::string& label, int port,
                     const std::map<std::string, double>& backend_weights,
                     const std::map<std::string, double>& route_weights, int requests = 6000);

  // The API servers' log tails (propsy's and Envoy's: Diagnostics()).
  std::string KubeDiagnostics() const;

 private:
  static void StartClusters();

  static std::unique_ptr<KubeEnv> env_;
  static std::string suite_error_;
  static std::string endpoint_ip_;
  static bool objects_written_;  // a previous test left objects to delete
  std::set<Zone> stopped_apiservers_;
};

}  // namespace propsy::e2e
