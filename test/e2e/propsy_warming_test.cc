// Cluster warming with a real Envoy: a change to a Cluster alone (its
// connect timeout) makes Envoy build a new cluster that re-requests its
// ClusterLoadAssignment and stays warming until it gets one. The load
// assignment itself is unchanged, so a server that only sends what changed
// leaves the cluster warming until Envoy's initial_fetch_timeout (15 s).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <tuple>

#include "e2e/propsy_e2e_fixture.h"
#include "support/wait.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;

constexpr char kCluster[] = "shop/web/primary";

struct WarmingCase {
  bool delta = false;
  bool with_endpoints = false;
};

class PropsyWarmingTest : public PropsyEnvoyTest, public testing::WithParamInterface<WarmingCase> {
 protected:
  void SetUp() override {
    delta_xds_ = GetParam().delta;
    PropsyEnvoyTest::SetUp();
  }

  // The active cluster's connect_timeout as Envoy's config dump shows it
  // ("" while there is no active cluster of that name).
  std::string ActiveConnectTimeout() {
    absl::StatusOr<std::string> dump =
        envoy_->AdminGet("/config_dump?resource=dynamic_active_clusters");
    if (!dump.ok()) return "";
    absl::StatusOr<rapidjson::Document> json = ParseJson(*dump);
    if (!json.ok() || !json->HasMember("configs")) return "";
    for (const auto& config : (*json)["configs"].GetArray()) {
      if (!config.HasMember("cluster")) continue;
      const auto& cluster = config["cluster"];
      if (!cluster.HasMember("name") || std::string(cluster["name"].GetString()) != kCluster) {
        continue;
      }
      return cluster.HasMember("connect_timeout") ? cluster["connect_timeout"].GetString() : "";
    }
    return "";
  }

  int64_t StatOrMinusOne(const std::string& name) {
    absl::StatusOr<int64_t> value = envoy_->Stat(name);
    return value.ok() ? *value : -1;
  }
};

// The new cluster is active and nothing warms well within Envoy's
// initial_fetch_timeout (15 s), and its EDS fetch did not time out.
TEST_P(PropsyWarmingTest, ClusterChangeWarmsWithoutWaitingForTheFetchTimeout) {
  test::HttpBackend& web = AddHttpBackend("web-a");
  const int http_port = FreePort();
  ServiceManifest service;
  service.name = "web";
  service.service = "web";
  service.listen_port = http_port;
  service.connect_timeout = 1000;
  WriteConfig("zone-a", "web.yaml", ServiceYaml(service));
  if (GetParam().with_endpoints) {
    WriteEndpoints("zone-a", "web.yaml",
                   SliceYaml({.name = "web-a", .service = "web", .port = web.port()}));
  }
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(http_port));
  ASSERT_TRUE(test::WaitFor([&] { return ActiveConnectTimeout() == "1s"; }, 20s, 50ms))
      << Diagnostics();
  if (GetParam().with_endpoints) {
    Answer last;
    ASSERT_TRUE(WaitForBody(http_port, "/", "web-a", 20s, &last))
        << last.status << " " << last.body;
  }
  const std::string fetch_timeouts = fmt::format("cluster.{}.init_fetch_timeout", kCluster);
  const int64_t timeouts_before = StatOrMinusOne(fetch_timeouts);

  service.connect_timeout = 2000;
  const auto changed = std::chrono::steady_clock::now();
  WriteConfig("zone-a", "web.yaml", ServiceYaml(service));
  ASSERT_TRUE(test::WaitFor([&] { return ActiveConnectTimeout() == "2s"; }, 30s, 20ms))
      << "the changed cluster never became active\n"
      << Diagnostics();
  ASSERT_TRUE(test::WaitFor([&] { return StatOrMinusOne("cluster_manager.warming_clusters") == 0; },
                            30s, 20ms))
      << Diagnostics();
  const auto warmed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - changed);
  RecordProperty("warmed_ms", static_cast<int>(warmed.count()));
  // Well under the 15 s fetch timeout: the dir: source and the debounce take
  // well under a second here.
  EXPECT_LT(warmed, 5s) << "the cluster change took " << warmed.count() << " ms to warm\n"
                        << Diagnostics();
  EXPECT_EQ(StatOrMinusOne(fetch_timeouts), timeouts_before)
      << "Envoy's EDS fetch for the new cluster timed out\n"
      << Diagnostics();
  if (GetParam().with_endpoints) {
    EXPECT_EQ(CountBodies(http_port, "/", 10), (std::map<std::string, int>{{"web-a", 10}}));
  }
}

INSTANTIATE_TEST_SUITE_P(Protocols, PropsyWarmingTest,
                         testing::Values(WarmingCase{.delta = false, .with_endpoints = true},
                                         WarmingCase{.delta = false, .with_endpoints = false},
                                         WarmingCase{.delta = true, .with_endpoints = true},
                                         WarmingCase{.delta = true, .with_endpoints = false}),
                         [](const testing::TestParamInfo<WarmingCase>& info) {
                           return std::string(info.param.delta ? "Delta" : "Sotw") +
                                  (info.param.with_endpoints ? "WithEndpoints" : "NoEndpoints");
                         });

}  // namespace
}  // namespace propsy::e2e
