#include "control/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "support/wait.h"

namespace propsy::control {
namespace {

using std::chrono::milliseconds;

model::ClusterInfo Cluster(std::string name, std::string zone, int priority = 0) {
  return model::ClusterInfo{
      .name = std::move(name), .source = "dir:/x", .zone = std::move(zone), .priority = priority};
}

sources::ClusterState Synced() {
  sources::ClusterState state;
  state.objects = std::make_shared<const model::ClusterObjects>();
  state.synced = true;
  return state;
}

// Records every published world.
struct Published {
  std::mutex mu;
  std::vector<model::WorldPtr> worlds;

  Controller::PublishFn Fn() {
    return [this](model::WorldPtr world) {
      std::lock_guard lock(mu);
      worlds.push_back(std::move(world));
    };
  }
  size_t count() {
    std::lock_guard lock(mu);
    return worlds.size();
  }
  model::WorldPtr last() {
    std::lock_guard lock(mu);
    return worlds.empty() ? nullptr : worlds.back();
  }
};

ControllerOptions FastOptions() {
  return ControllerOptions{.local_zone = "a",
                           .quiet_window = milliseconds(20),
                           .max_delay = milliseconds(200),
                           .sync_timeout = milliseconds(30000),
                           .namespaces = {},
                           .observe_publish_delay = nullptr};
}

TEST(ControllerTest, PublishesNothingUntilEveryLocalClusterSynced) {
  Published published;
  Controller controller(FastOptions(), {Cluster("ca", "a")}, {Cluster("ea", "a")}, published.Fn());
  controller.Start();
  controller.OnConfigClusterState(0, Synced());
  std::this_thread::sleep_for(milliseconds(150));
  EXPECT_EQ(published.count(), 0u);
  EXPECT_FALSE(controller.Readiness().ok());
  EXPECT_NE(controller.Readiness().message().find("ea"), absl::string_view::npos)
      << controller.Readiness();

  controller.OnEndpointClusterState(0, Synced());
  ASSERT_TRUE(test::WaitFor([&] { return published.count() == 1; }, milliseconds(2000)));
  EXPECT_TRUE(controller.Readiness().ok());
  EXPECT_TRUE(published.last()->endpoint_clusters[0].synced);
}

TEST(ControllerTest, ServesWithoutForeignClusterAfterSyncTimeoutAndMarksItStale) {
  Published published;
  ControllerOptions options = FastOptions();
  options.sync_timeout = milliseconds(300);
  Controller controller(options, {Cluster("ca", "a"), Cluster("cb", "b")},
                        {Cluster("ea", "a", 0), Cluster("eb", "b", 1)}, published.Fn());
  controller.Start();
  controller.OnConfigClusterState(0, Synced());
  controller.OnEndpointClusterState(0, Synced());
  std::this_thread::sleep_for(milliseconds(150));
  EXPECT_EQ(published.count(), 0u) << "foreign clusters still within their sync timeout";

  ASSERT_TRUE(test::WaitFor([&] { return published.count() == 1; }, milliseconds(2000)));
  const model::World& world = *published.last();
  EXPECT_FALSE(world.config_clusters[1].synced);
  EXPECT_TRUE(world.config_clusters[1].stale);
  EXPECT_TRUE(world.endpoint_clusters[1].stale);
  EXPECT_FALSE(world.endpoint_clusters[0].stale);

  // When it finally syncs it is added and no longer stale.
  controller.OnEndpointClusterState(1, Synced());
  ASSERT_TRUE(test::WaitFor([&] { return published.count() == 2; }, milliseconds(2000)));
  EXPECT_FALSE(published.last()->endpoint_clusters[1].stale);
}

TEST(ControllerTest, LocalClusterIsWaitedForPastTheSyncTimeout) {
  Published published;
  ControllerOptions options = FastOptions();
  options.sync_timeout = milliseconds(50);
  Controller controller(options, {Cluster("ca", "a")}, {Cluster("ea", "a")}, published.Fn());
  controller.Start();
  controller.OnConfigClusterState(0, Synced());
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(published.count(), 0u);
}

TEST(ControllerTest, CoalescesBurstsIntoFewPublishes) {
  Published published;
  ControllerOptions options = FastOptions();
  options.quiet_window = milliseconds(50);
  options.max_delay = milliseconds(10000);
  Controller controller(options, {Cluster("ca", "a")}, {Cluster("ea", "a")}, published.Fn());
  controller.Start();
  controller.OnConfigClusterState(0, Synced());
  controller.OnEndpointClusterState(0, Synced());
  ASSERT_TRUE(test::WaitFor([&] { return published.count() == 1; }, milliseconds(2000)));

  // 100 events 1 ms apart after a quiet spell: the first is published at
  // once, the other 99 together once they stop.
  std::this_thread::sleep_for(milliseconds(100));
  for (int i = 0; i < 100; ++i) {
    controller.OnEndpointClusterState(0, Synced());
    std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_TRUE(test::WaitFor([&] { return published.count() >= 3; }, milliseconds(2000)));
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(published.count(), 3u);
}

TEST(ControllerTest, ALoneChangeIsPublishedWithoutWaitingForQuiet) {
  Published published;
  ControllerOptions options = FastOptions();
  options.quiet_window = milliseconds(1000);
  options.max_delay = milliseconds(5000);
  Controller controller(options, {Cluster("ca", "a")}, {Cluster("ea", "a")}, published.Fn());
  controller.Start();
  controller.OnConfigClusterState(0, Synced());
  controller.OnEndpointClusterState(0, Synced());
  ASSERT_TRUE(test::WaitFor([&] { return published.count() == 1; }, milliseconds(3000)));
  std::this_thread::sleep_for(milliseconds(1100));

  auto changed_at = std::chrono::steady_clock::now();
  controller.OnEndpointClusterState(0, Synced());
  ASSERT_TRUE(test::WaitFor([&] { return published.count() == 2; }, milliseconds(3000)));
  // Far less than the quiet window, which a trailing-only debounce would wait.
  EXPECT_LT(std::chrono::steady_clock::now() - changed_at, milliseconds(500));
}

TEST(ControllerTest, MaxDelayBoundsAContinuousStream) {
  Published published;
  ControllerOptions options = FastOptions();
  options.quiet_window = milliseconds(100);
  options.max_delay = milliseconds(150);
  Controller controller(options, {Cluster("ca", "a")}, {Cluster("ea", "a")}, published.Fn());
  controller.Start();
  controller.OnConfigClusterState(0, Synced());
  controller.OnEndpointClusterState(0, Synced());
  ASSERT_TRUE(test::WaitFor([&] { return published.count() == 1; }, milliseconds(2000)));

  // Events every 10 ms for 1 s never leave a quiet window; max delay still
  // forces publishes, about one per 150 ms.
  auto until = std::chrono::steady_clock::now() + milliseconds(1000);
  while (std::chrono::steady_clock::now() < until) {
    controller.OnEndpointClusterState(0, Synced());
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_GE(published.count(), 4u);
  EXPECT_LE(published.count(), 12u);
}

TEST(ControllerTest, StaleSourceKeepsItsLastObjects) {
  Published published;
  Controller controller(FastOptions(), {Cluster("ca", "a")}, {Cluster("ea", "a")}, published.Fn());
  controller.Start();
  auto objects = std::make_shared<model::ClusterObjects>();
  objects->endpoints[{"ns", "web"}] = std::make_shared<const model::ServiceEndpoints>();
  sources::ClusterState state = Synced();
  state.objects = objects;
  controller.OnConfigClusterState(0, Synced());
  controller.OnEndpointClusterState(0, state);
  ASSERT_TRUE(test::WaitFor([&] { return published.count() == 1; }, milliseconds(2000)));

  sources::ClusterState stale;
  stale.objects = objects;
  stale.synced = false;  // a source never "unsyncs"; the controller keeps it synced
  stale.stale = true;
  stale.stale_since_unix_ms = 1234;
  controller.OnEndpointClusterState(0, stale);
  ASSERT_TRUE(test::WaitFor([&] { return published.count() == 2; }, milliseconds(2000)));
  const model::ClusterView& view = published.last()->endpoint_clusters[0];
  EXPECT_TRUE(view.stale);
  EXPECT_TRUE(view.synced);
  EXPECT_EQ(view.stale_since_unix_ms, 1234);
  EXPECT_EQ(view.objects->endpoints.size(), 1u);
  auto clusters = controller.Clusters();
  ASSERT_EQ(clusters.size(), 2u);
  EXPECT_TRUE(clusters[1].stale);
  EXPECT_EQ(clusters[1].endpoint_services, 1u);
}

}  // namespace
}  // namespace propsy::control
