#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "xds/delta_fake_client.h"
#include "xds/delta_stream_state.h"
#include "xds/test_resources.h"

namespace propsy::xds {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using Request = DeltaStreamState::Request;
using Response = DeltaStreamState::Response;
using test::ClusterRes;
using test::EndpointRes;
using test::FullSnapshot;
using test::ListenerRes;
using test::NamesIn;
using test::RemovedIn;
using test::RouteRes;
using test::SecretRes;
using FakeClient = test::FakeDeltaClient;
using test::DeltaClusters;
using test::MakeDeltaRequest;
using test::RoutesSnapshot;

// NACKs, nonces, one response in flight, ADS order, first answers.

TEST(DeltaStreamStateTest, NackedResourceVersionIsNotResent) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(DeltaClusters(250));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);

  client.state().SetSnapshot(DeltaClusters(500));
  std::optional<Response> bad = client.Next();
  ASSERT_TRUE(bad.has_value());
  RequestEvent nack = client.Nack(*bad, "c1 is bad");
  EXPECT_EQ(nack.kind, RequestEvent::Kind::kNack);
  EXPECT_EQ(nack.error, "c1 is bad");
  EXPECT_EQ(nack.version, bad->system_version_info());
  EXPECT_FALSE(client.Next().has_value()) << "no resend loop";
  client.state().SetSnapshot(DeltaClusters(500));
  EXPECT_FALSE(client.Next().has_value());

  // Another resource changes: only it is sent, not the rejected c1.
  SnapshotPtr with_c3 = NodeSnapshotBuilder()
                            .Add(ResourceType::kCluster, ClusterRes("c1", 500))
                            .Add(ResourceType::kCluster, ClusterRes("c2"))
                            .Add(ResourceType::kCluster, ClusterRes("c3"))
                            .Build();
  client.state().SetSnapshot(with_c3);
  std::optional<Response> c3 = client.Next();
  ASSERT_TRUE(c3.has_value());
  EXPECT_THAT(NamesIn(*c3), ElementsAre("c3"));
  client.Ack(*c3);
  EXPECT_FALSE(client.Next().has_value());

  // A new version of c1 is sent.
  SnapshotPtr fixed = NodeSnapshotBuilder()
                          .Add(ResourceType::kCluster, ClusterRes("c1", 750))
                          .Add(ResourceType::kCluster, ClusterRes("c2"))
                          .Add(ResourceType::kCluster, ClusterRes("c3"))
                          .Build();
  client.state().SetSnapshot(fixed);
  std::optional<Response> c1 = client.Next();
  ASSERT_TRUE(c1.has_value());
  EXPECT_THAT(NamesIn(*c1), ElementsAre("c1"));
  EXPECT_EQ(c1->resources(0).version(),
            fixed->Of(ResourceType::kCluster).by_name.at("c1")->version);
}

TEST(DeltaStreamStateTest, RevertingToTheAcceptedVersionAfterANackSendsIt) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(DeltaClusters(250));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.state().SetSnapshot(DeltaClusters(500));
  std::optional<Response> bad = client.Next();
  ASSERT_TRUE(bad.has_value());
  client.Nack(*bad, "no");
  // Back to what the client holds: nothing to send.
  client.state().SetSnapshot(DeltaClusters(250));
  EXPECT_FALSE(client.Next().has_value());
}

TEST(DeltaStreamStateTest, SubscriptionChangeAppliesEvenWithAStaleNonce) {
  FakeClient client(ResourceType::kRoute);
  client.state().SetSnapshot(RoutesSnapshot());
  client.Subscribe(ResourceType::kRoute, {"r1"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.state().SetSnapshot(RoutesSnapshot("/v2", "/"));
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());

  RequestEvent stale =
      client.Send(MakeDeltaRequest(ResourceType::kRoute, {"r2"}, {}, /*nonce=*/first->nonce()));
  EXPECT_EQ(stale.kind, RequestEvent::Kind::kStaleNonce);
  EXPECT_FALSE(client.Next().has_value()) << "second response still in flight";

  EXPECT_EQ(client.Ack(*second).kind, RequestEvent::Kind::kAck);
  std::optional<Response> third = client.Next();
  ASSERT_TRUE(third.has_value());
  EXPECT_THAT(NamesIn(*third), ElementsAre("r2"));
}

TEST(DeltaStreamStateTest, SubscriptionChangeWithTheAckedNonceIsNeitherAckNorNack) {
  FakeClient client(ResourceType::kRoute);
  client.state().SetSnapshot(RoutesSnapshot());
  client.Subscribe(ResourceType::kRoute, {"r1"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(client.Ack(*first).kind, RequestEvent::Kind::kAck);
  // What Envoy sends to add a name: the latest nonce again.
  RequestEvent change = client.Subscribe(ResourceType::kRoute, {"r2"});
  EXPECT_NE(change.kind, RequestEvent::Kind::kAck);
  EXPECT_NE(change.kind, RequestEvent::Kind::kNack);
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), ElementsAre("r2"));
}

TEST(DeltaStreamStateTest, StaleNackDoesNotRejectTheInFlightResponse) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(DeltaClusters(250));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.state().SetSnapshot(DeltaClusters(500));
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  Request late = MakeDeltaRequest(ResourceType::kCluster, {}, {}, first->nonce());
  late.mutable_error_detail()->set_message("late");
  EXPECT_EQ(client.Send(late).kind, RequestEvent::Kind::kStaleNonce);
  EXPECT_EQ(client.Ack(*second).kind, RequestEvent::Kind::kAck);
}

TEST(DeltaStreamStateTest, OneResponseInFlightAndOnlyTheNewestAfterTheAck) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(DeltaClusters(100));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.state().SetSnapshot(DeltaClusters(200));
  EXPECT_FALSE(client.Next().has_value());
  SnapshotPtr newest = DeltaClusters(300);
  client.state().SetSnapshot(newest);
  EXPECT_FALSE(client.Next().has_value());

  client.Ack(*first);
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), ElementsAre("c1"));
  EXPECT_EQ(second->resources(0).version(),
            newest->Of(ResourceType::kCluster).by_name.at("c1")->version);
  EXPECT_FALSE(client.Next().has_value());
  client.Ack(*second);
  EXPECT_FALSE(client.Next().has_value());
}

TEST(DeltaStreamStateTest, TypeUrlIsChecked) {
  DeltaStreamState per_type(ResourceType::kRoute);
  absl::StatusOr<RequestEvent> foreign =
      per_type.OnRequest(MakeDeltaRequest(ResourceType::kCluster, {}));
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kInvalidArgument);

  DeltaStreamState ads(std::nullopt);
  Request empty = MakeDeltaRequest(ResourceType::kCluster, {});
  empty.clear_type_url();
  absl::StatusOr<RequestEvent> missing = ads.OnRequest(empty);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  Request malformed = MakeDeltaRequest(ResourceType::kCluster, {});
  malformed.set_type_url("google.protobuf.Empty");
  absl::StatusOr<RequestEvent> bad = ads.OnRequest(malformed);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  Request v2 = MakeDeltaRequest(ResourceType::kCluster, {});
  v2.set_type_url("type.googleapis.com/envoy.api.v2.Listener");
  EXPECT_FALSE(ads.OnRequest(v2).ok());
}

void SubscribeAll(FakeClient& client) {
  client.Subscribe(ResourceType::kRoute, {"r1", "r2"});
  client.Subscribe(ResourceType::kListener, {"*"});
  client.Subscribe(ResourceType::kEndpoint, {"c1", "c2"});
  client.Subscribe(ResourceType::kCluster, {});
  client.Subscribe(ResourceType::kSecret, {"s1"});
}

TEST(DeltaStreamStateTest, AdsSendsTypesInOrder) {
  FakeClient client(std::nullopt);
  SubscribeAll(client);
  client.state().SetSnapshot(FullSnapshot());
  std::vector<std::string> order;
  while (std::optional<Response> response = client.Next()) {
    order.push_back(std::string(ShortName(*ResourceTypeFromUrl(response->type_url()))));
    ASSERT_LE(order.size(), 5u);
  }
  EXPECT_THAT(order, ElementsAre("secret", "cluster", "endpoint", "listener", "route"));
}

SnapshotPtr WithoutSecondPath() {
  return NodeSnapshotBuilder()
      .Add(ResourceType::kSecret, SecretRes("s1"))
      .Add(ResourceType::kCluster, ClusterRes("c1", 900))
      .Add(ResourceType::kEndpoint, EndpointRes("c1"))
      .Add(ResourceType::kListener, ListenerRes("l1", "r1", 10001))
      .Add(ResourceType::kRoute, RouteRes("r1", "c1"))
      .Build();
}

TEST(DeltaStreamStateTest, AdsHoldsRemovalsUntilLaterTypesCaughtUp) {
  FakeClient client(std::nullopt);
  SubscribeAll(client);
  client.state().SetSnapshot(FullSnapshot());
  while (std::optional<Response> response = client.Next()) client.Ack(*response);

  client.state().SetSnapshot(WithoutSecondPath());
  std::optional<Response> cluster = client.Next();
  ASSERT_TRUE(cluster.has_value());
  ASSERT_EQ(cluster->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_THAT(NamesIn(*cluster), ElementsAre("c1"));
  EXPECT_THAT(RemovedIn(*cluster), IsEmpty()) << "c2 is held back";
  // c1 changed: its unchanged load assignment goes again (warming).
  std::optional<Response> warming = client.Next();
  ASSERT_TRUE(warming.has_value());
  ASSERT_EQ(warming->type_url(), TypeUrl(ResourceType::kEndpoint));
  EXPECT_THAT(NamesIn(*warming), ElementsAre("c1"));
  EXPECT_THAT(RemovedIn(*warming), IsEmpty()) << "c2 is held back";
  std::optional<Response> route = client.Next();
  ASSERT_TRUE(route.has_value());
  ASSERT_EQ(route->type_url(), TypeUrl(ResourceType::kRoute));
  EXPECT_THAT(RemovedIn(*route), ElementsAre("r2"));
  EXPECT_FALSE(client.Next().has_value());

  client.Ack(*cluster);
  client.Ack(*warming);
  EXPECT_FALSE(client.Next().has_value());
  client.Ack(*route);
  std::optional<Response> listener = client.Next();
  ASSERT_TRUE(listener.has_value());
  ASSERT_EQ(listener->type_url(), TypeUrl(ResourceType::kListener));
  EXPECT_THAT(RemovedIn(*listener), ElementsAre("l2"));
  EXPECT_FALSE(client.Next().has_value());
  client.Ack(*listener);

  std::optional<Response> endpoint = client.Next();
  ASSERT_TRUE(endpoint.has_value());
  ASSERT_EQ(endpoint->type_url(), TypeUrl(ResourceType::kEndpoint));
  EXPECT_THAT(RemovedIn(*endpoint), ElementsAre("c2"));
  EXPECT_FALSE(client.Next().has_value());
  client.Ack(*endpoint);

  std::optional<Response> final_cluster = client.Next();
  ASSERT_TRUE(final_cluster.has_value());
  ASSERT_EQ(final_cluster->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_THAT(NamesIn(*final_cluster), IsEmpty());
  EXPECT_THAT(RemovedIn(*final_cluster), ElementsAre("c2"));
  client.Ack(*final_cluster);
  EXPECT_FALSE(client.Next().has_value());
}

TEST(DeltaStreamStateTest, PerTypeStreamRemovesAtOnce) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(FullSnapshot());
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.state().SetSnapshot(WithoutSecondPath());
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), ElementsAre("c1"));
  EXPECT_THAT(RemovedIn(*second), ElementsAre("c2"));
}

TEST(DeltaStreamStateTest, AFirstWildcardRequestIsAnsweredEvenWithNothingToSend) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(NodeSnapshotBuilder().Build());
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> response = client.Next();
  ASSERT_TRUE(response.has_value()) << "Envoy waits for this answer to finish initializing";
  EXPECT_THAT(NamesIn(*response), ::testing::IsEmpty());
  client.Ack(*response);
  EXPECT_FALSE(client.Next().has_value()) << "answered once, not again";

  client.state().SetSnapshot(DeltaClusters());
  std::optional<Response> later = client.Next();
  ASSERT_TRUE(later.has_value());
  EXPECT_THAT(NamesIn(*later), ::testing::ElementsAre("c1", "c2"));
}

}  // namespace
}  // namespace propsy::xds
