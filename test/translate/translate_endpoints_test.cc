// Endpoints of a service in one endpoint cluster: slice conditions, ports,
// address families, duplicates and the core/v1 Endpoints fallback.

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "translate/endpoints.h"
#include "translate/resource_views.h"
#include "translate/translate.h"
#include "translate/world_builder.h"

namespace propsy::translate {
namespace {

using envoy::config::core::v3::DRAINING;
using envoy::config::core::v3::HealthStatus;
using envoy::config::core::v3::HEALTHY;
using envoy::config::core::v3::UNHEALTHY;
using test::Key;
using test::NotReady;
using test::Ready;
using test::Slice;
using test::Terminating;
using test::WorldBuilder;

using Hosts = std::vector<std::tuple<std::string, uint32_t, HealthStatus>>;

Hosts Flatten(const std::vector<HostEndpoint>& hosts) {
  Hosts flat;
  for (const HostEndpoint& host : hosts) flat.emplace_back(host.address, host.port, host.health);
  return flat;
}

Hosts Collect(const WorldBuilder& builder,
              const PortSelector& port = {.port = 8080, .port_name = ""}) {
  model::World world = builder.Build();
  return Flatten(CollectEndpoints(*world.endpoint_clusters[0].objects, Key("ns", "app"), port));
}

WorldBuilder OneCluster() {
  WorldBuilder builder;
  builder.EndpointCluster("e", "z", 0);
  return builder;
}

TEST(CollectEndpoints, ConditionsMapToHealthStatuses) {
  WorldBuilder builder = OneCluster();
  builder.Endpoints("e", Slice("ns", "app", "s1",
                               {Ready("10.0.0.1"), NotReady("10.0.0.2"),
                                Terminating("10.0.0.3", /*serving=*/true),
                                Terminating("10.0.0.4", /*serving=*/false)}));
  EXPECT_EQ(Collect(builder), (Hosts{{"10.0.0.1", 8080, HEALTHY},
                                     {"10.0.0.2", 8080, UNHEALTHY},
                                     {"10.0.0.3", 8080, DRAINING},
                                     {"10.0.0.4", 8080, DRAINING}}));
}

TEST(CollectEndpoints, DuplicatesAcrossSlicesKeepTheHealthiestStatus) {
  WorldBuilder builder = OneCluster();
  builder
      .Endpoints("e",
                 Slice("ns", "app", "s1", {NotReady("10.0.0.1"), Terminating("10.0.0.2", true)}))
      .Endpoints("e", Slice("ns", "app", "s2", {Ready("10.0.0.1"), NotReady("10.0.0.2")}))
      .Endpoints("e", Slice("ns", "app", "s3", {NotReady("10.0.0.1")}));
  EXPECT_EQ(Collect(builder), (Hosts{{"10.0.0.1", 8080, HEALTHY}, {"10.0.0.2", 8080, DRAINING}}));
}

TEST(CollectEndpoints, SortedByAddressThenPort) {
  WorldBuilder builder = OneCluster();
  builder.Endpoints("e", Slice("ns", "app", "s1", {Ready("10.0.0.9"), Ready("10.0.0.10")}))
      .Endpoints("e",
                 Slice("ns", "app", "s0", {Ready("10.0.0.1")}, {{.name = "http", .port = 9000}}));
  EXPECT_EQ(Collect(builder, {.port = 0, .port_name = "http"}),
            (Hosts{{"10.0.0.1", 9000, HEALTHY}}));
  EXPECT_EQ(Collect(builder), (Hosts{{"10.0.0.1", 8080, HEALTHY},
                                     {"10.0.0.10", 8080, HEALTHY},
                                     {"10.0.0.9", 8080, HEALTHY}}));
}

TEST(CollectEndpoints, ServicePortNameIsResolvedPerSlice) {
  WorldBuilder builder = OneCluster();
  builder
      .Endpoints("e", Slice("ns", "app", "old", {Ready("10.0.0.1")},
                            {{.name = "http", .port = 8080}, {.name = "admin", .port = 9901}}))
      .Endpoints("e",
                 Slice("ns", "app", "new", {Ready("10.0.0.2")}, {{.name = "http", .port = 8081}}))
      .Endpoints("e",
                 Slice("ns", "app", "none", {Ready("10.0.0.3")}, {{.name = "grpc", .port = 7000}}));
  EXPECT_EQ(Collect(builder, {.port = 80, .port_name = "http"}),
            (Hosts{{"10.0.0.1", 8080, HEALTHY}, {"10.0.0.2", 8081, HEALTHY}}));
}

TEST(CollectEndpoints, Ipv6IsUsedAndFqdnIgnored) {
  WorldBuilder builder = OneCluster();
  builder
      .Endpoints("e", Slice("ns", "app", "v6", {Ready("fd00::1")}, {{.name = "", .port = 8080}},
                            model::AddressType::kIpv6))
      .Endpoints("e", Slice("ns", "app", "names", {Ready("app.example.com")},
                            {{.name = "", .port = 8080}}, model::AddressType::kFqdn));
  EXPECT_EQ(Collect(builder), (Hosts{{"fd00::1", 8080, HEALTHY}}));
}

TEST(CollectEndpoints, CoreEndpointsOnlyWithoutValidSlices) {
  WorldBuilder builder = OneCluster();
  model::EndpointSlice subset =
      Slice("ns", "app", "app", {Ready("10.9.0.1"), NotReady("10.9.0.2")});
  subset.from_core_endpoints = true;
  builder.CoreEndpoints("e", Key("ns", "app"), {subset})
      .InvalidEndpoints("e", Key("ns", "app"), "bad");
  EXPECT_EQ(Collect(builder), (Hosts{{"10.9.0.1", 8080, HEALTHY}, {"10.9.0.2", 8080, UNHEALTHY}}));

  builder.Endpoints("e", Slice("ns", "app", "good", {Ready("10.0.0.1")}));
  EXPECT_EQ(Collect(builder), (Hosts{{"10.0.0.1", 8080, HEALTHY}}));
}

TEST(CollectEndpoints, OtherServicesAndNamespacesAreNotMixedIn) {
  WorldBuilder builder = OneCluster();
  builder.Endpoints("e", Slice("ns", "other", "o", {Ready("10.0.0.1")}))
      .Endpoints("e", Slice("ns2", "app", "a", {Ready("10.0.0.2")}));
  EXPECT_TRUE(Collect(builder).empty());
}

TEST(TranslateEndpoints, LoadAssignmentCarriesHealthAndIpv6) {
  model::ProPsyService pps = test::Pps("ns", "web", "app");
  model::World world =
      WorldBuilder()
          .ConfigCluster("c", "z")
          .EndpointCluster("e", "z", 0)
          .Service("c", pps)
          .Endpoints("e", Slice("ns", "app", "v6", {Ready("fd00::2"), Terminating("fd00::1", true)},
                                {{.name = "", .port = 8080}}, model::AddressType::kIpv6))
          .Build();
  NodeResources out = Translate(world, {.id = "n", .zone = "", .uses_ads = true},
                                {.default_zone = "z", .xds_cluster_name = "xds_cluster"});
  const auto* assignment = test::FindAssignment(out, "ns/web/primary");
  ASSERT_NE(assignment, nullptr);
  ASSERT_EQ(assignment->endpoints_size(), 1);
  const auto& level = assignment->endpoints(0);
  ASSERT_EQ(level.lb_endpoints_size(), 2);
  EXPECT_EQ(level.lb_endpoints(0).endpoint().address().socket_address().address(), "fd00::1");
  EXPECT_EQ(level.lb_endpoints(0).health_status(), DRAINING);
  EXPECT_EQ(level.lb_endpoints(1).endpoint().address().socket_address().address(), "fd00::2");
  EXPECT_EQ(level.lb_endpoints(1).health_status(), HEALTHY);
}

TEST(OrderEndpointClusters, LocalZoneFirstThenByPriority) {
  model::World world = WorldBuilder()
                           .EndpointCluster("b5", "b", 5)
                           .EndpointCluster("a7", "a", 7)
                           .EndpointCluster("b1", "b", 1)
                           .EndpointCluster("a2", "a", 2)
                           .Build();
  EXPECT_EQ(OrderEndpointClusters(world, "a"), (std::vector<size_t>{3, 1, 2, 0}));
  EXPECT_EQ(OrderEndpointClusters(world, "b"), (std::vector<size_t>{2, 0, 3, 1}));
  EXPECT_EQ(OrderEndpointClusters(world, "c"), (std::vector<size_t>{2, 3, 0, 1}));
}

}  // namespace
}  // namespace propsy::translate
