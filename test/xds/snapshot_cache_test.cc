#include "xds/snapshot_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "xds/test_resources.h"

namespace propsy::xds {
namespace {

NodeInfo Node(const std::string& id) {
  NodeInfo node;
  node.id = id;
  return node;
}

SnapshotPtr SnapshotWith(const std::string& cluster) {
  return NodeSnapshotBuilder().Add(ResourceType::kCluster, test::ClusterRes(cluster)).Build();
}

TEST(SnapshotCacheTest, FetchReturnsNullForUnknownNode) {
  SnapshotCache cache;
  EXPECT_EQ(cache.Fetch(Node("nobody")), nullptr);
  SnapshotPtr snapshot = SnapshotWith("c1");
  cache.SetSnapshot("node-a", snapshot);
  EXPECT_EQ(cache.Fetch(Node("node-a")), snapshot);
  EXPECT_EQ(cache.Fetch(Node("node-b")), nullptr);
  cache.ClearSnapshot("node-a");
  EXPECT_EQ(cache.Fetch(Node("node-a")), nullptr);
}

TEST(SnapshotCacheTest, WatchStartsFromTheCurrentSnapshotAndIsWokenForLaterOnes) {
  SnapshotCache cache;
  SnapshotPtr first = SnapshotWith("c1");
  cache.SetSnapshot("node-a", first);
  int wakes = 0;
  auto handle = cache.Watch(Node("node-a"), [&] { ++wakes; });
  EXPECT_EQ(handle->Latest(), first) << "the current snapshot is there when Watch returns";
  EXPECT_EQ(wakes, 0);

  SnapshotPtr second = SnapshotWith("c2");
  cache.SetSnapshot("node-a", second);
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(handle->Latest(), second);

  cache.SetSnapshot("node-a", SnapshotWith("c2"));
  EXPECT_EQ(wakes, 1) << "equal versions are no change";
  EXPECT_EQ(handle->Latest(), second);
}

TEST(SnapshotCacheTest, WatchBeforeAnySnapshotWaitsForOne) {
  SnapshotCache cache;
  int wakes = 0;
  auto handle = cache.Watch(Node("node-a"), [&] { ++wakes; });
  EXPECT_EQ(handle->Latest(), nullptr);
  SnapshotPtr snapshot = SnapshotWith("c1");
  cache.SetSnapshot("node-a", snapshot);
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(handle->Latest(), snapshot);
}

TEST(SnapshotCacheTest, ClearedSnapshotIsNotGivenToNewWatchers) {
  SnapshotCache cache;
  cache.SetSnapshot("node-a", SnapshotWith("c1"));
  cache.ClearSnapshot("node-a");
  int wakes = 0;
  auto handle = cache.Watch(Node("node-a"), [&] { ++wakes; });
  EXPECT_EQ(wakes, 0);
  EXPECT_EQ(handle->Latest(), nullptr);
}

TEST(SnapshotCacheTest, NoWakeAfterTheHandleIsDestroyed) {
  SnapshotCache cache;
  int wakes = 0;
  int other_wakes = 0;
  auto handle = cache.Watch(Node("node-a"), [&] { ++wakes; });
  auto other = cache.Watch(Node("node-a"), [&] { ++other_wakes; });
  cache.SetSnapshot("node-a", SnapshotWith("c1"));
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(other_wakes, 1);

  handle.reset();
  cache.SetSnapshot("node-a", SnapshotWith("c2"));
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(other_wakes, 2) << "cancelling one watch leaves the other";
}

TEST(SnapshotCacheTest, WatchersOfOtherNodesAreNotWoken) {
  SnapshotCache cache;
  int a_wakes = 0;
  int b_wakes = 0;
  auto a = cache.Watch(Node("node-a"), [&] { ++a_wakes; });
  auto b = cache.Watch(Node("node-b"), [&] { ++b_wakes; });
  SnapshotPtr for_a = SnapshotWith("a");
  cache.SetSnapshot("node-a", for_a);
  EXPECT_EQ(a_wakes, 1);
  EXPECT_EQ(a->Latest(), for_a);
  EXPECT_EQ(b_wakes, 0);
  EXPECT_EQ(b->Latest(), nullptr);
}

TEST(SnapshotCacheTest, CancelRacingWithUpdatesLeavesTheWatchQuiet) {
  SnapshotCache cache;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    int i = 0;
    while (!stop.load()) cache.SetSnapshot("node-a", SnapshotWith(fmt::format("c{}", i++ % 4)));
  });
  for (int round = 0; round < 50; ++round) {
    auto cancelled = std::make_shared<std::atomic<bool>>(false);
    auto late_wakes = std::make_shared<std::atomic<int>>(0);
    auto handle = cache.Watch(Node("node-a"), [cancelled, late_wakes] {
      if (cancelled->load()) late_wakes->fetch_add(1);
    });
    std::this_thread::yield();
    handle.reset();
    cancelled->store(true);
    // Give the writer time to deliver anything that was (wrongly) still due.
    for (int i = 0; i < 20; ++i) std::this_thread::yield();
    EXPECT_EQ(late_wakes->load(), 0) << "round " << round;
  }
  stop.store(true);
  writer.join();
}

}  // namespace
}  // namespace propsy::xds
