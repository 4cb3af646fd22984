// The Programmed condition from the nodes' progress, metav1 conditions with
// their transition times, and what a node holds against its snapshot.

#include "status/desired_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "status/node_progress.h"
#include "xds/snapshot.h"

namespace propsy::status {
namespace {

using Answer = xds::NodeStatusRegistry::Answer;

translate::ObjectReport Accepted(std::vector<std::string> zones = {"zone-a"}) {
  return {.config_cluster = 0,
          .key = {.namespace_name = "shop", .name = "web"},
          .generation = 3,
          .accepted = {.type = "Accepted", .status = true, .reason = "Accepted", .message = ""},
          .resolved_refs =
              translate::ServiceCondition{
                  .type = "ResolvedRefs", .status = true, .reason = "ResolvedRefs", .message = ""},
          .governs_zones = std::move(zones)};
}

model::ProPsyServiceSpec Spec(std::vector<std::string> nodes = {"*"}) {
  model::ProPsyServiceSpec spec;
  spec.service = "web";
  spec.service_port = 8080;
  spec.listen = {.host = "0.0.0.0", .port = 80};
  spec.nodes = std::move(nodes);
  spec.percent = 100;
  return spec;
}

NodeProgress Node(const std::string& id, const std::string& zone = "") {
  NodeProgress node;
  node.node = {.id = id, .zone = zone, .uses_ads = true};
  return node;
}

void Missing(NodeProgress& node, xds::ResourceType type, const std::string& name,
             std::string nack = "") {
  node.shortfalls[xds::Index(type)][name] =
      Shortfall{.rejected = !nack.empty(), .error = std::move(nack)};
}

const std::vector<std::string> kZones{"zone-a", "zone-b"};

TEST(ProgrammedCondition, TrueWhenEveryTargetedNodeHoldsItAcknowledged) {
  const model::ProPsyServiceSpec spec = Spec();
  NodeProgress other = Node("edge-2");
  Missing(other, xds::ResourceType::kCluster, "shop/api/primary");  // another service's
  const auto condition =
      ProgrammedCondition(Accepted(), &spec, {Node("edge-1"), other}, kZones, "zone-a");
  EXPECT_TRUE(condition.status);
  EXPECT_EQ(condition.reason, "Programmed");
}

TEST(ProgrammedCondition, PendingCountsNodes) {
  const model::ProPsyServiceSpec spec = Spec();
  NodeProgress slow = Node("edge-2");
  Missing(slow, xds::ResourceType::kEndpoint, "shop/web/primary");
  NodeProgress new_node = Node("edge-3");
  new_node.has_snapshot = false;
  const auto condition =
      ProgrammedCondition(Accepted(), &spec, {Node("edge-1"), slow, new_node}, kZones, "zone-a");
  EXPECT_FALSE(condition.status);
  EXPECT_EQ(condition.reason, "Pending");
  EXPECT_EQ(condition.message, "1/3 nodes acknowledged");
}

TEST(ProgrammedCondition, RejectedNamesTheNodeTheResourceAndTheNackMessage) {
  const model::ProPsyServiceSpec spec = Spec();
  NodeProgress bad = Node("edge-2");
  Missing(bad, xds::ResourceType::kRoute, "0.0.0.0:80");
  Missing(bad, xds::ResourceType::kListener, "0.0.0.0:80", "address already in use");
  const auto condition =
      ProgrammedCondition(Accepted(), &spec, {Node("edge-1"), bad}, kZones, "zone-a");
  EXPECT_FALSE(condition.status);
  EXPECT_EQ(condition.reason, "Rejected");
  EXPECT_EQ(condition.message,
            "node edge-2 rejected listener 0.0.0.0:80: address already in use (1/2 nodes "
            "acknowledged)");
}

TEST(ProgrammedCondition, CountsOnlyNodesItTargetsInZonesItGoverns) {
  const model::ProPsyServiceSpec spec = Spec({"edge-1", "edge-2", "edge-4"});
  NodeProgress untargeted = Node("edge-3");
  Missing(untargeted, xds::ResourceType::kCluster, "shop/web/primary");
  NodeProgress other_zone = Node("edge-2", "zone-b");  // governed by zone-b's definition
  Missing(other_zone, xds::ResourceType::kCluster, "shop/web/primary");
  NodeProgress unknown_zone = Node("edge-4", "zone-x");  // governed as "other zones"
  Missing(unknown_zone, xds::ResourceType::kCluster, "shop/web/primary");
  EXPECT_TRUE(ProgrammedCondition(Accepted({"zone-a"}), &spec,
                                  {Node("edge-1"), untargeted, other_zone, unknown_zone}, kZones,
                                  "zone-a")
                  .status);
  EXPECT_EQ(
      ProgrammedCondition(Accepted({"zone-a", translate::kOtherZones}), &spec,
                          {Node("edge-1"), untargeted, other_zone, unknown_zone}, kZones, "zone-a")
          .message,
      "1/2 nodes acknowledged");
}

TEST(NodeProgressIndex, TargetsEachNamedNodeOnceInTheGatheredOrder) {
  // edge-2 is connected twice (two zones); edge-9 is not connected.
  const std::vector<NodeProgress> nodes = {Node("edge-1"), Node("edge-2", "zone-a"),
                                           Node("edge-2", "zone-b"), Node("edge-3")};
  const NodeProgressIndex index(nodes);
  EXPECT_THAT(index.Targeted({"edge-3", "edge-9", "edge-2", "edge-3"}),
              ::testing::ElementsAre(1, 2, 3));
  EXPECT_THAT(index.Targeted({"edge-9"}), ::testing::IsEmpty());
  EXPECT_THAT(index.Targeted({"edge-3", "*"}), ::testing::ElementsAre(0, 1, 2, 3));
  // The first rejection named is the first rejecting node in that order,
  // whatever order the object lists its nodes in.
  const model::ProPsyServiceSpec spec = Spec({"edge-3", "edge-1"});
  std::vector<NodeProgress> rejecting = {Node("edge-1"), Node("edge-3")};
  Missing(rejecting[0], xds::ResourceType::kListener, "0.0.0.0:80", "bad port");
  Missing(rejecting[1], xds::ResourceType::kListener, "0.0.0.0:80", "worse port");
  EXPECT_THAT(ProgrammedCondition(Accepted(), &spec, rejecting, kZones, "zone-a").message,
              ::testing::StartsWith("node edge-1 rejected"));
}

TEST(ProgrammedCondition, NotProgrammedWhenNotAcceptedOrReferencesDoNotResolve) {
  const model::ProPsyServiceSpec spec = Spec();
  translate::ObjectReport conflicted = Accepted();
  conflicted.accepted = {
      .type = "Accepted", .status = false, .reason = "Conflicted", .message = "loses"};
  EXPECT_EQ(ProgrammedCondition(conflicted, &spec, {}, kZones, "zone-a").reason, "Conflicted");
  translate::ObjectReport no_secret = Accepted();
  no_secret.resolved_refs->status = false;
  no_secret.resolved_refs->reason = "SecretNotFound";
  const auto condition = ProgrammedCondition(no_secret, &spec, {}, kZones, "zone-a");
  EXPECT_FALSE(condition.status);
  EXPECT_EQ(condition.reason, "SecretNotFound");
}

TEST(ToServiceStatus, KeepsTransitionTimesUnlessTheStatusFlips) {
  const model::ServiceStatus current{
      .observed_generation = 2,
      .conditions = {{.type = "Accepted",
                      .status = "True",
                      .reason = "Accepted",
                      .message = "old",
                      .observed_generation = 2,
                      .last_transition_time = "2026-01-01T00:00:00Z"},
                     {.type = "Programmed",
                      .status = "True",
                      .reason = "Programmed",
                      .message = "",
                      .observed_generation = 2,
                      .last_transition_time = "2026-01-01T00:00:00Z"}}};
  const model::ServiceStatus next = ToServiceStatus(
      3,
      {{.type = "Accepted", .status = true, .reason = "Accepted", .message = "new"},
       {.type = "Programmed", .status = false, .reason = "Pending", .message = "0/1"}},
      current, "2026-02-02T00:00:00Z");
  EXPECT_EQ(next.observed_generation, 3);
  ASSERT_EQ(next.conditions.size(), 2u);
  EXPECT_EQ(next.conditions[0].last_transition_time, "2026-01-01T00:00:00Z");
  EXPECT_EQ(next.conditions[0].message, "new");
  EXPECT_EQ(next.conditions[0].observed_generation, 3);
  EXPECT_EQ(next.conditions[1].status, "False");
  EXPECT_EQ(next.conditions[1].last_transition_time, "2026-02-02T00:00:00Z");
}

TEST(ToServiceStatus, ProgrammedStaysTrueForItsGenerationWhileANewNodeCatchesUp) {
  const model::ServiceStatus current{.observed_generation = 3,
                                     .conditions = {{.type = "Programmed",
                                                     .status = "True",
                                                     .reason = "Programmed",
                                                     .message = "m",
                                                     .observed_generation = 3,
                                                     .last_transition_time = "t0"}}};
  const translate::ServiceCondition pending{
      .type = "Programmed", .status = false, .reason = "Pending", .message = "1/2"};
  EXPECT_TRUE(SameStatus(ToServiceStatus(3, {pending}, current, "t1"), current));
  // A new generation is programmed anew.
  EXPECT_EQ(ToServiceStatus(4, {pending}, current, "t1").conditions[0].reason, "Pending");
  // A NACK is news.
  const translate::ServiceCondition rejected{
      .type = "Programmed", .status = false, .reason = "Rejected", .message = "node x"};
  EXPECT_EQ(ToServiceStatus(3, {rejected}, current, "t1").conditions[0].reason, "Rejected");
}

TEST(SameStatus, IgnoresConditionOrder) {
  model::Condition a;
  a.type = "A";
  a.status = "True";
  model::Condition b;
  b.type = "B";
  b.status = "False";
  EXPECT_TRUE(SameStatus({.observed_generation = 1, .conditions = {a, b}},
                         {.observed_generation = 1, .conditions = {b, a}}));
  EXPECT_FALSE(SameStatus({.observed_generation = 1, .conditions = {a, b}},
                          {.observed_generation = 2, .conditions = {a, b}}));
}

TEST(Rfc3339, FormatsUtc) {
  const auto time = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600)) +
                    std::chrono::microseconds(42);
  EXPECT_EQ(Rfc3339(time), "2026-01-01T00:00:00Z");
  EXPECT_EQ(Rfc3339Micro(time), "2026-01-01T00:00:00.000042Z");
}

xds::ResourcePtr Resource(const std::string& name, const std::string& version) {
  return std::make_shared<const xds::Resource>(
      xds::Resource{.name = name, .version = version, .body = {}});
}

TEST(GatherNodeProgress, ComparesHeldVersionsAndAnswersWithTheSnapshot) {
  xds::NodeSnapshotBuilder builder;
  builder.Add(xds::ResourceType::kCluster, Resource("a", "1"))
      .Add(xds::ResourceType::kCluster, Resource("b", "1"))
      .Add(xds::ResourceType::kCluster, Resource("c", "2"))
      .Add(xds::ResourceType::kCluster, Resource("d", "1"))
      .Add(xds::ResourceType::kListener, Resource("l", "1"));
  const xds::SnapshotPtr snapshot = builder.Build();
  xds::NodeStatusRegistry::StreamAnswers stream;
  stream.node = {.id = "edge-1", .zone = "", .uses_ads = true};
  stream.requested[xds::Index(xds::ResourceType::kCluster)] = true;
  auto& held = stream.held[xds::Index(xds::ResourceType::kCluster)];
  held.push_back({.resource = Resource("a", "1"), .answer = Answer::kAcked, .error = ""});
  held.push_back({.resource = Resource("b", "1"), .answer = Answer::kPending, .error = ""});
  held.push_back({.resource = Resource("c", "1"), .answer = Answer::kAcked, .error = ""});
  held.push_back({.resource = Resource("d", "1"), .answer = Answer::kNacked, .error = "bad"});
  const std::vector<NodeProgress> progress =
      GatherNodeProgress({stream}, [&](const xds::NodeInfo&) { return snapshot; });
  ASSERT_EQ(progress.size(), 1u);
  const auto& clusters = progress[0].shortfalls[xds::Index(xds::ResourceType::kCluster)];
  EXPECT_FALSE(clusters.contains("a"));
  EXPECT_FALSE(clusters.at("b").rejected);  // sent, unanswered
  EXPECT_FALSE(clusters.at("c").rejected);  // holds an older version
  EXPECT_TRUE(clusters.at("d").rejected);
  EXPECT_EQ(clusters.at("d").error, "bad");
  // Listeners were never requested on this stream: nobody's shortfall.
  EXPECT_TRUE(progress[0].shortfalls[xds::Index(xds::ResourceType::kListener)].empty());
}

TEST(GatherNodeProgress, AReconnectedSotwClientHoldingTheCurrentSetIsAcknowledged) {
  xds::NodeSnapshotBuilder builder;
  builder.Add(xds::ResourceType::kListener, Resource("l", "1"));
  const xds::SnapshotPtr snapshot = builder.Build();
  xds::NodeStatusRegistry::StreamAnswers stream;
  stream.node = {.id = "edge-1", .zone = "", .uses_ads = true};
  const int listeners = xds::Index(xds::ResourceType::kListener);
  stream.requested[listeners] = true;
  stream.claimed_set_version[listeners] = snapshot->Of(xds::ResourceType::kListener).version;
  auto progress = GatherNodeProgress({stream}, [&](const xds::NodeInfo&) { return snapshot; });
  EXPECT_TRUE(progress[0].shortfalls[listeners].empty());
  // An older set: a response is due.
  stream.claimed_set_version[listeners] = "old";
  progress = GatherNodeProgress({stream}, [&](const xds::NodeInfo&) { return snapshot; });
  EXPECT_TRUE(progress[0].shortfalls[listeners].contains("l"));
}

}  // namespace
}  // namespace propsy::status
