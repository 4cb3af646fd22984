// The propsy binary when API servers go away (SPEC §4): an API server
// outage under continuous traffic, changes made while propsy is cut off
// from an API server (a TCP forwarder in between), and a forced 410 Gone
// (etcd compacted while cut off) that makes propsy relist. Measured figures
// are printed as "[outage] ...".
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "e2e/kube_e2e_fixture.h"
#include "e2e/tcp_forwarder.h"
#include "support/wait.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int64_t MillisSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

std::string Describe(const TrafficLoop::Result& result) {
  return fmt::format("{} requests in {} ms, {} failed, answers {}; first failures: {}",
                     result.requests, result.duration.count(), result.failures,
                     testing::PrintToString(result.bodies),
                     testing::PrintToString(result.first_failures));
}

class KubeOutageTest : public KubePropsyTest {
 protected:
  // Puts a forwarder between propsy and zone's API server: the kubeconfig
  // propsy reads points at it. The serving certificate is valid for
  // 127.0.0.1 (any port), so TLS is checked as usual.
  void CutOffWithForwarder(Zone zone) {
    absl::StatusOr<std::unique_ptr<TcpForwarder>> started =
        TcpForwarder::Start(kube().cluster(zone).apiserver_port);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    forwarder_ = std::move(*started);
    WriteZoneKubeconfig(zone, fmt::format("https://127.0.0.1:{}", forwarder_->port()),
                        AdminTokenUser(zone));
  }

  std::unique_ptr<TcpForwarder> forwarder_;
};

// One API server (zone-a: the local zone, the primary endpoints) is killed
// for 30 s while a keep-alive client sends a request every 3 ms: no request
// fails, Envoy keeps every endpoint, /debug/clusters shows zone-a stale, and
// zone-b's changes still arrive. After the restart zone-a is fresh again
// within 10 s and its changes arrive.
TEST_F(KubeOutageTest, ApiServerOutageKeepsEndpointsAndTraffic) {
  test::HttpBackend& zone_a = AddKubeBackend("web-zone-a");
  test::HttpBackend& zone_b = AddKubeBackend("web-zone-b");
  test::HttpBackend& zone_b2 = AddKubeBackend("web-zone-b2");
  const int port = FreePort();
  ServiceManifest web;
  web.name = "web";
  web.service = "web";
  web.listen_port = port;
  web.percent = 80;
  Apply(kZoneA, Documents({ServiceYaml(web), Slice("web-a", "web", zone_a)}));
  Apply(kZoneB, Slice("web-b", "web", zone_b));
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));
  ASSERT_TRUE(WaitForEnvoyHosts("shop/web/primary", {HostOf(zone_a), HostOf(zone_b)}, 20s))
      << testing::PrintToString(EnvoyHosts("shop/web/primary")) << "\n"
      << Diagnostics();
  ASSERT_TRUE(WaitForEnvoyHosts("shop/web/remote/zone-b", {HostOf(zone_b)}, 20s));
  Answer last;
  ASSERT_TRUE(WaitForBody(port, "/", "web-zone-a", 20s, &last)) << last.status << " " << last.body;

  TrafficLoop traffic(port, "/", 3ms);
  ASSERT_TRUE(test::WaitFor([&] { return traffic.requests() >= 100; }, 20s));
  const Clock::time_point outage = Clock::now();
  ASSERT_NO_FATAL_FAILURE(StopApiserver(kZoneA));
  const int64_t stop_ms = MillisSince(outage);

  // Stale once the server has failed for 5 s (both roles read zone-a).
  ASSERT_TRUE(test::WaitFor(
      [&] { return Source(kZoneA, "config").stale && Source(kZoneA, "endpoint").stale; }, 20s,
      100ms))
      << PropsyGet("/debug/clusters") << "\n"
      << Diagnostics();
  const int64_t stale_ms = MillisSince(outage);
  EXPECT_GT(Source(kZoneA, "endpoint").stale_since_unix_ms, 0);
  EXPECT_FALSE(Source(kZoneB, "endpoint").stale);
  EXPECT_FALSE(Source(kZoneB, "config").stale);

  // The other cluster still counts: a new endpoint in zone-b arrives.
  Apply(kZoneB, Slice("web-b2", "web", zone_b2));
  EXPECT_TRUE(WaitForEnvoyHosts("shop/web/remote/zone-b", {HostOf(zone_b), HostOf(zone_b2)}, 15s))
      << testing::PrintToString(EnvoyHosts("shop/web/remote/zone-b"));

  std::this_thread::sleep_until(outage + 30s);
  // zone-a's endpoint was never dropped.
  EXPECT_EQ(EnvoyHosts("shop/web/primary"),
            (std::set<std::string>{HostOf(zone_a), HostOf(zone_b), HostOf(zone_b2)}));
  EXPECT_TRUE(Source(kZoneA, "endpoint").stale);
  const int64_t outage_ms = MillisSince(outage);

  const Clock::time_point restart = Clock::now();
  ASSERT_NO_FATAL_FAILURE(StartApiserver(kZoneA));
  const Clock::time_point back = Clock::now();  // /readyz answers "ok"
  const int64_t restart_ms = MillisSince(restart);
  ASSERT_TRUE(test::WaitFor(
      [&] { return !Source(kZoneA, "config").stale && !Source(kZoneA, "endpoint").stale; }, 60s,
      100ms))
      << PropsyGet("/debug/clusters") << "\n"
      << Diagnostics();
  const int64_t recovered_ms = MillisSince(back);
  EXPECT_LE(recovered_ms, 10000) << "zone-a stayed stale after its API server was back";

  // Changes in zone-a arrive again.
  ServiceManifest updated = web;
  updated.percent = 60;
  Apply(kZoneA, ServiceYaml(updated));
  const std::map<std::string, double> want = {{"shop/web/primary", 60},
                                              {"shop/web/remote/zone-b", 40}};
  EXPECT_TRUE(test::WaitFor([&] { return EnvoyRouteWeights(port) == want; }, 15s))
      << testing::PrintToString(EnvoyRouteWeights(port));

  const TrafficLoop::Result result = traffic.Stop();
  std::cout << fmt::format(
      "[outage] API server of zone-a down {} ms (stop took {} ms); stale after {} ms; restart "
      "took {} ms; fresh {} ms after it was ready again; traffic: {}\n",
      outage_ms, stop_ms, stale_ms, restart_ms, recovered_ms, Describe(result));
  EXPECT_EQ(result.failures, 0) << Describe(result);
  EXPECT_TRUE(result.bodies.contains("web-zone-a")) << Describe(result);
  EXPECT_EQ(EnvoyHosts("shop/web/primary"),
            (std::set<std::string>{HostOf(zone_a), HostOf(zone_b), HostOf(zone_b2)}));
}

// Changes made while propsy is cut off from zone-a's API server (an
// EndpointSlice moved to another backend, a ProPsyService deleted) reach
// Envoy within 5 s of the connection's return.
TEST_F(KubeOutageTest, ChangesWhileCutOffArriveWithinFiveSeconds) {
  ASSERT_NO_FATAL_FAILURE(CutOffWithForwarder(kZoneA));
  test::HttpBackend& v1 = AddKubeBackend("web-v1");
  test::HttpBackend& v2 = AddKubeBackend("web-v2");
  test::HttpBackend& old = AddKubeBackend("old");
  const int port = FreePort();
  const int old_port = FreePort();
  ServiceManifest web;
  web.name = "web";
  web.service = "web";
  web.listen_port = port;
  ServiceManifest old_service;
  old_service.name = "old";
  old_service.service = "old";
  old_service.listen_port = old_port;
  Apply(kZoneA, Documents({ServiceYaml(web), ServiceYaml(old_service), Slice("web-a", "web", v1),
                           Slice("old-a", "old", old)}));
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));
  ASSERT_NO_FATAL_FAILURE(WaitForListener(old_port));
  Answer last;
  ASSERT_TRUE(WaitForBody(port, "/", "web-v1", 20s, &last)) << last.status << " " << last.body;
  ASSERT_TRUE(WaitForBody(old_port, "/", "old", 20s, &last)) << last.status << " " << last.body;
  const double restarts = SourceEvents(kZoneA, "config", "watch_restarts") +
                          SourceEvents(kZoneA, "endpoint", "watch_restarts");

  forwarder_->Cut();
  const Clock::time_point cut = Clock::now();
  Apply(kZoneA, Slice("web-a", "web", v2));
  Kubectl(kZoneA, {"delete", "propsyservice", "old", "-n", kNamespace});
  // Stay cut off a while: propsy keeps failing to reconnect meanwhile.
  std::this_thread::sleep_until(cut + 3s);
  EXPECT_EQ(HttpGet(port, "/").body, "web-v1") << "a change arrived while cut off";
  const int64_t cut_ms = MillisSince(cut);

  ASSERT_TRUE(forwarder_->Restore().ok());
  const Clock::time_point back = Clock::now();
  int64_t moved_ms = -1, deleted_ms = -1;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        if (moved_ms < 0 && HttpGet(port, "/").body == "web-v2") moved_ms = MillisSince(back);
        if (deleted_ms < 0 && !envoy_->ListenerPort(ListenerName(old_port)).ok()) {
          deleted_ms = MillisSince(back);
        }
        return moved_ms >= 0 && deleted_ms >= 0;
      },
      30s, 20ms))
      << "changes never arrived: moved " << moved_ms << " ms, deleted " << deleted_ms << " ms\n"
      << Diagnostics();
  const int64_t arrived_ms = std::max(moved_ms, deleted_ms);
  std::cout << fmt::format(
      "[outage] cut off from zone-a for {} ms; after the return: slice change in Envoy after {} "
      "ms, deleted service's listener gone after {} ms\n",
      cut_ms, moved_ms, deleted_ms);
  EXPECT_GE(arrived_ms, 0);
  EXPECT_LE(arrived_ms, 5000) << "changes took longer than 5 s after the return";
  EXPECT_GT(SourceEvents(kZoneA, "config", "watch_restarts") +
                SourceEvents(kZoneA, "endpoint", "watch_restarts"),
            restarts)
      << "propsy's watches never noticed the cut";
  EXPECT_FALSE(Source(kZoneA, "config").stale);
}

// A 410 Gone: while propsy is cut off from zone-b (watch cache off, so
// watches are served from etcd), objects change and etcd is compacted past
// propsy's resource version. On return propsy relists: the changes are
// applied (a moved slice, a deleted slice, a deleted ProPsyService), and an
// unchanged service whose only endpoints are in zone-b serves on without a
// single failure and without an endpoint membership change in Envoy.
TEST_F(KubeOutageTest, CompactionWhileCutOffForcesRelist) {
  ASSERT_NO_FATAL_FAILURE(CutOffWithForwarder(kZoneB));
  test::HttpBackend& steady = AddKubeBackend("steady");
  test::HttpBackend& moving_v1 = AddKubeBackend("moving-v1");
  test::HttpBackend& moving_v2 = AddKubeBackend("moving-v2");
  test::HttpBackend& gone = AddKubeBackend("gone");
  std::map<std::string, int> ports;
  for (const char* name : {"steady", "moving", "gone", "foreign"}) ports[name] = FreePort();
  auto service = [&](const std::string& name, const std::string& backend_service) {
    ServiceManifest manifest;
    manifest.name = name;
    manifest.service = backend_service;
    manifest.listen_port = ports[name];
    return ServiceYaml(manifest);
  };
  Apply(kZoneA, Documents({service("steady", "steady"), service("moving", "moving"),
                           service("gone", "gone")}));
  // "foreign" is defined in zone-b only; it sends to steady's endpoints.
  Apply(kZoneB, Documents({service("foreign", "steady"), Slice("steady-b", "steady", steady),
                           Slice("moving-b", "moving", moving_v1), Slice("gone-b", "gone", gone)}));
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  Answer last;
  for (const auto& [name, body] : std::map<std::string, std::string>{{"steady", "steady"},
                                                                     {"moving", "moving-v1"},
                                                                     {"gone", "gone"},
                                                                     {"foreign", "steady"}}) {
    ASSERT_NO_FATAL_FAILURE(WaitForListener(ports[name]));
    ASSERT_TRUE(WaitForBody(ports[name], "/", body, 20s, &last))
        << name << ": " << last.status << " " << last.body;
  }
  const double config_relists = SourceEvents(kZoneB, "config", "relists");
  const double endpoint_relists = SourceEvents(kZoneB, "endpoint", "relists");
  ASSERT_GE(config_relists, 0);
  ASSERT_GE(endpoint_relists, 0);
  const std::string membership = "cluster.shop/steady/primary.membership_change";
  absl::StatusOr<int64_t> membership_before = envoy_->Stat(membership);
  ASSERT_TRUE(membership_before.ok()) << membership_before.status().ToString();

  TrafficLoop traffic(ports["steady"], "/", 3ms);
  ASSERT_TRUE(test::WaitFor([&] { return traffic.requests() >= 100; }, 20s));
  forwarder_->Cut();
  const Clock::time_point cut = Clock::now();
  Apply(kZoneB, Slice("moving-b", "moving", moving_v2));
  Kubectl(kZoneB, {"delete", "endpointslice", "gone-b", "-n", kNamespace});
  Kubectl(kZoneB, {"delete", "propsyservice", "foreign", "-n", kNamespace});
  absl::StatusOr<int64_t> revision = kube().CompactEtcd(kZoneB);
  ASSERT_TRUE(revision.ok()) << revision.status().ToString();
  std::this_thread::sleep_until(cut + 3s);
  const int64_t cut_ms = MillisSince(cut);

  ASSERT_TRUE(forwarder_->Restore().ok());
  const Clock::time_point back = Clock::now();
  int64_t applied_ms = -1;
  EXPECT_TRUE(test::WaitFor(
      [&] {
        const bool done = HttpGet(ports["moving"], "/").body == "moving-v2" &&
                          HttpGet(ports["gone"], "/").status == 503 &&
                          !envoy_->ListenerPort(ListenerName(ports["foreign"])).ok();
        if (done) applied_ms = MillisSince(back);
        return done;
      },
      30s, 20ms))
      << "moving: " << HttpGet(ports["moving"], "/").body
      << ", gone: " << HttpGet(ports["gone"], "/").status << "\n"
      << Diagnostics();
  // Relisted after the 410, in both roles (their watches share etcd's
  // compacted history).
  const double config_relists_after = SourceEvents(kZoneB, "config", "relists");
  const double endpoint_relists_after = SourceEvents(kZoneB, "endpoint", "relists");
  EXPECT_GT(config_relists_after, config_relists);
  EXPECT_GT(endpoint_relists_after, endpoint_relists);
  EXPECT_THAT(propsy_->process().ReadLog(), testing::HasSubstr("410"));

  std::this_thread::sleep_for(500ms);
  const TrafficLoop::Result result = traffic.Stop();
  std::cout << fmt::format(
      "[outage] cut off from zone-b for {} ms, etcd compacted at revision {}; changes applied {} "
      "ms after the return; relists config {} -> {}, endpoint {} -> {}; steady traffic: {}\n",
      cut_ms, *revision, applied_ms, config_relists, config_relists_after, endpoint_relists,
      endpoint_relists_after, Describe(result));
  EXPECT_EQ(result.failures, 0) << Describe(result);
  EXPECT_EQ(result.bodies, (std::map<std::string, int>{{"steady", result.requests}}));
  absl::StatusOr<int64_t> membership_after = envoy_->Stat(membership);
  ASSERT_TRUE(membership_after.ok()) << membership_after.status().ToString();
  EXPECT_EQ(*membership_after, *membership_before) << "steady's endpoints changed in Envoy";
  EXPECT_EQ(EnvoyHosts("shop/steady/primary"), (std::set<std::string>{HostOf(steady)}));
  EXPECT_FALSE(Source(kZoneB, "endpoint").stale);
  EXPECT_THAT(Source(kZoneB, "endpoint").problems, testing::IsEmpty());
}

}  // namespace
}  // namespace propsy::e2e
