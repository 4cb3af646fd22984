// ProPsyServices, EndpointSlices and a TLS Secret written with kubectl into
// two real API servers, served by the propsy binary to a real Envoy: traffic
// shares (printed as "[shares] ..."), HTTPS with the Secret's certificate,
// updates, rollback, scaling; and invalid objects that pass the CRD schema
// but not ProPsy's own validation.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "e2e/kube_e2e_fixture.h"
#include "support/tls_probe.h"
#include "support/wait.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::IsSupersetOf;
using testing::StartsWith;

using KubeLifecycleTest = KubePropsyTest;

// The original product's own e2e flow: apply, measure, update, roll back,
// scale up and down. zone-a: percent 80, canary 10 (k = 1): 80 / 20 / 10 of
// 110; zone-b defines the same service with percent 50, which has no effect
// (the local definition governs).
TEST_F(KubeLifecycleTest, ApplyUpdateRollbackAndScale) {
  test::HttpBackend& zone_a = AddKubeBackend("web-zone-a");
  test::HttpBackend& zone_b = AddKubeBackend("web-zone-b");
  test::HttpBackend& canary = AddKubeBackend("web-canary");
  test::HttpBackend& zone_a2 = AddKubeBackend("web-zone-a2");
  const int port = FreePort();
  const int secure_port = FreePort();
  auto cert = MakeSelfSignedCert(dir_.path().string(), "shop.test");
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();

  ServiceManifest web;
  web.name = "web";
  web.service = "web";
  web.listen_port = port;
  web.percent = 80;
  web.canary_service = "web-canary";
  web.canary_percent = 10;
  ServiceManifest secure;
  secure.name = "web-secure";
  secure.service = "web";
  secure.listen_port = secure_port;
  secure.tls_secret = "web-tls";
  ServiceManifest foreign = web;
  foreign.percent = 50;
  foreign.canary_service = "";
  Apply(kZoneA,
        Documents({ServiceYaml(web), ServiceYaml(secure),
                   TlsSecretYaml("web-tls", cert->cert, cert->key), Slice("web-a", "web", zone_a),
                   Slice("web-canary-a", "web-canary", canary)}));
  Apply(kZoneB, Documents({ServiceYaml(foreign), Slice("web-b", "web", zone_b)}));
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));
  ASSERT_NO_FATAL_FAILURE(WaitForListener(secure_port));

  // propsy's own view of the node's configuration.
  EXPECT_THAT(PropsyResourceNames("listener"),
              IsSupersetOf({ListenerName(port), ListenerName(secure_port)}));
  EXPECT_THAT(PropsyResourceNames("cluster"),
              IsSupersetOf({"shop/web/primary", "shop/web/remote/zone-b", "shop/web/canary"}));
  EXPECT_THAT(PropsyResourceNames("secret"), testing::Contains("zone-a/shop/web-tls"));
  EXPECT_THAT(PropsyGet(fmt::format("/debug/config_dump?node={}", kNodeId)),
              HasSubstr(fmt::format("\"port_value\":{}", canary.port())));

  const std::map<std::string, double> initial_routes = {
      {"shop/web/primary", 80}, {"shop/web/remote/zone-b", 20}, {"shop/web/canary", 10}};
  ASSERT_NO_FATAL_FAILURE(
      MeasureShares("applied: percent 80, canary 10, k=1", port,
                    {{"web-zone-a", 80}, {"web-zone-b", 20}, {"web-canary", 10}}, initial_routes));

  // HTTPS with the certificate from the Secret (web-secure: percent 100, so
  // the remote weight 0 is omitted and everything stays in zone-a).
  absl::StatusOr<test::TlsProbeResult> probe = absl::UnknownError("not probed");
  ASSERT_TRUE(test::WaitFor(
      [&] {
        probe = test::ProbeTls(secure_port, "shop.test", "/");
        return probe.ok() && probe->http_response.ends_with("web-zone-a");
      },
      20s, 200ms))
      << (probe.ok() ? probe->http_response : probe.status().ToString()) << "\n"
      << Diagnostics();
  EXPECT_EQ(probe->subject_cn, "shop.test");
  EXPECT_THAT(probe->http_response, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(Condition("shop/web-secure", "ResolvedRefs"), StartsWith("True"));
  const ListenerCounters before = ReadListenerCounters();

  // Update: percent 50 → 50 / 50 / 10.
  ServiceManifest updated = web;
  updated.percent = 50;
  Apply(kZoneA, ServiceYaml(updated));
  ASSERT_NO_FATAL_FAILURE(MeasureShares(
      "updated: percent 50, canary 10", port,
      {{"web-zone-a", 50}, {"web-zone-b", 50}, {"web-canary", 10}},
      {{"shop/web/primary", 50}, {"shop/web/remote/zone-b", 50}, {"shop/web/canary", 10}}));

  // Rollback: the old manifest again.
  Apply(kZoneA, ServiceYaml(web));
  ASSERT_NO_FATAL_FAILURE(
      MeasureShares("rolled back: percent 80, canary 10", port,
                    {{"web-zone-a", 80}, {"web-zone-b", 20}, {"web-canary", 10}}, initial_routes));

  // Scale up: a second slice of web in zone-a (every backend has its own
  // port, and ports belong to a slice). The primary cluster holds both
  // zone-a endpoints at priority 0 and zone-b's for failover.
  Apply(kZoneA, Slice("web-a2", "web", zone_a2));
  EXPECT_TRUE(
      WaitForEnvoyHosts("shop/web/primary", {HostOf(zone_a), HostOf(zone_a2), HostOf(zone_b)}, 15s))
      << testing::PrintToString(EnvoyHosts("shop/web/primary"));
  ASSERT_NO_FATAL_FAILURE(MeasureShares(
      "scaled up: two endpoints in zone-a", port,
      {{"web-zone-a", 40}, {"web-zone-a2", 40}, {"web-zone-b", 20}, {"web-canary", 10}},
      initial_routes));

  // Scale down: the first slice goes.
  Kubectl(kZoneA, {"delete", "endpointslice", "web-a", "-n", kNamespace});
  EXPECT_TRUE(WaitForEnvoyHosts("shop/web/primary", {HostOf(zone_a2), HostOf(zone_b)}, 15s))
      << testing::PrintToString(EnvoyHosts("shop/web/primary"));
  ASSERT_NO_FATAL_FAILURE(
      MeasureShares("scaled down: one endpoint in zone-a", port,
                    {{"web-zone-a2", 80}, {"web-zone-b", 20}, {"web-canary", 10}}, initial_routes));

  // Weights and endpoints travel over RDS and EDS: no listener was touched.
  ExpectListenersUntouched(before);
  EXPECT_THAT(Condition("shop/web", "Accepted"), StartsWith("True Accepted"));
}

// Objects that pass the CRD's schema (kubectl apply --validate=false) but
// not ProPsy's validation are rejected alone and reported; an update that
// turns a served service invalid keeps its last good version serving.
TEST_F(KubeLifecycleTest, InvalidServiceIsRejectedAlone) {
  test::HttpBackend& web = AddKubeBackend("web-a");
  test::HttpBackend& api = AddKubeBackend("api-a");
  test::HttpBackend& next = AddKubeBackend("web-next");
  const int port = FreePort();
  const int api_port = FreePort();
  const int bad_port = FreePort();
  ServiceManifest web_service;
  web_service.name = "web";
  web_service.service = "web";
  web_service.listen_port = port;
  ServiceManifest api_service;
  api_service.name = "api";
  api_service.service = "api";
  api_service.listen_port = api_port;
  Apply(kZoneA,
        Documents({ServiceYaml(web_service), ServiceYaml(api_service), Slice("web-a", "web", web),
                   Slice("api-a", "api", api), Slice("web-next", "web-next", next)}));
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));
  ASSERT_NO_FATAL_FAILURE(WaitForListener(api_port));
  Answer last;
  ASSERT_TRUE(WaitForBody(port, "/", "web-a", 20s, &last)) << last.status << " " << last.body;
  ASSERT_TRUE(WaitForBody(api_port, "/", "api-a", 20s, &last)) << last.status << " " << last.body;
  const ListenerCounters before = ReadListenerCounters();
  auto expect_both_serving = [&] {
    EXPECT_EQ(CountBodies(port, "/", 20), (std::map<std::string, int>{{"web-a", 20}}));
    EXPECT_EQ(CountBodies(api_port, "/", 20), (std::map<std::string, int>{{"api-a", 20}}));
  };

  // Both are strings and integers where the schema wants them; only
  // ProPsy knows "not-an-address" is no listen address and that
  // canaryPercent needs canaryService.
  Apply(kZoneA,
        fmt::format("apiVersion: propsy.seznam.cz/v1\nkind: ProPsyService\n"
                    "metadata: {{name: bad-listen, namespace: {0}}}\n"
                    "spec: {{service: web, servicePortName: http, listen: not-an-address, "
                    "nodes: ['*'], percent: 100}}\n"
                    "---\n"
                    "apiVersion: propsy.seznam.cz/v1\nkind: ProPsyService\n"
                    "metadata: {{name: bad-canary, namespace: {0}}}\n"
                    "spec: {{service: web, servicePortName: http, listen: '127.0.0.1:{1}', "
                    "nodes: ['*'], percent: 100, canaryPercent: 10}}\n",
                    kNamespace, bad_port),
        /*validate=*/false);
  std::string bad_listen, bad_canary;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        bad_listen = Condition("shop/bad-listen", "Accepted");
        bad_canary = Condition("shop/bad-canary", "Accepted");
        return bad_listen.starts_with("False Invalid") && bad_canary.starts_with("False Invalid");
      },
      15s, 100ms))
      << "not reported invalid: '" << bad_listen << "', '" << bad_canary << "'\n"
      << Diagnostics();
  EXPECT_THAT(bad_listen, HasSubstr("spec.listen"));
  EXPECT_THAT(bad_canary, HasSubstr("spec.canaryPercent"));
  const SourceView config = Source(kZoneA, "config");
  EXPECT_THAT(testing::PrintToString(config.problems), HasSubstr("shop/bad-listen"));
  EXPECT_THAT(testing::PrintToString(config.problems), HasSubstr("shop/bad-canary"));
  // Give a wrongly served listener time to reach Envoy before looking.
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(envoy_->ListenerPort(ListenerName(bad_port)).ok()) << "an invalid service is served";
  expect_both_serving();
  EXPECT_THAT(Condition("shop/web", "Accepted"), StartsWith("True Accepted"));

  // An invalid update of web (it would also move traffic to web-next).
  ServiceManifest moved = web_service;
  moved.service = "web-next";
  Apply(kZoneA, ServiceYaml(moved) + "  canaryPercent: 10\n", /*validate=*/false);
  std::string accepted;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        accepted = Condition("shop/web", "Accepted");
        return accepted.starts_with("False Invalid");
      },
      15s, 100ms))
      << "the invalid update was not reported; last: " << accepted << "\n"
      << Diagnostics();
  EXPECT_THAT(accepted, HasSubstr("spec.canaryPercent"));
  std::this_thread::sleep_for(1500ms);
  expect_both_serving();  // the last good version of web

  // A valid update is taken again.
  Apply(kZoneA, ServiceYaml(moved));
  ASSERT_TRUE(WaitForBody(port, "/", "web-next", 15s, &last)) << last.status << " " << last.body;
  EXPECT_THAT(Condition("shop/web", "Accepted"), StartsWith("True Accepted"));
  EXPECT_EQ(CountBodies(api_port, "/", 20), (std::map<std::string, int>{{"api-a", 20}}));
  ExpectListenersUntouched(before);
}

}  // namespace
}  // namespace propsy::e2e
