#include "control/controller.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
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
  absl::Mutex mu;
  std::vector<model::WorldPtr> worlds ABSL_GUARDED_BY(mu);

  Controller::PublishFn Fn() {
    return [this](model::WorldPtr world) {
      absl::MutexLock lock(&mu);
      worlds.push_back(std::move(world));
    };
  }
  size_t count() {
    absl::MutexLock lock(&mu);
    return worlds.size();
  }
  model::WorldPtr last() {
    absl::MutexLock lock(&mu);
    return worlds.empty() ? nullptr : worlds.back();
  }
};

ControllerOptions FastOptions() {
  return ControllerOptions{.local_zone = "a",
                           .quiet_window = milliseconds(20),
                           .max_delay = milliseconds(200),
                           .sync_timeout = milliseconds(30000),
                           .observe_publish_delay = nullptr,
                           .publish_statuses = nullptr};
}

// A controller on simulated time. Every step waits until the controller
// thread has handled it and waits again, so what a test then sees is what
// the controller did at that simulated moment: no real sleeps, no races.
class Harness {
 public:
  Harness(ControllerOptions options, std::vector<model::ClusterInfo> config,
          std::vector<model::ClusterInfo> endpoint)
      : controller(std::move(options), std::move(config), std::move(endpoint), published.Fn(),
                   clock) {
    controller.Start();
    EXPECT_TRUE(clock.AwaitWaiters(1)) << "the controller thread waits";
  }

  void Config(size_t index, sources::ClusterState state) {
    Settle([&] { controller.OnConfigClusterState(index, std::move(state)); });
  }
  void Endpoint(size_t index, sources::ClusterState state) {
    Settle([&] { controller.OnEndpointClusterState(index, std::move(state)); });
  }
  // Moves time; returns whether that reached the controller's deadline
  // (it then woke, did its work and waits again).
  bool Advance(Clock::Duration by) {
    bool woke = false;
    Settle([&] { woke = clock.Advance(by) > 0; }, &woke);
    return woke;
  }
  // Moves time past a deadline the controller waits for.
  void AdvanceToWake(Clock::Duration by) { EXPECT_TRUE(Advance(by)) << "no deadline reached"; }
  // Moves time without reaching the controller's deadline.
  void AdvanceQuietly(Clock::Duration by) { EXPECT_FALSE(Advance(by)) << "a deadline reached"; }

  SimulatedClock clock;
  Published published;
  Controller controller;

 private:
  // Runs `step` and, if it wakes the controller (`woke` unset or true after
  // it), waits until the controller thread woke and waits again.
  template <typename Step>
  void Settle(Step step, const bool* woke = nullptr) {
    const uint64_t before = clock.wakeups();
    step();
    if (woke != nullptr && !*woke) return;
    EXPECT_TRUE(test::WaitFor([&] { return clock.wakeups() > before && clock.waiters() == 1; },
                              milliseconds(10000), milliseconds(1)))
        << "the controller thread did not wake and wait again";
  }
};

TEST(ControllerTest, PublishesNothingUntilEveryLocalClusterSynced) {
  Harness h(FastOptions(), {Cluster("ca", "a")}, {Cluster("ea", "a")});
  h.Config(0, Synced());
  h.AdvanceToWake(milliseconds(150));
  EXPECT_EQ(h.published.count(), 0u);
  EXPECT_FALSE(h.controller.Readiness().ok());
  EXPECT_NE(h.controller.Readiness().message().find("ea"), absl::string_view::npos)
      << h.controller.Readiness();

  h.Endpoint(0, Synced());
  h.AdvanceToWake(milliseconds(20));
  EXPECT_EQ(h.published.count(), 1u);
  EXPECT_TRUE(h.controller.Readiness().ok());
  EXPECT_TRUE(h.published.last()->endpoint_clusters[0].synced);
}

TEST(ControllerTest, ServesWithoutForeignClusterAfterSyncTimeoutAndMarksItStale) {
  ControllerOptions options = FastOptions();
  options.sync_timeout = milliseconds(300);
  Harness h(options, {Cluster("ca", "a"), Cluster("cb", "b")},
            {Cluster("ea", "a", 0), Cluster("eb", "b", 1)});
  h.Config(0, Synced());
  h.Endpoint(0, Synced());
  h.AdvanceToWake(milliseconds(150));
  EXPECT_EQ(h.published.count(), 0u) << "foreign clusters still within their sync timeout";
  h.AdvanceQuietly(milliseconds(149));
  EXPECT_EQ(h.published.count(), 0u);

  h.AdvanceToWake(milliseconds(1));
  ASSERT_EQ(h.published.count(), 1u) << "published exactly at the sync timeout";
  const model::World& world = *h.published.last();
  EXPECT_FALSE(world.config_clusters[1].synced);
  EXPECT_TRUE(world.config_clusters[1].stale);
  EXPECT_TRUE(world.endpoint_clusters[1].stale);
  EXPECT_FALSE(world.endpoint_clusters[0].stale);
  // Stale since the simulated moment the timeout passed.
  EXPECT_EQ(world.endpoint_clusters[1].stale_since_unix_ms,
            std::chrono::duration_cast<milliseconds>(h.clock.WallNow().time_since_epoch()).count());

  // When it finally syncs it is added and no longer stale.
  h.AdvanceQuietly(milliseconds(1000));
  h.Endpoint(1, Synced());
  EXPECT_EQ(h.published.count(), 2u) << "a lone change after a quiet spell goes out at once";
  EXPECT_FALSE(h.published.last()->endpoint_clusters[1].stale);
}

TEST(ControllerTest, LocalClusterIsWaitedForPastTheSyncTimeout) {
  ControllerOptions options = FastOptions();
  options.sync_timeout = milliseconds(50);
  Harness h(options, {Cluster("ca", "a")}, {Cluster("ea", "a")});
  h.Config(0, Synced());
  h.AdvanceToWake(milliseconds(50));
  h.AdvanceQuietly(std::chrono::hours(1));
  EXPECT_EQ(h.published.count(), 0u);
  EXPECT_FALSE(h.controller.Readiness().ok());
}

TEST(ControllerTest, CoalescesBurstsIntoFewPublishes) {
  ControllerOptions options = FastOptions();
  options.quiet_window = milliseconds(50);
  options.max_delay = milliseconds(10000);
  Harness h(options, {Cluster("ca", "a")}, {Cluster("ea", "a")});
  h.Config(0, Synced());
  h.Endpoint(0, Synced());
  h.AdvanceToWake(milliseconds(50));
  ASSERT_EQ(h.published.count(), 1u);

  // 100 events 1 ms apart after a quiet spell: the first is published at
  // once, the other 99 together once they stop.
  h.AdvanceQuietly(milliseconds(100));
  for (int i = 0; i < 100; ++i) {
    h.Endpoint(0, Synced());
    if (i == 0) {
      EXPECT_EQ(h.published.count(), 2u) << "the first event of a burst goes at once";
    }
    h.AdvanceQuietly(milliseconds(1));
  }
  EXPECT_EQ(h.published.count(), 2u) << "the rest wait for a quiet window";
  h.AdvanceQuietly(milliseconds(48));
  EXPECT_EQ(h.published.count(), 2u);
  h.AdvanceToWake(milliseconds(1));
  EXPECT_EQ(h.published.count(), 3u) << "50 ms after the last event";
  h.AdvanceQuietly(std::chrono::hours(1));
  EXPECT_EQ(h.published.count(), 3u);
}

TEST(ControllerTest, ALoneChangeIsPublishedWithoutWaitingForQuiet) {
  ControllerOptions options = FastOptions();
  options.quiet_window = milliseconds(1000);
  options.max_delay = milliseconds(5000);
  Harness h(options, {Cluster("ca", "a")}, {Cluster("ea", "a")});
  h.Config(0, Synced());
  h.Endpoint(0, Synced());
  h.AdvanceToWake(milliseconds(1000));
  ASSERT_EQ(h.published.count(), 1u);
  h.AdvanceQuietly(milliseconds(1100));

  h.Endpoint(0, Synced());
  // No simulated time passed: a trailing-only debounce would wait 1 s.
  EXPECT_EQ(h.published.count(), 2u);
}

TEST(ControllerTest, AStatusOnlyChangeIsNoPublish) {
  Published statuses;  // outlives the harness and its thread
  ControllerOptions options = FastOptions();
  options.quiet_window = milliseconds(1000);
  options.max_delay = milliseconds(5000);
  options.publish_statuses = statuses.Fn();
  Harness h(options, {Cluster("ca", "a")}, {Cluster("ea", "a")});
  const sources::ClusterState config = Synced();
  h.Config(0, config);
  h.Endpoint(0, Synced());
  h.AdvanceToWake(milliseconds(1000));
  ASSERT_EQ(h.published.count(), 1u);
  h.AdvanceQuietly(milliseconds(1100));

  // A status write came back: the same configuration, new statuses.
  sources::ClusterState written = config;
  auto shown = std::make_shared<model::ShownStatuses>();
  (*shown)[{"ns", "web"}] = model::ShownStatus{.resource_version = "2", .status = {}};
  written.statuses = shown;
  h.Config(0, written);
  EXPECT_EQ(h.published.count(), 1u) << "a status-only change was published for translation";
  ASSERT_EQ(statuses.count(), 1u);
  EXPECT_EQ(statuses.last()->config_clusters[0].statuses, shown);
  EXPECT_EQ(statuses.last()->config_clusters[0].objects, config.objects);
  EXPECT_EQ(h.controller.publishes(), 1u);
  EXPECT_EQ(h.controller.status_publishes(), 1u);

  // A real change right after it goes out at once: the status-only World
  // was no publish for the debounce either.
  h.AdvanceQuietly(milliseconds(1));
  h.Endpoint(0, Synced());
  ASSERT_EQ(h.published.count(), 2u);
  EXPECT_EQ(h.published.last()->config_clusters[0].statuses, shown)
      << "a published World carries the newest statuses too";
  EXPECT_EQ(statuses.count(), 1u);
}

TEST(ControllerTest, MaxDelayBoundsAContinuousStream) {
  ControllerOptions options = FastOptions();
  options.quiet_window = milliseconds(100);
  options.max_delay = milliseconds(150);
  Harness h(options, {Cluster("ca", "a")}, {Cluster("ea", "a")});
  h.Config(0, Synced());
  h.Endpoint(0, Synced());
  h.AdvanceToWake(milliseconds(100));
  ASSERT_EQ(h.published.count(), 1u);

  // Events every 10 ms for 1 s never leave a quiet window; the max delay
  // still forces a publish 150 ms after the first unpublished event.
  std::vector<int> published_at_ms;
  for (int ms = 0; ms < 1000; ms += 10) {
    h.Endpoint(0, Synced());
    size_t before = h.published.count();
    h.Advance(milliseconds(10));
    if (h.published.count() != before) published_at_ms.push_back(ms + 10);
  }
  EXPECT_EQ(published_at_ms, (std::vector<int>{150, 300, 450, 600, 750, 900}));
}

TEST(ControllerTest, StaleSourceKeepsItsLastObjects) {
  Harness h(FastOptions(), {Cluster("ca", "a")}, {Cluster("ea", "a")});
  auto objects = std::make_shared<model::ClusterObjects>();
  objects->endpoints[{"ns", "web"}] = std::make_shared<const model::ServiceEndpoints>();
  sources::ClusterState state = Synced();
  state.objects = objects;
  h.Config(0, Synced());
  h.Endpoint(0, state);
  h.AdvanceToWake(milliseconds(20));
  ASSERT_EQ(h.published.count(), 1u);

  sources::ClusterState stale;
  stale.objects = objects;
  stale.synced = false;  // a source never "unsyncs"; the controller keeps it synced
  stale.stale = true;
  stale.stale_since_unix_ms = 1234;
  h.AdvanceQuietly(milliseconds(100));
  h.Endpoint(0, stale);
  ASSERT_EQ(h.published.count(), 2u);
  const model::ClusterView& view = h.published.last()->endpoint_clusters[0];
  EXPECT_TRUE(view.stale);
  EXPECT_TRUE(view.synced);
  EXPECT_EQ(view.stale_since_unix_ms, 1234);
  EXPECT_EQ(view.objects->endpoints.size(), 1u);
  EXPECT_EQ(view.objects, objects) << "the source's objects, not a copy";
  auto clusters = h.controller.Clusters();
  ASSERT_EQ(clusters.size(), 2u);
  EXPECT_TRUE(clusters[1].stale);
  EXPECT_EQ(clusters[1].endpoint_services, 1u);
}

}  // namespace
}  // namespace propsy::control
