#include "xds/snapshot_notifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "xds/test_resources.h"

namespace propsy::xds {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

SnapshotPtr SnapshotWith(const std::string& cluster) {
  return NodeSnapshotBuilder().Add(ResourceType::kCluster, test::ClusterRes(cluster)).Build();
}

NodeInfo Node(const std::string& id) { return NodeInfo{.id = id, .zone = "", .uses_ads = true}; }

SnapshotNotifier::MapPtr MapOf(std::vector<std::pair<std::string, SnapshotPtr>> entries) {
  return std::make_shared<const SnapshotNotifier::SnapshotMap>(entries.begin(), entries.end());
}

std::vector<std::string> Keys(const std::vector<std::pair<std::string, NodeInfo>>& nodes) {
  std::vector<std::string> keys;
  for (const auto& [key, node] : nodes) keys.push_back(key);
  return keys;
}

TEST(SnapshotNotifierTest, WatchIfPublishedNeedsTheKeyInTheMap) {
  SnapshotNotifier notifier;
  EXPECT_EQ(notifier.WatchIfPublished("a", Node("a"), [] {}), nullptr);
  EXPECT_EQ(notifier.watch_count(), 0u) << "nothing registered";
  SnapshotPtr a = SnapshotWith("c1");
  notifier.Publish(MapOf({{"a", a}}));
  auto watch = notifier.WatchIfPublished("a", Node("a"), [] {});
  ASSERT_NE(watch, nullptr);
  EXPECT_EQ(watch->Latest(), a);
  EXPECT_EQ(notifier.Find("a"), a);
  EXPECT_EQ(notifier.Find("b"), nullptr);
}

// A key mapped to the same snapshot again skips its watches, unless a watch
// started since from an older snapshot: that one still gets the newer.
TEST(SnapshotNotifierTest, AWatchStartedFromAnOlderSnapshotGetsTheRepublishedOne) {
  SnapshotNotifier notifier;
  int first_wakes = 0;
  int second_wakes = 0;
  SnapshotPtr older = SnapshotWith("c1");
  SnapshotPtr newer = SnapshotWith("c2");
  auto first = notifier.Watch("a", Node("a"), older, [&] { ++first_wakes; });
  notifier.Publish(MapOf({{"a", newer}}));
  EXPECT_EQ(first_wakes, 1);
  notifier.Publish(MapOf({{"a", newer}}));
  EXPECT_EQ(first_wakes, 1) << "the same snapshot again is no change";

  auto second = notifier.Watch("a", Node("a"), older, [&] { ++second_wakes; });
  notifier.Publish(MapOf({{"a", newer}}));
  EXPECT_EQ(second_wakes, 1);
  EXPECT_EQ(second->Latest(), newer);
  EXPECT_EQ(first_wakes, 1);
  notifier.Publish(MapOf({{"a", newer}}));
  EXPECT_EQ(second_wakes, 1);
}

TEST(SnapshotNotifierTest, WakesOnlyWatchesWhoseVersionsChanged) {
  SnapshotNotifier notifier;
  int a_wakes = 0;
  int b_wakes = 0;
  auto a = notifier.Watch("a", Node("a"), nullptr, [&] { ++a_wakes; });
  auto b = notifier.Watch("b", Node("b"), nullptr, [&] { ++b_wakes; });
  SnapshotPtr first = SnapshotWith("c1");
  notifier.Publish(MapOf({{"a", first}, {"b", first}}));
  EXPECT_EQ(a_wakes, 1);
  EXPECT_EQ(b_wakes, 1);

  // A new object with the same content is no change; a key the map lacks
  // keeps its snapshot.
  notifier.Publish(MapOf({{"a", SnapshotWith("c1")}}));
  EXPECT_EQ(a_wakes, 1);
  EXPECT_EQ(a->Latest(), first);
  EXPECT_EQ(b_wakes, 1);
  EXPECT_EQ(b->Latest(), first);

  SnapshotPtr second = SnapshotWith("c2");
  notifier.Publish(MapOf({{"a", second}, {"b", first}}));
  EXPECT_EQ(a_wakes, 2);
  EXPECT_EQ(a->Latest(), second);
  EXPECT_EQ(b_wakes, 1);
}

TEST(SnapshotNotifierTest, WatchedNodesKeepsAKeyOneRoundAfterItsLastWatchEnds) {
  SnapshotNotifier notifier;
  auto a1 = notifier.Watch("a", Node("a"), nullptr, [] {});
  auto a2 = notifier.Watch("a", Node("a"), nullptr, [] {});
  auto b = notifier.Watch("b", Node("b"), nullptr, [] {});
  EXPECT_EQ(notifier.watch_count(), 3u);
  EXPECT_THAT(Keys(notifier.WatchedNodes()), UnorderedElementsAre("a", "b"));

  a1.reset();
  EXPECT_THAT(Keys(notifier.WatchedNodes()), UnorderedElementsAre("a", "b"));
  a2.reset();
  // Still reported once: a publisher computing a map right now must include
  // it, since a new watch may start from the current map meanwhile.
  EXPECT_THAT(Keys(notifier.WatchedNodes()), UnorderedElementsAre("a", "b"));
  EXPECT_THAT(Keys(notifier.WatchedNodes()), ElementsAre("b"));
  b.reset();
  EXPECT_THAT(Keys(notifier.WatchedNodes()), ElementsAre("b"));
  EXPECT_THAT(Keys(notifier.WatchedNodes()), IsEmpty());
  EXPECT_EQ(notifier.watch_count(), 0u);
}

TEST(SnapshotNotifierTest, ACancelledWatchIsNotWoken) {
  SnapshotNotifier notifier;
  int wakes = 0;
  auto watch = notifier.Watch("a", Node("a"), nullptr, [&] { ++wakes; });
  watch.reset();
  notifier.Publish(MapOf({{"a", SnapshotWith("c1")}}));
  EXPECT_EQ(wakes, 0);
}

}  // namespace
}  // namespace propsy::xds
