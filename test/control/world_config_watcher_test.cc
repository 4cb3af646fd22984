#include "control/world_config_watcher.h"

#include <gtest/gtest.h>

#include <vector>

#include "control/test_worlds.h"
#include "envoy/config/listener/v3/listener.pb.h"

namespace propsy::control {
namespace {

using testing::WorldWith;

model::ProPsyService Service(const std::string& name, uint32_t port, std::string node = "*") {
  return testing::Service(name, port, {std::move(node)});
}

xds::NodeInfo Node(std::string id) { return {.id = std::move(id), .zone = "", .uses_ads = true}; }

WorldConfigWatcher MakeWatcher() {
  return WorldConfigWatcher(
      translate::TranslateOptions{.default_zone = "a", .xds_cluster_name = "xds_cluster"});
}

TEST(WorldConfigWatcherTest, ServesNothingBeforeTheFirstPublish) {
  WorldConfigWatcher watcher = MakeWatcher();
  EXPECT_EQ(watcher.Fetch(Node("n1")), nullptr);
  int wakes = 0;
  auto handle = watcher.Watch(Node("n1"), [&] { ++wakes; });
  EXPECT_EQ(handle->Latest(), nullptr);

  watcher.Publish(WorldWith({Service("web", 80)}));
  EXPECT_EQ(wakes, 1);
  xds::SnapshotPtr snapshot = watcher.Fetch(Node("n1"));
  ASSERT_NE(snapshot, nullptr);
  EXPECT_EQ(handle->Latest(), snapshot);
  EXPECT_EQ(snapshot->Of(xds::ResourceType::kListener).by_name.count("0.0.0.0:80"), 1u);
  EXPECT_EQ(snapshot->Of(xds::ResourceType::kCluster).by_name.count("shop/web/primary"), 1u);
}

TEST(WorldConfigWatcherTest, WakesOnlyWhenTheNodesSnapshotChanges) {
  WorldConfigWatcher watcher = MakeWatcher();
  watcher.Publish(WorldWith({Service("web", 80, "n1"), Service("other", 81, "n2")}));
  int wakes = 0;
  auto handle = watcher.Watch(Node("n1"), [&] { ++wakes; });
  xds::SnapshotPtr first = handle->Latest();
  ASSERT_NE(first, nullptr);

  // Equal world: nothing new for n1.
  watcher.Publish(WorldWith({Service("web", 80, "n1"), Service("other", 81, "n2")}));
  EXPECT_EQ(wakes, 0);
  // A change that only concerns n2: still nothing for n1.
  watcher.Publish(WorldWith({Service("web", 80, "n1"), Service("other", 82, "n2")}));
  EXPECT_EQ(wakes, 0);
  // An endpoint change of n1's service: a new snapshot whose listener is the
  // very same resource (no listener churn).
  watcher.Publish(WorldWith({Service("web", 80, "n1"), Service("other", 82, "n2")}, "10.0.0.9"));
  EXPECT_EQ(wakes, 1);
  xds::SnapshotPtr second = handle->Latest();
  EXPECT_EQ(first->Of(xds::ResourceType::kListener).version,
            second->Of(xds::ResourceType::kListener).version);
  EXPECT_NE(first->Of(xds::ResourceType::kEndpoint).version,
            second->Of(xds::ResourceType::kEndpoint).version);
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

TEST(WorldConfigWatcherTest, NodesOfOneClassShareOneSnapshotInThePublishedMap) {
  WorldConfigWatcher watcher = MakeWatcher();
  auto a = watcher.Watch(Node("n1"), [] {});
  auto b = watcher.Watch(Node("n2"), [] {});
  watcher.Publish(WorldWith({Service("web", 80)}));
  ASSERT_NE(a->Latest(), nullptr);
  EXPECT_EQ(a->Latest(), b->Latest());
}

TEST(WorldConfigWatcherTest, SameIdWithAnotherTransportOrZoneIsAnotherNode) {
  WorldConfigWatcher watcher = MakeWatcher();
  watcher.Publish(WorldWith({Service("web", 80)}));
  xds::NodeInfo per_type = Node("n1");
  per_type.uses_ads = false;
  xds::SnapshotPtr ads = watcher.Fetch(Node("n1"));
  xds::SnapshotPtr not_ads = watcher.Fetch(per_type);
  ASSERT_NE(ads, nullptr);
  ASSERT_NE(not_ads, nullptr);
  EXPECT_NE(ads->Of(xds::ResourceType::kCluster).version,
            not_ads->Of(xds::ResourceType::kCluster).version)
      << "config sources differ between ADS and per-type nodes";
  auto watch = watcher.Watch(per_type, [] {});
  watcher.Publish(WorldWith({Service("web", 80)}, "10.0.0.9"));
  EXPECT_NE(watch->Latest()->Of(xds::ResourceType::kCluster).version,
            watcher.Fetch(Node("n1"))->Of(xds::ResourceType::kCluster).version);
}

TEST(WorldConfigWatcherTest, CancelledWatchIsQuiet) {
  WorldConfigWatcher watcher = MakeWatcher();
  int wakes = 0;
  auto handle = watcher.Watch(Node("n1"), [&] { ++wakes; });
  handle.reset();
  watcher.Publish(WorldWith({Service("web", 80)}));
  EXPECT_EQ(wakes, 0);
}

TEST(WorldConfigWatcherTest, AWatchStartedFromThePublishedMapFollowsLaterPublishes) {
  WorldConfigWatcher watcher = MakeWatcher();
  auto first = watcher.Watch(Node("n1"), [] {});
  watcher.Publish(WorldWith({Service("web", 80)}));
  // The only watch of n1 ends; n1 stays in the map for one more publish.
  first.reset();
  auto second = watcher.Watch(Node("n1"), [] {});
  watcher.Publish(WorldWith({Service("web", 80)}, "10.0.0.9"));
  watcher.Publish(WorldWith({Service("web", 80)}, "10.0.0.8"));
  EXPECT_EQ(second->Latest(), watcher.Fetch(Node("n1")));
  EXPECT_EQ(second->Latest()->Of(xds::ResourceType::kEndpoint).version,
            watcher.Fetch(Node("n1"))->Of(xds::ResourceType::kEndpoint).version);
}

}  // namespace
}  // namespace propsy::control
