// A real Envoy whose bootstrap adds a runtime layer over ADS (layered_runtime
// → rtds_layer → rtds_config: { ads: {} }, a common setup) against the
// propsy binary. ProPsy does not serve runtime: it answers the layer as
// empty, and Envoy initializes at once (no wait for its initial fetch
// timeout), gets its listeners and serves traffic, on both ADS flavours. The
// fixture's teardown adds its checks: no NACK on either side, no rejected
// update (runtime's included).
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "e2e/propsy_e2e_fixture.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;

constexpr char kRuntimeType[] = "type.googleapis.com/envoy.service.runtime.v3.Runtime";

class PropsyRuntimeLayerTest : public PropsyEnvoyTest, public testing::WithParamInterface<bool> {};

TEST_P(PropsyRuntimeLayerTest, EnvoyWithAnRtdsLayerOverAdsGetsItsListenersAndServesTraffic) {
  delta_xds_ = GetParam();
  rtds_layer_ = true;
  test::HttpBackend& web = AddHttpBackend("web-a");
  const int port = FreePort();
  ServiceManifest service;
  service.name = "web";
  service.service = "web";
  service.listen_port = port;
  WriteConfig("zone-a", "web.yaml", ServiceYaml(service));
  WriteEndpoints("zone-a", "web.yaml",
                 SliceYaml({.name = "web-a",
                            .service = "web",
                            .port = web.port(),
                            .port_name = "http",
                            .address = "127.0.0.1",
                            .ready = true}));
  // StartEnvoy waits until Envoy is LIVE, which needs the runtime layer.
  ASSERT_NO_FATAL_FAILURE(StartAll());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));
  Answer last;
  ASSERT_TRUE(WaitForBody(port, "/", "web-a", 20s, &last))
      << last.status << " " << last.body << "\n"
      << Diagnostics();
  EXPECT_EQ(HttpGet(port, "/hello").body, "web-a");

  // Envoy's view: both layers loaded, the RTDS one answered (not given up
  // on after its initial fetch timeout), nothing rejected or failed.
  absl::StatusOr<std::map<std::string, int64_t>> runtime = envoy_->Stats("^runtime\\.");
  ASSERT_TRUE(runtime.ok()) << runtime.status().ToString();
  auto stat = [&](const std::string& name) {
    auto it = runtime->find(name);
    EXPECT_NE(it, runtime->end()) << name << " missing; runtime stats: "
                                  << testing::PrintToString(*runtime);
    return it == runtime->end() ? -1 : it->second;
  };
  EXPECT_EQ(stat("runtime.num_layers"), 2);
  EXPECT_EQ(stat("runtime.init_fetch_timeout"), 0) << "Envoy waited for the runtime layer";
  EXPECT_EQ(stat("runtime.update_rejected"), 0);
  EXPECT_EQ(stat("runtime.update_failure"), 0);
  EXPECT_GE(stat("runtime.update_success"), 1) << "the RTDS layer was never applied";
  EXPECT_EQ(stat("runtime.num_keys"), 0) << "the layer is empty";

  // ProPsy's view: counted, logged once for the node and type.
  absl::StatusOr<double> requests = propsy_->Metric(
      fmt::format("propsy_xds_unserved_type_requests_total{{type_url=\"{}\"}}", kRuntimeType));
  ASSERT_TRUE(requests.ok()) << requests.status().ToString();
  EXPECT_GE(*requests, 1);
  EXPECT_EQ(
      propsy_->process().LogLinesContaining({fmt::format("asked for {}", kRuntimeType)}).size(), 1u)
      << propsy_->LogTail();
}

INSTANTIATE_TEST_SUITE_P(AdsFlavours, PropsyRuntimeLayerTest, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Delta" : "StateOfTheWorld";
                         });

}  // namespace
}  // namespace propsy::e2e
