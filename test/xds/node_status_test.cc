#include "xds/node_status.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "xds/test_resources.h"

namespace propsy::xds {
namespace {

using envoy::admin::v3::ClientResourceStatus;
using envoy::service::status::v3::ClientConfig;
using envoy::service::status::v3::ClientStatusRequest;
using envoy::service::status::v3::ClientStatusResponse;
using envoy::service::status::v3::ConfigStatus;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

envoy::config::core::v3::Node MakeNode(const std::string& id) {
  envoy::config::core::v3::Node node;
  node.set_id(id);
  node.set_cluster("gateways");
  return node;
}

SentSummary Sent(ResourceType type, std::vector<ResourcePtr> resources, const std::string& nonce,
                 std::vector<std::string> removed = {}) {
  SentSummary sent;
  sent.type = type;
  sent.version = fmt::format("set-{}", nonce);
  sent.nonce = nonce;
  sent.resources = std::move(resources);
  sent.removed_names = std::move(removed);
  return sent;
}

RequestEvent Answer(ResourceType type, RequestEvent::Kind kind, const std::string& version,
                    const std::string& error = "") {
  RequestEvent event;
  event.type = type;
  event.kind = kind;
  event.version = version;
  event.error = error;
  return event;
}

// name -> generic xDS config of one node's ClientConfig.
std::map<std::string, envoy::service::status::v3::ClientConfig::GenericXdsConfig> ByName(
    const ClientConfig& config) {
  std::map<std::string, ClientConfig::GenericXdsConfig> by_name;
  for (const auto& entry : config.generic_xds_configs()) by_name[entry.name()] = entry;
  return by_name;
}

std::vector<std::string> NodeIds(const ClientStatusResponse& response) {
  std::vector<std::string> ids;
  for (const auto& config : response.config()) ids.push_back(config.node().id());
  return ids;
}

TEST(NodeStatusRegistryTest, SentIsRequestedThenAcked) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  auto stream = registry.OpenStream(MakeNode("gw-1"), "ads");
  ResourcePtr c1 = test::ClusterRes("c1");
  ResourcePtr c2 = test::ClusterRes("c2");
  registry.OnSent(stream, Sent(ResourceType::kCluster, {c1, c2}, "1"));

  ClientStatusResponse before = registry.ClientStatus(ClientStatusRequest());
  ASSERT_EQ(before.config_size(), 1);
  EXPECT_EQ(before.config(0).node().id(), "gw-1");
  auto entries = ByName(before.config(0));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries["c1"].type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_EQ(entries["c1"].version_info(), c1->version);
  EXPECT_EQ(entries["c1"].client_status(), ClientResourceStatus::REQUESTED);
  EXPECT_EQ(entries["c2"].client_status(), ClientResourceStatus::REQUESTED);
  EXPECT_EQ(entries["c1"].xds_config().SerializeAsString(), c1->body.SerializeAsString());

  const auto sent_at = clock.WallNow();
  clock.Advance(std::chrono::seconds(7));
  registry.OnRequest(stream, Answer(ResourceType::kCluster, RequestEvent::Kind::kAck, "set-1"));
  auto after = ByName(registry.ClientStatus(ClientStatusRequest()).config(0));
  EXPECT_EQ(after["c1"].client_status(), ClientResourceStatus::ACKED);
  // last_updated: when the answer came, on the injected clock.
  EXPECT_EQ(google::protobuf::util::TimeUtil::TimestampToNanoseconds(after["c1"].last_updated()),
            std::chrono::duration_cast<std::chrono::nanoseconds>(
                (sent_at + std::chrono::seconds(7)).time_since_epoch())
                .count());
  EXPECT_EQ(after["c1"].config_status(), ConfigStatus::SYNCED);
  EXPECT_EQ(after["c2"].client_status(), ClientResourceStatus::ACKED);
  EXPECT_FALSE(after["c1"].has_error_state());

  NodeStatusRegistry::Totals totals = registry.totals();
  EXPECT_EQ(totals.responses, 1u);
  EXPECT_EQ(totals.acks, 1u);
  EXPECT_EQ(totals.nacks, 0u);
}

TEST(NodeStatusRegistryTest, NackShowsTheErrorAndIsCounted) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  auto stream = registry.OpenStream(MakeNode("gw-1"), "ads");
  registry.OnSent(stream, Sent(ResourceType::kListener, {test::ListenerRes("l1", "r1")}, "1"));
  registry.OnRequest(stream, Answer(ResourceType::kListener, RequestEvent::Kind::kAck, "set-1"));

  ResourcePtr bad = test::ListenerRes("l1", "r1", 1);
  registry.OnSent(stream, Sent(ResourceType::kListener, {bad}, "2"));
  registry.OnRequest(stream, Answer(ResourceType::kListener, RequestEvent::Kind::kNack, "set-2",
                                    "port 1 is privileged"));

  auto entries = ByName(registry.ClientStatus(ClientStatusRequest()).config(0));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries["l1"].client_status(), ClientResourceStatus::NACKED);
  EXPECT_EQ(entries["l1"].config_status(), ConfigStatus::ERROR);
  EXPECT_EQ(entries["l1"].error_state().details(), "port 1 is privileged");
  EXPECT_EQ(entries["l1"].error_state().version_info(), bad->version);

  NodeStatusRegistry::Totals totals = registry.totals();
  EXPECT_EQ(totals.responses, 2u);
  EXPECT_EQ(totals.acks, 1u);
  EXPECT_EQ(totals.nacks, 1u);
}

TEST(NodeStatusRegistryTest, OtherEventsAreNotCountedAsAnswers) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  auto stream = registry.OpenStream(MakeNode("gw-1"), "ads");
  registry.OnSent(stream, Sent(ResourceType::kCluster, {test::ClusterRes("c1")}, "1"));
  registry.OnRequest(stream, Answer(ResourceType::kCluster, RequestEvent::Kind::kStaleNonce, ""));
  registry.OnRequest(stream, Answer(ResourceType::kCluster, RequestEvent::Kind::kRequest, ""));
  auto entries = ByName(registry.ClientStatus(ClientStatusRequest()).config(0));
  EXPECT_EQ(entries["c1"].client_status(), ClientResourceStatus::REQUESTED);
  EXPECT_EQ(registry.totals().acks, 0u);
  EXPECT_EQ(registry.totals().nacks, 0u);
}

TEST(NodeStatusRegistryTest, AnAnswerConcernsOnlyItsType) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  auto stream = registry.OpenStream(MakeNode("gw-1"), "ads");
  registry.OnSent(stream, Sent(ResourceType::kCluster, {test::ClusterRes("c1")}, "1"));
  registry.OnSent(stream, Sent(ResourceType::kListener, {test::ListenerRes("l1", "r1")}, "2"));
  registry.OnRequest(stream, Answer(ResourceType::kListener, RequestEvent::Kind::kAck, "set-2"));
  auto entries = ByName(registry.ClientStatus(ClientStatusRequest()).config(0));
  EXPECT_EQ(entries["l1"].client_status(), ClientResourceStatus::ACKED);
  EXPECT_EQ(entries["c1"].client_status(), ClientResourceStatus::REQUESTED);
}

TEST(NodeStatusRegistryTest, ResponsesUpdateAndRemoveWhatTheyName) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  auto sotw = registry.OpenStream(MakeNode("sotw"), "ads");
  registry.OnSent(sotw, Sent(ResourceType::kCluster, {test::ClusterRes("c1")}, "1"));
  registry.OnSent(sotw, Sent(ResourceType::kCluster, {test::ClusterRes("c2")}, "2", {"c1"}));

  auto delta = registry.OpenStream(MakeNode("delta"), "delta-ads");
  registry.OnSent(delta, Sent(ResourceType::kCluster, {test::ClusterRes("c1")}, "1"));
  registry.OnRequest(delta, Answer(ResourceType::kCluster, RequestEvent::Kind::kAck, "set-1"));
  registry.OnSent(delta, Sent(ResourceType::kCluster, {test::ClusterRes("c2")}, "2"));
  registry.OnSent(delta, Sent(ResourceType::kCluster, {test::ClusterRes("c3")}, "3", {"c2"}));

  ClientStatusResponse response = registry.ClientStatus(ClientStatusRequest());
  std::map<std::string, ClientConfig> by_node;
  for (const auto& config : response.config()) by_node[config.node().id()] = config;
  ASSERT_EQ(by_node.size(), 2u);
  auto sotw_entries = ByName(by_node["sotw"]);
  EXPECT_EQ(sotw_entries.size(), 1u);
  EXPECT_TRUE(sotw_entries.contains("c2"));
  auto delta_entries = ByName(by_node["delta"]);
  EXPECT_EQ(delta_entries.size(), 2u);
  EXPECT_EQ(delta_entries["c1"].client_status(), ClientResourceStatus::ACKED);
  EXPECT_EQ(delta_entries["c3"].client_status(), ClientResourceStatus::REQUESTED);
  EXPECT_FALSE(delta_entries.contains("c2")) << "removed";
}

TEST(NodeStatusRegistryTest, NodeMatchersFilterNodes) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  for (const char* id : {"gw-1", "gw-2", "edge-1"}) {
    auto stream = registry.OpenStream(MakeNode(id), "ads");
    registry.OnSent(stream, Sent(ResourceType::kCluster, {test::ClusterRes("c1")}, "1"));
  }

  EXPECT_THAT(NodeIds(registry.ClientStatus(ClientStatusRequest())),
              UnorderedElementsAre("gw-1", "gw-2", "edge-1"));

  ClientStatusRequest exact;
  exact.add_node_matchers()->mutable_node_id()->set_exact("gw-2");
  EXPECT_THAT(NodeIds(registry.ClientStatus(exact)), ElementsAre("gw-2"));

  ClientStatusRequest prefix;
  prefix.add_node_matchers()->mutable_node_id()->set_prefix("gw-");
  EXPECT_THAT(NodeIds(registry.ClientStatus(prefix)), UnorderedElementsAre("gw-1", "gw-2"));

  ClientStatusRequest either;
  either.add_node_matchers()->mutable_node_id()->set_exact("edge-1");
  either.add_node_matchers()->mutable_node_id()->set_prefix("gw-1");
  EXPECT_THAT(NodeIds(registry.ClientStatus(either)), UnorderedElementsAre("edge-1", "gw-1"));

  ClientStatusRequest none;
  none.add_node_matchers()->mutable_node_id()->set_exact("gw");
  EXPECT_THAT(NodeIds(registry.ClientStatus(none)), IsEmpty());

  ClientStatusRequest by_node;
  by_node.mutable_node()->set_id("edge-1");
  EXPECT_THAT(NodeIds(registry.ClientStatus(by_node)), ElementsAre("edge-1"));
}

TEST(NodeStatusRegistryTest, StreamsOfOneNodeMakeOneClientConfig) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  auto clusters = registry.OpenStream(MakeNode("gw-1"), "cds");
  auto listeners = registry.OpenStream(MakeNode("gw-1"), "lds");
  registry.OnSent(clusters, Sent(ResourceType::kCluster, {test::ClusterRes("c1")}, "1"));
  registry.OnSent(listeners, Sent(ResourceType::kListener, {test::ListenerRes("l1", "r1")}, "1"));
  ClientStatusResponse response = registry.ClientStatus(ClientStatusRequest());
  ASSERT_EQ(response.config_size(), 1);
  auto entries = ByName(response.config(0));
  EXPECT_TRUE(entries.contains("c1"));
  EXPECT_TRUE(entries.contains("l1"));
  EXPECT_EQ(registry.ConnectedStreams(), 2u);
}

TEST(NodeStatusRegistryTest, CloseStreamRemovesTheNode) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  auto a = registry.OpenStream(MakeNode("gw-1"), "ads");
  auto b = registry.OpenStream(MakeNode("gw-2"), "ads");
  registry.OnSent(a, Sent(ResourceType::kCluster, {test::ClusterRes("c1")}, "1"));
  registry.OnSent(b, Sent(ResourceType::kCluster, {test::ClusterRes("c1")}, "1"));
  EXPECT_EQ(registry.ConnectedStreams(), 2u);

  registry.CloseStream(a);
  EXPECT_EQ(registry.ConnectedStreams(), 1u);
  EXPECT_THAT(NodeIds(registry.ClientStatus(ClientStatusRequest())), ElementsAre("gw-2"));

  // Reports about a closed stream are harmless and still counted.
  registry.OnSent(a, Sent(ResourceType::kCluster, {test::ClusterRes("c2")}, "2"));
  registry.OnRequest(a, Answer(ResourceType::kCluster, RequestEvent::Kind::kAck, "set-2"));
  EXPECT_THAT(NodeIds(registry.ClientStatus(ClientStatusRequest())), ElementsAre("gw-2"));
  EXPECT_EQ(registry.totals().responses, 3u);
  EXPECT_EQ(registry.totals().acks, 1u);
}

TEST(NodeStatusRegistryTest, IdentityRejectionsAreCounted) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  registry.OnIdentityRejected();
  registry.OnIdentityRejected();
  EXPECT_EQ(registry.totals().identity_rejections, 2u);
}

// The status writer's view: per stream, the types asked for and each held
// resource's answer, and a version that moves with every change.
TEST(NodeStatusRegistryTest, AnswersShowRequestedTypesAndEachResourcesAnswer) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  envoy::config::core::v3::Node node = MakeNode("edge-1");
  node.mutable_locality()->set_zone("zone-a");
  const uint64_t empty = registry.answers_version();
  const auto stream = registry.OpenStream(node, "ads");
  registry.OnRequest(stream, Answer(ResourceType::kCluster, RequestEvent::Kind::kRequest, ""));
  registry.OnSent(
      stream, Sent(ResourceType::kCluster, {test::ClusterRes("a"), test::ClusterRes("b")}, "1"));
  registry.OnRequest(stream, Answer(ResourceType::kCluster, RequestEvent::Kind::kAck, "set-1"));
  registry.OnSent(stream, Sent(ResourceType::kCluster, {test::ClusterRes("b", 500)}, "2"));
  const uint64_t before_nack = registry.answers_version();
  EXPECT_GT(before_nack, empty);
  registry.OnRequest(stream,
                     Answer(ResourceType::kCluster, RequestEvent::Kind::kNack, "set-1", "bad b"));
  EXPECT_GT(registry.answers_version(), before_nack);

  const std::vector<NodeStatusRegistry::StreamAnswers> answers = registry.Answers();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].node.id, "edge-1");
  EXPECT_EQ(answers[0].node.zone, "zone-a");
  EXPECT_TRUE(answers[0].node.uses_ads);
  EXPECT_TRUE(answers[0].requested[Index(ResourceType::kCluster)]);
  EXPECT_FALSE(answers[0].requested[Index(ResourceType::kListener)]);
  const auto& held = answers[0].held[Index(ResourceType::kCluster)];
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].resource->name, "a");
  EXPECT_EQ(held[0].answer, NodeStatusRegistry::Answer::kAcked);
  EXPECT_EQ(held[1].resource->name, "b");
  EXPECT_EQ(held[1].answer, NodeStatusRegistry::Answer::kNacked);
  EXPECT_EQ(held[1].error, "bad b");

  EXPECT_FALSE(registry.Answers().empty());
  registry.CloseStream(stream);
  EXPECT_TRUE(registry.Answers().empty());
}

// A reconnecting client's claims: delta clients' initial versions count as
// held and ACKed; a SotW client's set version is reported until the type's
// first response.
TEST(NodeStatusRegistryTest, AnswersIncludeWhatAReconnectingClientHolds) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  const auto delta = registry.OpenStream(MakeNode("edge-1"), "delta ads");
  RequestEvent first = Answer(ResourceType::kCluster, RequestEvent::Kind::kRequest, "");
  first.claimed_resources = {test::ClusterRes("b"), test::ClusterRes("a")};
  registry.OnRequest(delta, first);
  const auto sotw = registry.OpenStream(MakeNode("edge-2"), "ads");
  RequestEvent sotw_first = Answer(ResourceType::kListener, RequestEvent::Kind::kRequest, "");
  sotw_first.claimed_set_version = "v7";
  registry.OnRequest(sotw, sotw_first);

  std::vector<NodeStatusRegistry::StreamAnswers> answers = registry.Answers();
  ASSERT_EQ(answers.size(), 2u);
  const auto& held = answers[0].held[Index(ResourceType::kCluster)];
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].resource->name, "a");  // sorted
  EXPECT_EQ(held[0].answer, NodeStatusRegistry::Answer::kAcked);
  EXPECT_EQ(held[1].answer, NodeStatusRegistry::Answer::kAcked);
  EXPECT_EQ(answers[1].claimed_set_version[Index(ResourceType::kListener)], "v7");
  EXPECT_FALSE(answers[1].sent_any[Index(ResourceType::kListener)]);
  registry.OnSent(sotw, Sent(ResourceType::kListener, {test::ClusterRes("l")}, "1"));
  EXPECT_TRUE(registry.Answers()[1].sent_any[Index(ResourceType::kListener)]);
}

}  // namespace
}  // namespace propsy::xds
