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

TEST(SnapshotCacheTest, WatchGetsCurrentSnapshotAtOnceAndLaterOnes) {
  SnapshotCache cache;
  SnapshotPtr first = SnapshotWith("c1");
  cache.SetSnapshot("node-a", first);
  std::vector<SnapshotPtr> seen;
  auto handle = cache.Watch(Node("node-a"), [&](SnapshotPtr s) { seen.push_back(s); });
  ASSERT_EQ(seen.size(), 1u) << "the current snapshot comes before Watch returns";
  EXPECT_EQ(seen[0], first);

  SnapshotPtr second = SnapshotWith("c2");
  cache.SetSnapshot("node-a", second);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], second);
}

TEST(SnapshotCacheTest, WatchBeforeAnySnapshotWaitsForOne) {
  SnapshotCache cache;
  std::vector<SnapshotPtr> seen;
  auto handle = cache.Watch(Node("node-a"), [&](SnapshotPtr s) { seen.push_back(s); });
  EXPECT_TRUE(seen.empty());
  SnapshotPtr snapshot = SnapshotWith("c1");
  cache.SetSnapshot("node-a", snapshot);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], snapshot);
}

TEST(SnapshotCacheTest, ClearedSnapshotIsNotDeliveredToNewWatchers) {
  SnapshotCache cache;
  cache.SetSnapshot("node-a", SnapshotWith("c1"));
  cache.ClearSnapshot("node-a");
  int calls = 0;
  auto handle = cache.Watch(Node("node-a"), [&](SnapshotPtr) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(SnapshotCacheTest, NoCallbackAfterTheHandleIsDestroyed) {
  SnapshotCache cache;
  int calls = 0;
  int other_calls = 0;
  auto handle = cache.Watch(Node("node-a"), [&](SnapshotPtr) { ++calls; });
  auto other = cache.Watch(Node("node-a"), [&](SnapshotPtr) { ++other_calls; });
  cache.SetSnapshot("node-a", SnapshotWith("c1"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(other_calls, 1);

  handle.reset();
  cache.SetSnapshot("node-a", SnapshotWith("c2"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(other_calls, 2) << "cancelling one watch leaves the other";
}

TEST(SnapshotCacheTest, WatchersOfOtherNodesAreNotCalled) {
  SnapshotCache cache;
  std::vector<SnapshotPtr> a_seen;
  std::vector<SnapshotPtr> b_seen;
  auto a = cache.Watch(Node("node-a"), [&](SnapshotPtr s) { a_seen.push_back(s); });
  auto b = cache.Watch(Node("node-b"), [&](SnapshotPtr s) { b_seen.push_back(s); });
  SnapshotPtr for_a = SnapshotWith("a");
  cache.SetSnapshot("node-a", for_a);
  ASSERT_EQ(a_seen.size(), 1u);
  EXPECT_EQ(a_seen[0], for_a);
  EXPECT_TRUE(b_seen.empty());
}

TEST(SnapshotCacheTest, CancelRacingWithUpdatesLeavesTheCallbackQuiet) {
  SnapshotCache cache;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    int i = 0;
    while (!stop.load()) cache.SetSnapshot("node-a", SnapshotWith(fmt::format("c{}", i++ % 4)));
  });
  for (int round = 0; round < 50; ++round) {
    auto cancelled = std::make_shared<std::atomic<bool>>(false);
    auto late_calls = std::make_shared<std::atomic<int>>(0);
    auto handle = cache.Watch(Node("node-a"), [cancelled, late_calls](SnapshotPtr) {
      if (cancelled->load()) late_calls->fetch_add(1);
    });
    std::this_thread::yield();
    handle.reset();
    cancelled->store(true);
    // Give the writer time to deliver anything that was (wrongly) still due.
    for (int i = 0; i < 20; ++i) std::this_thread::yield();
    EXPECT_EQ(late_calls->load(), 0) << "round " << round;
  }
  stop.store(true);
  writer.join();
}

}  // namespace
}  // namespace propsy::xds
