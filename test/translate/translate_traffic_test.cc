// Traffic model scenarios (SPEC §3): governing definitions, endpoint cluster
// order, weights, priorities and localities, node targeting, config sources.

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "translate/resource_views.h"
#include "translate/translate.h"
#include "translate/world_builder.h"

namespace propsy::translate {
namespace {

using test::FindAssignment;
using test::FindCluster;
using test::FindRoutes;
using test::Key;
using test::Pps;
using test::Ready;
using test::RouteWeights;
using test::Slice;
using test::Weights;
using test::WorldBuilder;

// The seed's setup: config clusters foo and bar, endpoint clusters
// foo0, bar1, foo2, bar3 (zone, priority as named).
WorldBuilder SeedClusters() {
  WorldBuilder builder;
  builder.ConfigCluster("foo", "foo").ConfigCluster("bar", "bar");
  builder.EndpointCluster("foo0", "foo", 0)
      .EndpointCluster("bar1", "bar", 1)
      .EndpointCluster("foo2", "foo", 2)
      .EndpointCluster("bar3", "bar", 3);
  return builder;
}

model::ProPsyService SeedService(uint32_t percent, uint32_t canary_percent) {
  model::ProPsyService pps = Pps("shop", "web", "web");
  pps.spec.percent = percent;
  pps.spec.canary_service = "web-canary";
  pps.spec.canary_percent = canary_percent;
  return pps;
}

model::World SeedWorld() {
  return SeedClusters()
      .Service("foo", SeedService(30, 5))
      .Service("bar", SeedService(30, 10))
      .Endpoints("foo0", Slice("shop", "web", "web-a", {Ready("10.0.0.1")}))
      .Endpoints("bar1", Slice("shop", "web", "web-b", {Ready("10.1.0.1")}))
      .Endpoints("foo0", Slice("shop", "web-canary", "web-canary-a", {Ready("10.0.9.1")}))
      .Build();
}

const TranslateOptions kFoo{.default_zone = "foo", .xds_cluster_name = "xds_cluster"};

TEST(TranslateTraffic, SeedExampleWeightsFromTheLocalZone) {
  NodeResources out = Translate(SeedWorld(), {.id = "edge", .zone = "", .uses_ads = true}, kFoo);
  const auto* routes = FindRoutes(out, "0.0.0.0:80");
  ASSERT_NE(routes, nullptr);
  EXPECT_EQ(
      RouteWeights(*routes, "/"),
      (Weights{{"shop/web/primary", 30}, {"shop/web/remote/bar1", 70}, {"shop/web/canary", 5}}));
  EXPECT_EQ(
      test::Names(out.clusters),
      (std::vector<std::string>{"shop/web/canary", "shop/web/primary", "shop/web/remote/bar1"}));
  EXPECT_EQ(test::AssignmentNames(out), test::Names(out.clusters));
}

TEST(TranslateTraffic, NodeZoneOverridesTheDefaultZone) {
  // From zone bar, bar's definition governs (canary 10), bar1 is primary
  // and there is no canary endpoint in zone bar.
  NodeResources out = Translate(SeedWorld(), {.id = "edge", .zone = "bar", .uses_ads = true}, kFoo);
  const auto* routes = FindRoutes(out, "0.0.0.0:80");
  ASSERT_NE(routes, nullptr);
  EXPECT_EQ(RouteWeights(*routes, "/"),
            (Weights{{"shop/web/primary", 30}, {"shop/web/remote/foo0", 70}}));
  const auto* primary = FindAssignment(out, "shop/web/primary");
  ASSERT_NE(primary, nullptr);
  ASSERT_EQ(primary->endpoints_size(), 2);
  EXPECT_EQ(primary->endpoints(0).locality().sub_zone(), "bar1");
  EXPECT_EQ(primary->endpoints(1).locality().sub_zone(), "foo0");
}

TEST(TranslateTraffic, PrioritiesAndLocalitiesInLoadAssignments) {
  model::World world = SeedClusters()
                           .Service("foo", SeedService(50, 0))
                           .Endpoints("bar3", Slice("shop", "web", "w3", {Ready("10.3.0.1")}))
                           .Endpoints("foo2", Slice("shop", "web", "w2", {Ready("10.2.0.1")}))
                           .Endpoints("bar1", Slice("shop", "web", "w1", {Ready("10.1.0.1")}))
                           .Build();
  NodeResources out = Translate(world, {.id = "edge", .zone = "", .uses_ads = false}, kFoo);
  // foo0 has no endpoints: foo2 (local) is primary; bar1, bar3 are remotes.
  const auto* primary = FindAssignment(out, "shop/web/primary");
  ASSERT_NE(primary, nullptr);
  ASSERT_EQ(primary->endpoints_size(), 3);
  const std::vector<std::tuple<std::string, std::string, std::string>> expected = {
      {"foo", "foo2", "10.2.0.1"}, {"bar", "bar1", "10.1.0.1"}, {"bar", "bar3", "10.3.0.1"}};
  for (int i = 0; i < 3; ++i) {
    const auto& level = primary->endpoints(i);
    EXPECT_EQ(level.priority(), static_cast<uint32_t>(i));
    EXPECT_EQ(level.locality().zone(), std::get<0>(expected[i]));
    EXPECT_EQ(level.locality().sub_zone(), std::get<1>(expected[i]));
    ASSERT_EQ(level.lb_endpoints_size(), 1);
    EXPECT_EQ(level.lb_endpoints(0).endpoint().address().socket_address().address(),
              std::get<2>(expected[i]));
    EXPECT_EQ(level.lb_endpoints(0).endpoint().address().socket_address().port_value(), 8080u);
    EXPECT_EQ(level.lb_endpoints(0).health_status(), envoy::config::core::v3::HEALTHY);
  }
  const auto* remote = FindAssignment(out, "shop/web/remote/bar3");
  ASSERT_NE(remote, nullptr);
  ASSERT_EQ(remote->endpoints_size(), 1);
  EXPECT_EQ(remote->endpoints(0).priority(), 0u);
  EXPECT_EQ(remote->endpoints(0).locality().sub_zone(), "bar3");
  // k = 2: primary 50*2, each remote 50.
  EXPECT_EQ(
      RouteWeights(*FindRoutes(out, "0.0.0.0:80"), "/"),
      (Weights{
          {"shop/web/primary", 100}, {"shop/web/remote/bar1", 50}, {"shop/web/remote/bar3", 50}}));
}

TEST(TranslateTraffic, CanaryHasOnePriorityPerLocalClusterWithEndpoints) {
  model::World world =
      SeedClusters()
          .Service("foo", SeedService(100, 10))
          .Endpoints("foo0", Slice("shop", "web", "w0", {Ready("10.0.0.1")}))
          .Endpoints("foo2", Slice("shop", "web-canary", "c2", {Ready("10.2.9.1")}))
          .Endpoints("bar1", Slice("shop", "web-canary", "c1", {Ready("10.1.9.1")}))
          .Build();
  NodeResources out = Translate(world, {.id = "edge", .zone = "", .uses_ads = true}, kFoo);
  const auto* canary = FindAssignment(out, "shop/web/canary");
  ASSERT_NE(canary, nullptr);
  ASSERT_EQ(canary->endpoints_size(), 1);  // bar1 is not in the local zone
  EXPECT_EQ(canary->endpoints(0).locality().sub_zone(), "foo2");
  EXPECT_EQ(canary->endpoints(0).priority(), 0u);
  EXPECT_EQ(RouteWeights(*FindRoutes(out, "0.0.0.0:80"), "/"),
            (Weights{{"shop/web/primary", 100}, {"shop/web/canary", 10}}));
}

TEST(TranslateTraffic, ForeignOnlyDefinitionSendsEverythingToThePrimaryWithFailover) {
  model::World world =
      SeedClusters()
          .Service("bar", SeedService(30, 10))
          .Endpoints("foo0", Slice("shop", "web", "w0", {Ready("10.0.0.1")}))
          .Endpoints("bar1", Slice("shop", "web", "w1", {Ready("10.1.0.1")}))
          .Endpoints("foo0", Slice("shop", "web-canary", "c0", {Ready("10.0.9.1")}))
          .Build();
  NodeResources out = Translate(world, {.id = "edge", .zone = "", .uses_ads = true}, kFoo);
  EXPECT_EQ(RouteWeights(*FindRoutes(out, "0.0.0.0:80"), "/"),
            (Weights{{"shop/web/primary", 100}}));
  // No unused resources: remote and canary clusters are not generated.
  EXPECT_EQ(test::Names(out.clusters), std::vector<std::string>{"shop/web/primary"});
  const auto* primary = FindAssignment(out, "shop/web/primary");
  ASSERT_NE(primary, nullptr);
  ASSERT_EQ(primary->endpoints_size(), 2);  // bar1 stays as failover priority 1
  EXPECT_EQ(primary->endpoints(1).priority(), 1u);
  EXPECT_EQ(primary->endpoints(1).locality().sub_zone(), "bar1");
}

TEST(TranslateTraffic, NoEndpointsAnywhereGivesAnEmptyPrimary) {
  model::World world = SeedClusters().Service("foo", SeedService(30, 5)).Build();
  NodeResources out = Translate(world, {.id = "edge", .zone = "", .uses_ads = true}, kFoo);
  EXPECT_EQ(RouteWeights(*FindRoutes(out, "0.0.0.0:80"), "/"),
            (Weights{{"shop/web/primary", 100}}));
  const auto* primary = FindAssignment(out, "shop/web/primary");
  ASSERT_NE(primary, nullptr);
  EXPECT_EQ(primary->endpoints_size(), 0);
}

TEST(TranslateTraffic, NoEndpointClustersAtAll) {
  model::World world =
      WorldBuilder().ConfigCluster("foo", "foo").Service("foo", SeedService(30, 5)).Build();
  NodeResources out = Translate(world, {.id = "edge", .zone = "", .uses_ads = true}, kFoo);
  EXPECT_EQ(test::Names(out.clusters), std::vector<std::string>{"shop/web/primary"});
  ASSERT_EQ(out.endpoints.size(), 1u);
  EXPECT_EQ(out.endpoints[0].endpoints_size(), 0);
}

TEST(TranslateTraffic, PercentZeroSendsEverythingToRemotes) {
  model::World world = SeedClusters()
                           .Service("foo", SeedService(0, 0))
                           .Endpoints("foo0", Slice("shop", "web", "w0", {Ready("10.0.0.1")}))
                           .Endpoints("bar1", Slice("shop", "web", "w1", {Ready("10.1.0.1")}))
                           .Build();
  NodeResources out = Translate(world, {.id = "edge", .zone = "", .uses_ads = true}, kFoo);
  EXPECT_EQ(RouteWeights(*FindRoutes(out, "0.0.0.0:80"), "/"),
            (Weights{{"shop/web/remote/bar1", 100}}));
  EXPECT_EQ(FindCluster(out, "shop/web/primary"), nullptr);
  EXPECT_EQ(FindAssignment(out, "shop/web/primary"), nullptr);
}

TEST(TranslateTraffic, NodeTargeting) {
  model::ProPsyService named = Pps("ns", "named", "a");
  named.spec.nodes = {"edge-1", "edge-2"};
  named.spec.listen.port = 81;
  model::ProPsyService everyone = Pps("ns", "everyone", "b");
  everyone.spec.nodes = {"other", "*"};
  model::World world = WorldBuilder()
                           .ConfigCluster("c", "z")
                           .EndpointCluster("e", "z", 0)
                           .Service("c", named)
                           .Service("c", everyone)
                           .Build();
  const TranslateOptions options{.default_zone = "z", .xds_cluster_name = "xds_cluster"};
  EXPECT_EQ(
      test::Names(
          Translate(world, {.id = "edge-2", .zone = "", .uses_ads = true}, options).listeners),
      (std::vector<std::string>{"0.0.0.0:80", "0.0.0.0:81"}));
  EXPECT_EQ(
      test::Names(
          Translate(world, {.id = "edge-3", .zone = "", .uses_ads = true}, options).listeners),
      (std::vector<std::string>{"0.0.0.0:80"}));
}

TEST(TranslateTraffic, DisabledContributesNothing) {
  model::ProPsyService local = SeedService(30, 5);
  local.spec.disabled = true;
  model::World only_disabled = SeedClusters().Service("foo", local).Build();
  NodeResources out = Translate(only_disabled, {.id = "edge", .zone = "", .uses_ads = true}, kFoo);
  EXPECT_TRUE(out.listeners.empty());
  EXPECT_TRUE(out.clusters.empty());

  // A disabled local object lets the foreign definition govern (no percent).
  model::World with_foreign =
      SeedClusters()
          .Service("foo", local)
          .Service("bar", SeedService(30, 10))
          .Endpoints("foo0", Slice("shop", "web", "w0", {Ready("10.0.0.1")}))
          .Endpoints("bar1", Slice("shop", "web", "w1", {Ready("10.1.0.1")}))
          .Build();
  out = Translate(with_foreign, {.id = "edge", .zone = "", .uses_ads = true}, kFoo);
  EXPECT_EQ(RouteWeights(*FindRoutes(out, "0.0.0.0:80"), "/"),
            (Weights{{"shop/web/primary", 100}}));
}

TEST(TranslateTraffic, LastGoodVersionIsServedWhileTheNewestIsInvalid) {
  model::ProPsyService good = SeedService(30, 0);
  good.spec.listen.port = 8443;
  model::World world = SeedClusters()
                           .InvalidService("foo", Key("shop", "web"), "spec.percent: too big", good)
                           .InvalidService("bar", Key("shop", "other"), "spec.listen: missing")
                           .Build();
  NodeResources out = Translate(world, {.id = "edge", .zone = "", .uses_ads = true}, kFoo);
  EXPECT_EQ(test::Names(out.listeners), std::vector<std::string>{"0.0.0.0:8443"});
  EXPECT_EQ(test::Names(out.clusters), std::vector<std::string>{"shop/web/primary"});
}

TEST(TranslateTraffic, ConfigSourcesPointAtAdsOrTheXdsCluster) {
  model::World world = SeedWorld();
  const TranslateOptions options{.default_zone = "foo", .xds_cluster_name = "my_xds"};
  NodeResources ads = Translate(world, {.id = "edge", .zone = "", .uses_ads = true}, options);
  NodeResources grpc = Translate(world, {.id = "edge", .zone = "", .uses_ads = false}, options);
  const auto& ads_eds = FindCluster(ads, "shop/web/primary")->eds_cluster_config();
  EXPECT_TRUE(ads_eds.eds_config().has_ads());
  EXPECT_EQ(ads_eds.eds_config().resource_api_version(), envoy::config::core::v3::V3);
  EXPECT_EQ(ads_eds.service_name(), "shop/web/primary");
  EXPECT_TRUE(test::HcmOf(ads.listeners[0]).rds().config_source().has_ads());

  const auto& source = FindCluster(grpc, "shop/web/primary")->eds_cluster_config().eds_config();
  ASSERT_TRUE(source.has_api_config_source());
  EXPECT_EQ(source.resource_api_version(), envoy::config::core::v3::V3);
  EXPECT_EQ(source.api_config_source().api_type(), envoy::config::core::v3::ApiConfigSource::GRPC);
  EXPECT_EQ(source.api_config_source().transport_api_version(), envoy::config::core::v3::V3);
  ASSERT_EQ(source.api_config_source().grpc_services_size(), 1);
  EXPECT_EQ(source.api_config_source().grpc_services(0).envoy_grpc().cluster_name(), "my_xds");
  const auto rds = test::HcmOf(grpc.listeners[0]).rds();
  EXPECT_EQ(rds.route_config_name(), "0.0.0.0:80");
  EXPECT_EQ(rds.config_source().api_config_source().grpc_services(0).envoy_grpc().cluster_name(),
            "my_xds");
}

TEST(TranslateTraffic, IsDeterministic) {
  model::World world = SeedWorld();
  const NodeContext node{.id = "edge", .zone = "", .uses_ads = false};
  NodeResources first = Translate(world, node, kFoo);
  NodeResources second = Translate(SeedWorld(), node, kFoo);
  EXPECT_EQ(test::SerializeAll(first), test::SerializeAll(second));
  EXPECT_FALSE(test::SerializeAll(first).empty());
}

}  // namespace
}  // namespace propsy::translate
