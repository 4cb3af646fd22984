#include "control/world_config_watcher.h"

#include <gtest/gtest.h>

#include <vector>

#include "envoy/config/listener/v3/listener.pb.h"

namespace propsy::control {
namespace {

model::ProPsyService Service(const std::string& name, uint32_t port, std::string node = "*") {
  model::ProPsyService service;
  service.meta.key = {"shop", name};
  service.spec.service = name;
  service.spec.service_port = 8080;
  service.spec.listen = {.host = "0.0.0.0", .port = port};
  service.spec.nodes = {std::move(node)};
  service.spec.percent = 100;
  return service;
}

model::WorldPtr WorldWith(const std::vector<model::ProPsyService>& services,
                          const std::string& endpoint_ip = "10.0.0.1") {
  auto config = std::make_shared<model::ClusterObjects>();
  for (const auto& service : services) {
    config->services[service.meta.key] = model::Entry<model::ProPsyService>{
        .last_good = service, .latest_meta = service.meta, .error = absl::OkStatus()};
  }
  auto endpoints = std::make_shared<model::ClusterObjects>();
  for (const auto& service : services) {
    model::EndpointSlice slice;
    slice.meta.key = {"shop", service.meta.key.name + "-1"};
    slice.service_name = service.spec.service;
    model::EndpointEntry endpoint;
    endpoint.addresses = {endpoint_ip};
    slice.endpoints.push_back(endpoint);
    auto set = std::make_shared<model::ServiceEndpoints>();
    set->slices[slice.meta.key.name] = model::Entry<model::EndpointSlice>{
        .last_good = slice, .latest_meta = slice.meta, .error = absl::OkStatus()};
    endpoints->endpoints[slice.ServiceKey()] = set;
  }
  auto world = std::make_shared<model::World>();
  world->config_clusters.push_back(
      model::ClusterView{.info = {.name = "a", .source = "dir:a", .zone = "a", .priority = 0},
                         .objects = config,
                         .synced = true,
                         .stale = false,
                         .stale_since_unix_ms = 0});
  world->endpoint_clusters.push_back(
      model::ClusterView{.info = {.name = "a0", .source = "dir:a", .zone = "a", .priority = 0},
                         .objects = endpoints,
                         .synced = true,
                         .stale = false,
                         .stale_since_unix_ms = 0});
  return world;
}

xds::NodeInfo Node(std::string id) { return {.id = std::move(id), .zone = "", .uses_ads = true}; }

WorldConfigWatcher MakeWatcher() {
  return WorldConfigWatcher(
      translate::TranslateOptions{.default_zone = "a", .xds_cluster_name = "xds_cluster"});
}

TEST(WorldConfigWatcherTest, ServesNothingBeforeTheFirstPublish) {
  WorldConfigWatcher watcher = MakeWatcher();
  EXPECT_EQ(watcher.Fetch(Node("n1")), nullptr);
  int calls = 0;
  auto handle = watcher.Watch(Node("n1"), [&](xds::SnapshotPtr) { ++calls; });
  EXPECT_EQ(calls, 0);

  watcher.Publish(WorldWith({Service("web", 80)}));
  EXPECT_EQ(calls, 1);
  xds::SnapshotPtr snapshot = watcher.Fetch(Node("n1"));
  ASSERT_NE(snapshot, nullptr);
  EXPECT_EQ(snapshot->Of(xds::ResourceType::kListener).by_name.count("0.0.0.0:80"), 1u);
  EXPECT_EQ(snapshot->Of(xds::ResourceType::kCluster).by_name.count("shop/web/primary"), 1u);
}

TEST(WorldConfigWatcherTest, NotifiesOnlyWhenTheNodesSnapshotChanges) {
  WorldConfigWatcher watcher = MakeWatcher();
  watcher.Publish(WorldWith({Service("web", 80, "n1"), Service("other", 81, "n2")}));
  std::vector<xds::SnapshotPtr> seen;
  auto handle = watcher.Watch(Node("n1"), [&](xds::SnapshotPtr s) { seen.push_back(s); });
  ASSERT_EQ(seen.size(), 1u);

  // Equal world: nothing new for n1.
  watcher.Publish(WorldWith({Service("web", 80, "n1"), Service("other", 81, "n2")}));
  EXPECT_EQ(seen.size(), 1u);
  // A change that only concerns n2: still nothing for n1.
  watcher.Publish(WorldWith({Service("web", 80, "n1"), Service("other", 82, "n2")}));
  EXPECT_EQ(seen.size(), 1u);
  // An endpoint change of n1's service: a new snapshot whose listener is the
  // very same resource (no listener churn).
  watcher.Publish(WorldWith({Service("web", 80, "n1"), Service("other", 82, "n2")}, "10.0.0.9"));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0]->Of(xds::ResourceType::kListener).version,
            seen[1]->Of(xds::ResourceType::kListener).version);
  EXPECT_NE(seen[0]->Of(xds::ResourceType::kEndpoint).version,
            seen[1]->Of(xds::ResourceType::kEndpoint).version);
}

TEST(WorldConfigWatcherTest, NodesWithEqualResourcesShareInternedResources) {
  WorldConfigWatcher watcher = MakeWatcher();
  watcher.Publish(WorldWith({Service("web", 80)}));
  xds::SnapshotPtr a = watcher.Fetch(Node("n1"));
  xds::SnapshotPtr b = watcher.Fetch(Node("n2"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->Of(xds::ResourceType::kCluster).by_name.at("shop/web/primary"),
            b->Of(xds::ResourceType::kCluster).by_name.at("shop/web/primary"));
}

TEST(WorldConfigWatcherTest, CancelledWatchIsQuiet) {
  WorldConfigWatcher watcher = MakeWatcher();
  int calls = 0;
  auto handle = watcher.Watch(Node("n1"), [&](xds::SnapshotPtr) { ++calls; });
  handle.reset();
  watcher.Publish(WorldWith({Service("web", 80)}));
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace propsy::control
