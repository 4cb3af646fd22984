// The traffic model of SPEC §3 measured through a real Envoy: the shares of
// the primary, remote and canary clusters over thousands of requests must
// match the weights within 3 percentage points. The measured shares are
// printed ("[shares] ...").
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "e2e/propsy_e2e_fixture.h"
#include "support/wait.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;

// Requests per scenario. 10,000 keeps a 3-point tolerance above 6 standard
// deviations for every share here, so the test does not flake.
constexpr int kRequests = 10000;
constexpr double kTolerancePoints = 3.0;

struct ExpectedShare {
  std::string backend;
  std::string cluster;  // the Envoy cluster that leads to the backend
  double weight = 0;
};

// Every weighted cluster anywhere in a config dump tree, name -> weight.
void CollectWeights(const google::protobuf::Value& value, std::map<std::string, double>& weights) {
  if (value.has_struct_value()) {
    const auto& fields = value.struct_value().fields();
    auto weighted = fields.find("weighted_clusters");
    if (weighted != fields.end()) {
      const auto& clusters = weighted->second.struct_value().fields().find("clusters");
      if (clusters != weighted->second.struct_value().fields().end()) {
        for (const auto& cluster : clusters->second.list_value().values()) {
          const auto& entry = cluster.struct_value().fields();
          auto name = entry.find("name");
          auto weight = entry.find("weight");
          if (name == entry.end()) continue;
          weights[name->second.string_value()] =
              weight == entry.end() ? 0 : weight->second.number_value();
        }
      }
    }
    for (const auto& [key, child] : fields) CollectWeights(child, weights);
  } else if (value.has_list_value()) {
    for (const auto& child : value.list_value().values()) CollectWeights(child, weights);
  }
}

class PropsyTrafficSplitTest : public PropsyEnvoyTest {
 protected:
  // Writes `web` (and `web-canary` when canary_percent > 0) with one backend
  // per zone and the canary backend in zone-a, starts everything and
  // measures. Backends are named "web-<zone>" and "web-canary".
  void RunScenario(const std::string& label, int percent, int canary_percent,
                   const std::vector<ExpectedShare>& expected) {
    const int port = FreePort();
    ServiceManifest service;
    service.name = "web";
    service.service = "web";
    service.listen_port = port;
    service.percent = percent;
    if (canary_percent > 0) {
      service.canary_service = "web-canary";
      service.canary_percent = canary_percent;
    }
    WriteConfig("zone-a", "web.yaml", ServiceYaml(service));
    // The other zones define the same service with another percent, which
    // must have no effect (the local definition governs).
    ServiceManifest foreign = service;
    foreign.percent = 50;
    foreign.canary_service = "";
    for (size_t i = 1; i < zones_.size(); ++i) {
      WriteConfig(zones_[i].name, "web.yaml", ServiceYaml(foreign));
    }
    for (const ZoneLayout& zone : zones_) {
      test::HttpBackend& backend = AddHttpBackend("web-" + zone.name);
      WriteEndpoints(zone.name, "web.yaml",
                     SliceYaml({.name = "web-" + zone.name,
                                .service = "web",
                                .port = backend.port(),
                                .port_name = "http",
                                .address = "127.0.0.1",
                                .ready = true}));
    }
    if (canary_percent > 0) {
      test::HttpBackend& canary = AddHttpBackend("web-canary");
      WriteEndpoints("zone-a", "canary.yaml",
                     SliceYaml({.name = "web-canary-a",
                                .service = "web-canary",
                                .port = canary.port(),
                                .port_name = "http",
                                .address = "127.0.0.1",
                                .ready = true}));
    }
    ASSERT_NO_FATAL_FAILURE(StartAll());
    ASSERT_NO_FATAL_FAILURE(WaitForListener(port));
    Measure(label, port, expected);
  }

  // Waits until every expected backend answered, checks the weights of the
  // route Envoy holds, then measures the shares over kRequests requests.
  void Measure(const std::string& label, int port, const std::vector<ExpectedShare>& expected) {
    // Converged: every expected backend answers before measuring.
    std::map<std::string, int> warmup;
    ASSERT_TRUE(test::WaitFor(
        [&] {
          for (const auto& [body, count] : CountBodies(port, "/", 50)) warmup[body] += count;
          for (const ExpectedShare& share : expected) {
            if (!warmup.contains(share.backend)) return false;
          }
          return true;
        },
        30s, 100ms))
        << "not every backend answered; seen: " << testing::PrintToString(warmup) << "\n"
        << Diagnostics();

    // The route Envoy holds carries exactly the weights of SPEC §3.
    std::map<std::string, double> expected_weights;
    for (const ExpectedShare& share : expected) expected_weights[share.cluster] = share.weight;
    absl::StatusOr<google::protobuf::Struct> routes =
        envoy_->ConfigDump("resource=dynamic_route_configs");
    ASSERT_TRUE(routes.ok()) << routes.status().ToString();
    google::protobuf::Value root;
    *root.mutable_struct_value() = *routes;
    std::map<std::string, double> weights;
    CollectWeights(root, weights);
    EXPECT_EQ(weights, expected_weights) << routes->ShortDebugString();

    const auto start = std::chrono::steady_clock::now();
    std::map<std::string, int> counts = CountBodies(port, "/", kRequests);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);

    double total_weight = 0;
    for (const ExpectedShare& share : expected) total_weight += share.weight;
    int total = 0;
    for (const auto& [body, count] : counts) total += count;
    EXPECT_EQ(total, kRequests);
    std::string report =
        fmt::format("[shares] {}: {} requests in {} ms:", label, total, took.count());
    for (const ExpectedShare& share : expected) {
      auto found = counts.find(share.backend);
      const int count = found == counts.end() ? 0 : found->second;
      const double measured = 100.0 * count / std::max(total, 1);
      const double wanted = 100.0 * share.weight / total_weight;
      report += fmt::format(" {} {:.1f}% (expected {:.1f}%, weight {}/{});", share.backend,
                            measured, wanted, share.weight, total_weight);
      EXPECT_NEAR(measured, wanted, kTolerancePoints) << share.backend;
    }
    std::cout << report << "\n";
    RecordProperty("shares", report);
    for (const auto& [body, count] : counts) {
      bool known = false;
      for (const ExpectedShare& share : expected) known = known || share.backend == body;
      EXPECT_TRUE(known) << count << " answers from unexpected " << body;
    }
  }
};

// zone-a: percent 80, canary 10; zone-b has endpoints (k = 1):
// weights 80 / 20 / 10 of 110.
TEST_F(PropsyTrafficSplitTest, CanaryAndOneRemoteZone) {
  RunScenario("percent 80, canary 10, k=1", 80, 10,
              {{.backend = "web-zone-a", .cluster = "shop/web/primary", .weight = 80},
               {.backend = "web-zone-b", .cluster = "shop/web/remote/zone-b", .weight = 20},
               {.backend = "web-canary", .cluster = "shop/web/canary", .weight = 10}});
}

// The seed's example: percent 30, canary 5, k = 1: 30 / 70 / 5 of 105.
TEST_F(PropsyTrafficSplitTest, SeedExample) {
  RunScenario("percent 30, canary 5, k=1 (seed)", 30, 5,
              {{.backend = "web-zone-a", .cluster = "shop/web/primary", .weight = 30},
               {.backend = "web-zone-b", .cluster = "shop/web/remote/zone-b", .weight = 70},
               {.backend = "web-canary", .cluster = "shop/web/canary", .weight = 5}});
}

// The primary is the first endpoint cluster in order that has endpoints:
// with none in zone-a, zone-b is the primary and there is no remote (k = 0),
// so it gets everything; once zone-a has endpoints, percent applies.
TEST_F(PropsyTrafficSplitTest, PrimaryIsFirstZoneWithEndpoints) {
  test::HttpBackend& zone_a = AddHttpBackend("web-zone-a");
  test::HttpBackend& zone_b = AddHttpBackend("web-zone-b");
  const int port = FreePort();
  ServiceManifest service;
  service.name = "web";
  service.service = "web";
  service.listen_port = port;
  service.percent = 80;
  WriteConfig("zone-a", "web.yaml", ServiceYaml(service));
  WriteEndpoints("zone-b", "web.yaml",
                 SliceYaml({.name = "web-zone-b",
                            .service = "web",
                            .port = zone_b.port(),
                            .port_name = "http",
                            .address = "127.0.0.1",
                            .ready = true}));
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));
  Answer last;
  ASSERT_TRUE(WaitForBody(port, "/", "web-zone-b", 20s, &last)) << last.status << " " << last.body;
  EXPECT_EQ(CountBodies(port, "/", 200), (std::map<std::string, int>{{"web-zone-b", 200}}));
  const ListenerCounters before = ReadListenerCounters();

  WriteEndpoints("zone-a", "web.yaml",
                 SliceYaml({.name = "web-zone-a",
                            .service = "web",
                            .port = zone_a.port(),
                            .port_name = "http",
                            .address = "127.0.0.1",
                            .ready = true}));
  Measure("percent 80, zone-a endpoints added, k=1", port,
          {{.backend = "web-zone-a", .cluster = "shop/web/primary", .weight = 80},
           {.backend = "web-zone-b", .cluster = "shop/web/remote/zone-b", .weight = 20}});
  ExpectListenersUntouched(before);  // weights travel over RDS
}

// Two remote zones (k = 2), percent 60: primary 60·2 = 120, each remote
// 100 − 60 = 40, of 200.
TEST_F(PropsyTrafficSplitTest, TwoRemoteZones) {
  zones_ = {{.name = "zone-a", .priority = 0},
            {.name = "zone-b", .priority = 1},
            {.name = "zone-c", .priority = 2}};
  RunScenario("percent 60, k=2", 60, 0,
              {{.backend = "web-zone-a", .cluster = "shop/web/primary", .weight = 120},
               {.backend = "web-zone-b", .cluster = "shop/web/remote/zone-b", .weight = 40},
               {.backend = "web-zone-c", .cluster = "shop/web/remote/zone-c", .weight = 40}});
}

}  // namespace
}  // namespace propsy::e2e
