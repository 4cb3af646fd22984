#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "xds/sotw_fake_client.h"
#include "xds/test_resources.h"

namespace propsy::xds {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using Request = SotwStreamState::Request;
using Response = SotwStreamState::Response;
using FakeClient = test::FakeSotwClient;
using test::ClusterRes;
using test::Clusters;
using test::EndpointRes;
using test::FullSnapshot;
using test::ListenerRes;
using test::MakeSotwRequest;
using test::NamesIn;
using test::RouteRes;
using test::SecretRes;

// ADS ordering, removals in reverse, and what each response carries.

void SubscribeAll(FakeClient& client) {
  // Deliberately not in send order.
  client.Subscribe(ResourceType::kRoute, {"r1", "r2"});
  client.Subscribe(ResourceType::kListener, {});
  client.Subscribe(ResourceType::kEndpoint, {"c1", "c2"});
  client.Subscribe(ResourceType::kCluster, {});
  client.Subscribe(ResourceType::kSecret, {"s1"});
}

TEST(SotwStreamStateTest, AdsSendsTypesInOrder) {
  FakeClient client(std::nullopt);
  SubscribeAll(client);
  client.state().SetSnapshot(FullSnapshot());

  std::vector<std::string> order;
  std::vector<Response> responses;
  while (std::optional<Response> response = client.Next()) {
    order.push_back(std::string(ShortName(*ResourceTypeFromUrl(response->type_url()))));
    responses.push_back(*response);
    ASSERT_LE(order.size(), 5u) << "a type was sent twice";
  }
  EXPECT_THAT(order, ElementsAre("secret", "cluster", "endpoint", "listener", "route"));
  ASSERT_EQ(responses.size(), 5u);
  EXPECT_THAT(NamesIn(responses[0]), ElementsAre("s1"));
  EXPECT_THAT(NamesIn(responses[1]), ElementsAre("c1", "c2"));
  EXPECT_THAT(NamesIn(responses[2]), ElementsAre("c1", "c2"));
  EXPECT_THAT(NamesIn(responses[3]), ElementsAre("l1", "l2"));
  EXPECT_THAT(NamesIn(responses[4]), ElementsAre("r1", "r2"));

  // Every nonce is distinct.
  std::set<std::string> nonces;
  for (const Response& response : responses) nonces.insert(response.nonce());
  EXPECT_EQ(nonces.size(), 5u);

  // Updates follow the same order: cluster before route.
  for (const Response& response : responses) client.Ack(response);
  EXPECT_FALSE(client.Next().has_value());
  client.state().SetSnapshot(NodeSnapshotBuilder()
                                 .Add(ResourceType::kSecret, SecretRes("s1"))
                                 .Add(ResourceType::kCluster, ClusterRes("c1"))
                                 .Add(ResourceType::kCluster, ClusterRes("c2"))
                                 .Add(ResourceType::kCluster, ClusterRes("c3"))
                                 .Add(ResourceType::kEndpoint, EndpointRes("c1"))
                                 .Add(ResourceType::kEndpoint, EndpointRes("c2"))
                                 .Add(ResourceType::kListener, ListenerRes("l1", "r1", 10001))
                                 .Add(ResourceType::kListener, ListenerRes("l2", "r2", 10002))
                                 .Add(ResourceType::kRoute, RouteRes("r1", "c3"))
                                 .Add(ResourceType::kRoute, RouteRes("r2", "c2"))
                                 .Build());
  std::optional<Response> cluster = client.Next();
  ASSERT_TRUE(cluster.has_value());
  EXPECT_EQ(cluster->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_THAT(NamesIn(*cluster), ElementsAre("c1", "c2", "c3"));
  std::optional<Response> route = client.Next();
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(route->type_url(), TypeUrl(ResourceType::kRoute));
  EXPECT_FALSE(client.Next().has_value());
}

// The snapshot of FullSnapshot after the path l2 → r2 → c2 is deleted and c1
// changed.
SnapshotPtr WithoutSecondPath() {
  return NodeSnapshotBuilder()
      .Add(ResourceType::kSecret, SecretRes("s1"))
      .Add(ResourceType::kCluster, ClusterRes("c1", 900))
      .Add(ResourceType::kEndpoint, EndpointRes("c1"))
      .Add(ResourceType::kListener, ListenerRes("l1", "r1", 10001))
      .Add(ResourceType::kRoute, RouteRes("r1", "c1"))
      .Build();
}

TEST(SotwStreamStateTest, AdsRemovesInReverseOrder) {
  FakeClient client(std::nullopt);
  SubscribeAll(client);
  client.state().SetSnapshot(FullSnapshot());
  while (std::optional<Response> response = client.Next()) client.Ack(*response);

  client.state().SetSnapshot(WithoutSecondPath());

  // The changed c1 goes out first, but c2 is kept: a route may still use it.
  std::optional<Response> cluster = client.Next();
  ASSERT_TRUE(cluster.has_value());
  ASSERT_EQ(cluster->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_THAT(NamesIn(*cluster), ElementsAre("c1", "c2"));
  // c1 changed: its unchanged load assignment goes again (warming), and c2's
  // stays in the set.
  std::optional<Response> warming = client.Next();
  ASSERT_TRUE(warming.has_value());
  ASSERT_EQ(warming->type_url(), TypeUrl(ResourceType::kEndpoint));
  EXPECT_THAT(NamesIn(*warming), ElementsAre("c1"));
  EXPECT_EQ(warming->version_info(), FullSnapshot()->Of(ResourceType::kEndpoint).version);
  // The route set loses r2 (removals go last type first).
  std::optional<Response> route = client.Next();
  ASSERT_TRUE(route.has_value());
  ASSERT_EQ(route->type_url(), TypeUrl(ResourceType::kRoute));
  EXPECT_THAT(NamesIn(*route), IsEmpty()) << "r1 is held already and unchanged";
  EXPECT_FALSE(client.Next().has_value());

  client.Ack(*cluster);
  client.Ack(*warming);
  EXPECT_FALSE(client.Next().has_value()) << "c2 stays until the later types caught up";
  client.Ack(*route);

  std::optional<Response> listener = client.Next();
  ASSERT_TRUE(listener.has_value());
  ASSERT_EQ(listener->type_url(), TypeUrl(ResourceType::kListener));
  EXPECT_THAT(NamesIn(*listener), ElementsAre("l1"));
  EXPECT_FALSE(client.Next().has_value()) << "clusters wait for the listener ACK";
  client.Ack(*listener);

  std::optional<Response> endpoint = client.Next();
  ASSERT_TRUE(endpoint.has_value());
  ASSERT_EQ(endpoint->type_url(), TypeUrl(ResourceType::kEndpoint));
  EXPECT_THAT(NamesIn(*endpoint), IsEmpty()) << "only c2 leaves; c1 is held and unchanged";
  EXPECT_FALSE(client.Next().has_value());
  client.Ack(*endpoint);

  std::optional<Response> final_cluster = client.Next();
  ASSERT_TRUE(final_cluster.has_value());
  ASSERT_EQ(final_cluster->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_THAT(NamesIn(*final_cluster), ElementsAre("c1"));
  EXPECT_EQ(final_cluster->version_info(), WithoutSecondPath()->Of(ResourceType::kCluster).version);
  client.Ack(*final_cluster);
  EXPECT_FALSE(client.Next().has_value());
}

TEST(SotwStreamStateTest, AdsRemovalWaitsForANackedLaterTypeToBeAnswered) {
  FakeClient client(std::nullopt);
  SubscribeAll(client);
  client.state().SetSnapshot(FullSnapshot());
  while (std::optional<Response> response = client.Next()) client.Ack(*response);

  client.state().SetSnapshot(WithoutSecondPath());
  std::optional<Response> cluster = client.Next();
  ASSERT_TRUE(cluster.has_value());
  std::optional<Response> warming = client.Next();  // c1 changed: its assignment again
  ASSERT_TRUE(warming.has_value());
  EXPECT_EQ(warming->type_url(), TypeUrl(ResourceType::kEndpoint));
  std::optional<Response> route = client.Next();
  ASSERT_TRUE(route.has_value());
  client.Ack(*cluster);
  client.Ack(*warming);
  client.Nack(*route, "route rejected");
  // The route change was refused; the listener still goes (its own set
  // changed), and only after its ACK the cluster loses c2.
  std::optional<Response> listener = client.Next();
  ASSERT_TRUE(listener.has_value());
  EXPECT_EQ(listener->type_url(), TypeUrl(ResourceType::kListener));
  client.Ack(*listener);
  std::optional<Response> endpoint = client.Next();
  ASSERT_TRUE(endpoint.has_value());
  EXPECT_EQ(endpoint->type_url(), TypeUrl(ResourceType::kEndpoint));
  client.Ack(*endpoint);
  std::optional<Response> last = client.Next();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_THAT(NamesIn(*last), ElementsAre("c1"));
  client.Ack(*last);
  EXPECT_FALSE(client.Next().has_value()) << "the NACKed route set is not re-sent";
}

TEST(SotwStreamStateTest, AdsDoesNotKeepAResourceTheClientUnsubscribed) {
  FakeClient client(std::nullopt);
  SubscribeAll(client);
  client.state().SetSnapshot(FullSnapshot());
  while (std::optional<Response> response = client.Next()) client.Ack(*response);

  // r1 changes (routes busy) and c2's endpoints go away.
  client.state().SetSnapshot(NodeSnapshotBuilder()
                                 .Add(ResourceType::kSecret, SecretRes("s1"))
                                 .Add(ResourceType::kCluster, ClusterRes("c1"))
                                 .Add(ResourceType::kCluster, ClusterRes("c2"))
                                 .Add(ResourceType::kEndpoint, EndpointRes("c1"))
                                 .Add(ResourceType::kListener, ListenerRes("l1", "r1", 10001))
                                 .Add(ResourceType::kListener, ListenerRes("l2", "r2", 10002))
                                 .Add(ResourceType::kRoute, RouteRes("r1", "c1", "/new"))
                                 .Add(ResourceType::kRoute, RouteRes("r2", "c2"))
                                 .Build());
  std::optional<Response> route = client.Next();
  ASSERT_TRUE(route.has_value());
  ASSERT_EQ(route->type_url(), TypeUrl(ResourceType::kRoute));
  EXPECT_FALSE(client.Next().has_value()) << "the c2 endpoints are kept while routes are busy";

  // The client stops asking for c2's endpoints: keeping them is moot.
  client.Subscribe(ResourceType::kEndpoint, {"c1"});
  std::optional<Response> endpoint = client.Next();
  ASSERT_TRUE(endpoint.has_value());
  ASSERT_EQ(endpoint->type_url(), TypeUrl(ResourceType::kEndpoint));
  EXPECT_THAT(NamesIn(*endpoint), IsEmpty()) << "c1 is held and unchanged";
}

TEST(SotwStreamStateTest, PerTypeStreamDoesNotKeepRemovedResources) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(FullSnapshot());
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);

  SnapshotPtr smaller = WithoutSecondPath();
  client.state().SetSnapshot(smaller);
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), ElementsAre("c1"));
  EXPECT_EQ(second->version_info(), smaller->Of(ResourceType::kCluster).version);
}

TEST(SotwStreamStateTest, AdsTypesAreIndependentForAcks) {
  FakeClient client(std::nullopt);
  client.Subscribe(ResourceType::kCluster, {});
  client.Subscribe(ResourceType::kListener, {});
  client.state().SetSnapshot(FullSnapshot());
  std::optional<Response> cluster = client.Next();
  std::optional<Response> listener = client.Next();
  ASSERT_TRUE(cluster.has_value());
  ASSERT_TRUE(listener.has_value());
  // The cluster nonce is not stale for clusters just because a listener
  // response went out after it.
  RequestEvent ack = client.Ack(*cluster);
  EXPECT_EQ(ack.kind, RequestEvent::Kind::kAck);
  EXPECT_EQ(ack.type, ResourceType::kCluster);
  // A listener request carrying the cluster nonce is stale for listeners.
  absl::StatusOr<RequestEvent> cross =
      client.state().OnRequest(MakeSotwRequest(ResourceType::kListener, {}, "", cluster->nonce()));
  ASSERT_TRUE(cross.ok());
  EXPECT_EQ(cross->kind, RequestEvent::Kind::kStaleNonce);
  EXPECT_EQ(client.Ack(*listener).kind, RequestEvent::Kind::kAck);
}

SnapshotPtr Assignments(const std::string& c1_ip, const std::string& c2_ip) {
  return NodeSnapshotBuilder()
      .Add(ResourceType::kEndpoint, EndpointRes("c1", c1_ip))
      .Add(ResourceType::kEndpoint, EndpointRes("c2", c2_ip))
      .Build();
}

TEST(SotwStreamStateTest, NamedTypesSendOnlyWhatChangedButClustersSendEverything) {
  FakeClient endpoints(ResourceType::kEndpoint);
  endpoints.state().SetSnapshot(Assignments("10.0.0.1", "10.0.0.2"));
  endpoints.Subscribe(ResourceType::kEndpoint, {"c1", "c2"});
  std::optional<Response> first = endpoints.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(NamesIn(*first), ElementsAre("c1", "c2"));
  endpoints.Ack(*first);

  SnapshotPtr changed = Assignments("10.0.0.1", "10.0.0.9");
  endpoints.state().SetSnapshot(changed);
  std::optional<Response> second = endpoints.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), ElementsAre("c2"));
  // The version still names the whole set the client now holds.
  EXPECT_EQ(second->version_info(), changed->Of(ResourceType::kEndpoint).version);

  FakeClient clusters(ResourceType::kCluster);
  clusters.state().SetSnapshot(Clusters(250));
  clusters.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> all = clusters.Next();
  ASSERT_TRUE(all.has_value());
  clusters.Ack(*all);
  clusters.state().SetSnapshot(Clusters(500));
  std::optional<Response> again = clusters.Next();
  ASSERT_TRUE(again.has_value());
  EXPECT_THAT(NamesIn(*again), ElementsAre("c1", "c2")) << "a missing cluster would be removed";
}

TEST(SotwStreamStateTest, AfterANackTheNextResponseIsComplete) {
  FakeClient client(ResourceType::kEndpoint);
  client.state().SetSnapshot(Assignments("10.0.0.1", "10.0.0.2"));
  client.Subscribe(ResourceType::kEndpoint, {"c1", "c2"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);

  client.state().SetSnapshot(Assignments("10.0.0.1", "10.0.0.3"));
  std::optional<Response> rejected = client.Next();
  ASSERT_TRUE(rejected.has_value());
  client.Nack(*rejected, "bad c2");

  // The client may hold anything it was sent before: send it all.
  client.state().SetSnapshot(Assignments("10.0.0.4", "10.0.0.3"));
  std::optional<Response> next = client.Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_THAT(NamesIn(*next), ElementsAre("c1", "c2"));
  client.Ack(*next);

  client.state().SetSnapshot(Assignments("10.0.0.5", "10.0.0.3"));
  std::optional<Response> partial = client.Next();
  ASSERT_TRUE(partial.has_value());
  EXPECT_THAT(NamesIn(*partial), ElementsAre("c1"));
}

}  // namespace
}  // namespace propsy::xds
