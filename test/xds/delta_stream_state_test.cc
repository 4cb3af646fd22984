#include "xds/delta_stream_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

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

Request MakeRequest(ResourceType type, const std::vector<std::string>& subscribe,
                    const std::vector<std::string>& unsubscribe = {},
                    const std::string& nonce = "") {
  Request request;
  request.set_type_url(std::string(TypeUrl(type)));
  for (const std::string& name : subscribe) request.add_resource_names_subscribe(name);
  for (const std::string& name : unsubscribe) request.add_resource_names_unsubscribe(name);
  request.set_response_nonce(nonce);
  return request;
}

// Plays an Envoy on one delta stream, remembering the latest nonce per type.
class FakeClient {
 public:
  explicit FakeClient(std::optional<ResourceType> fixed_type) : state_(fixed_type) {}

  DeltaStreamState& state() { return state_; }

  RequestEvent Subscribe(ResourceType type, const std::vector<std::string>& subscribe,
                         const std::vector<std::string>& unsubscribe = {}) {
    return Send(MakeRequest(type, subscribe, unsubscribe, nonce_[type]));
  }

  RequestEvent Ack(const Response& response) {
    return Send(MakeRequest(*ResourceTypeFromUrl(response.type_url()), {}, {}, response.nonce()));
  }

  RequestEvent Nack(const Response& response, const std::string& error) {
    Request request =
        MakeRequest(*ResourceTypeFromUrl(response.type_url()), {}, {}, response.nonce());
    request.mutable_error_detail()->set_code(3);
    request.mutable_error_detail()->set_message(error);
    return Send(request);
  }

  RequestEvent Send(const Request& request) {
    absl::StatusOr<RequestEvent> event = state_.OnRequest(request);
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? *event : RequestEvent{};
  }

  std::optional<Response> Next() {
    SentSummary summary;
    std::optional<Response> response = state_.NextResponse(&summary);
    if (response.has_value()) DeltaStreamState::AttachBodies(*response, summary.resources);
    if (response.has_value()) {
      ResourceType type = *ResourceTypeFromUrl(response->type_url());
      nonce_[type] = response->nonce();
      EXPECT_EQ(summary.type, type);
      EXPECT_EQ(summary.nonce, response->nonce());
      EXPECT_EQ(summary.version, response->system_version_info());
      std::vector<std::string> summary_names;
      for (const ResourcePtr& resource : summary.resources) summary_names.push_back(resource->name);
      EXPECT_THAT(summary_names, ::testing::UnorderedElementsAreArray(NamesIn(*response)));
      EXPECT_THAT(summary.removed_names,
                  ::testing::UnorderedElementsAreArray(RemovedIn(*response)));
    }
    return response;
  }

 private:
  DeltaStreamState state_;
  std::map<ResourceType, std::string> nonce_;
};

SnapshotPtr Clusters(int64_t c1_timeout_ms = 250, bool with_c2 = true) {
  NodeSnapshotBuilder builder;
  builder.Add(ResourceType::kCluster, ClusterRes("c1", c1_timeout_ms));
  if (with_c2) builder.Add(ResourceType::kCluster, ClusterRes("c2"));
  return builder.Build();
}

SnapshotPtr RoutesSnapshot(const std::string& r1_prefix = "/", const std::string& r2_prefix = "/") {
  return NodeSnapshotBuilder()
      .Add(ResourceType::kRoute, RouteRes("r1", "c1", r1_prefix))
      .Add(ResourceType::kRoute, RouteRes("r2", "c2", r2_prefix))
      .Build();
}

TEST(DeltaStreamStateTest, FirstRequestGetsEveryResourceWithItsVersion) {
  FakeClient client(ResourceType::kCluster);
  SnapshotPtr snapshot = Clusters();
  client.state().SetSnapshot(snapshot);
  RequestEvent event = client.Subscribe(ResourceType::kCluster, {});
  EXPECT_EQ(event.kind, RequestEvent::Kind::kRequest);

  std::optional<Response> response = client.Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_FALSE(response->nonce().empty());
  EXPECT_EQ(response->system_version_info(), snapshot->Of(ResourceType::kCluster).version);
  EXPECT_THAT(RemovedIn(*response), IsEmpty());
  ASSERT_EQ(response->resources_size(), 2);
  for (const auto& resource : response->resources()) {
    const ResourcePtr& expected = snapshot->Of(ResourceType::kCluster).by_name.at(resource.name());
    EXPECT_EQ(resource.version(), expected->version);
    EXPECT_EQ(resource.resource().SerializeAsString(), expected->body.SerializeAsString());
    EXPECT_EQ(test::NameOf(resource.resource()), resource.name());
  }

  EXPECT_EQ(client.Ack(*response).kind, RequestEvent::Kind::kAck);
  EXPECT_FALSE(client.Next().has_value());
  client.state().SetSnapshot(Clusters());  // equal content
  EXPECT_FALSE(client.Next().has_value());
}

TEST(DeltaStreamStateTest, OnlyChangedResourcesAreSent) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(Clusters(250));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);

  SnapshotPtr changed = Clusters(500);
  client.state().SetSnapshot(changed);
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), ElementsAre("c1"));
  EXPECT_EQ(second->resources(0).version(),
            changed->Of(ResourceType::kCluster).by_name.at("c1")->version);
  EXPECT_NE(second->nonce(), first->nonce());
  EXPECT_THAT(RemovedIn(*second), IsEmpty());
}

TEST(DeltaStreamStateTest, InitialResourceVersionsAreHonoured) {
  SnapshotPtr snapshot = Clusters();
  const auto& clusters = snapshot->Of(ResourceType::kCluster).by_name;

  DeltaStreamState state(ResourceType::kCluster);
  state.SetSnapshot(snapshot);
  Request request = MakeRequest(ResourceType::kCluster, {});
  (*request.mutable_initial_resource_versions())["c1"] = clusters.at("c1")->version;
  (*request.mutable_initial_resource_versions())["c2"] = "some-older-version";
  (*request.mutable_initial_resource_versions())["gone"] = "whatever";
  ASSERT_TRUE(state.OnRequest(request).ok());

  SentSummary summary;
  std::optional<Response> response = state.NextResponse(&summary);
  if (response.has_value()) DeltaStreamState::AttachBodies(*response, summary.resources);
  ASSERT_TRUE(response.has_value());
  EXPECT_THAT(NamesIn(*response), ElementsAre("c2"));
  EXPECT_EQ(response->resources(0).version(), clusters.at("c2")->version);
  EXPECT_THAT(RemovedIn(*response), ElementsAre("gone"));
}

TEST(DeltaStreamStateTest, ReconnectHoldingEverythingGetsNothing) {
  SnapshotPtr snapshot = RoutesSnapshot();
  DeltaStreamState state(ResourceType::kRoute);
  state.SetSnapshot(snapshot);
  Request request = MakeRequest(ResourceType::kRoute, {"r1", "r2"});
  for (const auto& [name, resource] : snapshot->Of(ResourceType::kRoute).by_name) {
    (*request.mutable_initial_resource_versions())[name] = resource->version;
  }
  ASSERT_TRUE(state.OnRequest(request).ok());
  SentSummary summary;
  EXPECT_FALSE(state.NextResponse(&summary).has_value());

  // The next change is still delivered.
  state.SetSnapshot(RoutesSnapshot("/", "/changed"));
  std::optional<Response> update = state.NextResponse(&summary);
  if (update.has_value()) DeltaStreamState::AttachBodies(*update, summary.resources);
  ASSERT_TRUE(update.has_value());
  EXPECT_THAT(NamesIn(*update), ElementsAre("r2"));
}

TEST(DeltaStreamStateTest, RemovalIsReportedInRemovedResources) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(Clusters());
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);

  client.state().SetSnapshot(Clusters(250, /*with_c2=*/false));
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), IsEmpty());
  EXPECT_THAT(RemovedIn(*second), ElementsAre("c2"));
  client.Ack(*second);
  EXPECT_FALSE(client.Next().has_value()) << "a removal is reported once";

  // Coming back, it is sent again.
  client.state().SetSnapshot(Clusters());
  std::optional<Response> third = client.Next();
  ASSERT_TRUE(third.has_value());
  EXPECT_THAT(NamesIn(*third), ElementsAre("c2"));
}

TEST(DeltaStreamStateTest, SubscribeAndUnsubscribe) {
  FakeClient client(ResourceType::kRoute);
  client.state().SetSnapshot(RoutesSnapshot());
  client.Subscribe(ResourceType::kRoute, {"r1"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(NamesIn(*first), ElementsAre("r1"));
  client.Ack(*first);

  client.Subscribe(ResourceType::kRoute, {"r2"});
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), ElementsAre("r2")) << "r1 is held already";
  client.Ack(*second);

  client.Subscribe(ResourceType::kRoute, {}, {"r1"});
  EXPECT_FALSE(client.Next().has_value()) << "unsubscribing needs no response";
  client.state().SetSnapshot(RoutesSnapshot("/r1-changed", "/"));
  EXPECT_FALSE(client.Next().has_value()) << "r1 is no longer subscribed";
  client.state().SetSnapshot(RoutesSnapshot("/r1-changed", "/r2-changed"));
  std::optional<Response> third = client.Next();
  ASSERT_TRUE(third.has_value());
  EXPECT_THAT(NamesIn(*third), ElementsAre("r2"));
  client.Ack(*third);

  // Removing the unsubscribed r1 is not news to the client.
  client.state().SetSnapshot(
      NodeSnapshotBuilder().Add(ResourceType::kRoute, RouteRes("r2", "c2", "/r2-changed")).Build());
  EXPECT_FALSE(client.Next().has_value());

  // Subscribing again gets the current version.
  client.state().SetSnapshot(RoutesSnapshot("/r1-again", "/r2-changed"));
  client.Subscribe(ResourceType::kRoute, {"r1"});
  std::optional<Response> fourth = client.Next();
  ASSERT_TRUE(fourth.has_value());
  EXPECT_THAT(NamesIn(*fourth), ElementsAre("r1"));
}

TEST(DeltaStreamStateTest, StarSubscribesToEverythingOfAType) {
  FakeClient client(ResourceType::kRoute);
  client.state().SetSnapshot(RoutesSnapshot());
  client.Subscribe(ResourceType::kRoute, {"*"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(NamesIn(*first), UnorderedElementsAre("r1", "r2"));
  client.Ack(*first);

  client.state().SetSnapshot(NodeSnapshotBuilder()
                                 .Add(ResourceType::kRoute, RouteRes("r1", "c1"))
                                 .Add(ResourceType::kRoute, RouteRes("r2", "c2"))
                                 .Add(ResourceType::kRoute, RouteRes("r3", "c3"))
                                 .Build());
  std::optional<Response> added = client.Next();
  ASSERT_TRUE(added.has_value());
  EXPECT_THAT(NamesIn(*added), ElementsAre("r3"));
  client.Ack(*added);

  // Leaving the wildcard but keeping r1 by name: r3 is dropped from what the
  // client holds, r1 still follows changes, r2/r3 changes do not.
  client.Subscribe(ResourceType::kRoute, {"r1"}, {"*"});
  std::optional<Response> after = client.Next();
  EXPECT_FALSE(after.has_value());
  client.state().SetSnapshot(NodeSnapshotBuilder()
                                 .Add(ResourceType::kRoute, RouteRes("r1", "c1"))
                                 .Add(ResourceType::kRoute, RouteRes("r2", "c2", "/x"))
                                 .Add(ResourceType::kRoute, RouteRes("r3", "c3", "/y"))
                                 .Build());
  EXPECT_FALSE(client.Next().has_value());
  client.state().SetSnapshot(NodeSnapshotBuilder()
                                 .Add(ResourceType::kRoute, RouteRes("r1", "c1", "/z"))
                                 .Add(ResourceType::kRoute, RouteRes("r2", "c2", "/x"))
                                 .Add(ResourceType::kRoute, RouteRes("r3", "c3", "/y"))
                                 .Build());
  std::optional<Response> r1 = client.Next();
  ASSERT_TRUE(r1.has_value());
  EXPECT_THAT(NamesIn(*r1), ElementsAre("r1"));
}

TEST(DeltaStreamStateTest, LegacyWildcardForListenersAndClustersOnly) {
  for (ResourceType type : {ResourceType::kListener, ResourceType::kCluster}) {
    SCOPED_TRACE(ShortName(type));
    FakeClient client(type);
    client.state().SetSnapshot(FullSnapshot());
    client.Subscribe(type, {});
    std::optional<Response> response = client.Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->resources_size(), 2);
  }
  for (ResourceType type : {ResourceType::kRoute, ResourceType::kEndpoint, ResourceType::kSecret}) {
    SCOPED_TRACE(ShortName(type));
    FakeClient client(type);
    client.state().SetSnapshot(FullSnapshot());
    client.Subscribe(type, {});
    std::optional<Response> response = client.Next();
    EXPECT_EQ(response.has_value() ? response->resources_size() : 0, 0);
  }
}

TEST(DeltaStreamStateTest, MissingSubscribedNameIsReportedOnce) {
  FakeClient client(ResourceType::kRoute);
  client.state().SetSnapshot(RoutesSnapshot());
  client.Subscribe(ResourceType::kRoute, {"r1", "nope"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(NamesIn(*first), ElementsAre("r1"));
  EXPECT_THAT(RemovedIn(*first), ElementsAre("nope"));
  client.Ack(*first);
  EXPECT_FALSE(client.Next().has_value());

  client.state().SetSnapshot(RoutesSnapshot("/changed", "/"));
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), ElementsAre("r1"));
  EXPECT_THAT(RemovedIn(*second), IsEmpty()) << "\"nope\" was already reported";
  client.Ack(*second);

  // When it appears it is sent; when it goes it is removed (once).
  client.state().SetSnapshot(NodeSnapshotBuilder()
                                 .Add(ResourceType::kRoute, RouteRes("r1", "c1", "/changed"))
                                 .Add(ResourceType::kRoute, RouteRes("nope", "c1"))
                                 .Build());
  std::optional<Response> appeared = client.Next();
  ASSERT_TRUE(appeared.has_value());
  EXPECT_THAT(NamesIn(*appeared), ElementsAre("nope"));
  client.Ack(*appeared);
  client.state().SetSnapshot(
      NodeSnapshotBuilder().Add(ResourceType::kRoute, RouteRes("r1", "c1", "/changed")).Build());
  std::optional<Response> gone = client.Next();
  ASSERT_TRUE(gone.has_value());
  EXPECT_THAT(RemovedIn(*gone), ElementsAre("nope"));
  client.Ack(*gone);
  EXPECT_FALSE(client.Next().has_value());
}

TEST(DeltaStreamStateTest, NackedResourceVersionIsNotResent) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(Clusters(250));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);

  client.state().SetSnapshot(Clusters(500));
  std::optional<Response> bad = client.Next();
  ASSERT_TRUE(bad.has_value());
  RequestEvent nack = client.Nack(*bad, "c1 is bad");
  EXPECT_EQ(nack.kind, RequestEvent::Kind::kNack);
  EXPECT_EQ(nack.error, "c1 is bad");
  EXPECT_EQ(nack.version, bad->system_version_info());
  EXPECT_FALSE(client.Next().has_value()) << "no resend loop";
  client.state().SetSnapshot(Clusters(500));
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
  client.state().SetSnapshot(Clusters(250));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.state().SetSnapshot(Clusters(500));
  std::optional<Response> bad = client.Next();
  ASSERT_TRUE(bad.has_value());
  client.Nack(*bad, "no");
  // Back to what the client holds: nothing to send.
  client.state().SetSnapshot(Clusters(250));
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
      client.Send(MakeRequest(ResourceType::kRoute, {"r2"}, {}, /*nonce=*/first->nonce()));
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
  client.state().SetSnapshot(Clusters(250));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.state().SetSnapshot(Clusters(500));
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  Request late = MakeRequest(ResourceType::kCluster, {}, {}, first->nonce());
  late.mutable_error_detail()->set_message("late");
  EXPECT_EQ(client.Send(late).kind, RequestEvent::Kind::kStaleNonce);
  EXPECT_EQ(client.Ack(*second).kind, RequestEvent::Kind::kAck);
}

TEST(DeltaStreamStateTest, OneResponseInFlightAndOnlyTheNewestAfterTheAck) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(Clusters(100));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.state().SetSnapshot(Clusters(200));
  EXPECT_FALSE(client.Next().has_value());
  SnapshotPtr newest = Clusters(300);
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
      per_type.OnRequest(MakeRequest(ResourceType::kCluster, {}));
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kInvalidArgument);

  DeltaStreamState ads(std::nullopt);
  Request empty = MakeRequest(ResourceType::kCluster, {});
  empty.clear_type_url();
  absl::StatusOr<RequestEvent> missing = ads.OnRequest(empty);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  Request unknown = MakeRequest(ResourceType::kCluster, {});
  unknown.set_type_url("type.googleapis.com/google.protobuf.Empty");
  absl::StatusOr<RequestEvent> bad = ads.OnRequest(unknown);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
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
  std::optional<Response> route = client.Next();
  ASSERT_TRUE(route.has_value());
  ASSERT_EQ(route->type_url(), TypeUrl(ResourceType::kRoute));
  EXPECT_THAT(RemovedIn(*route), ElementsAre("r2"));
  EXPECT_FALSE(client.Next().has_value());

  client.Ack(*cluster);
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

}  // namespace
}  // namespace propsy::xds

namespace propsy::xds {
namespace {

TEST(DeltaStreamStateTest, AFirstWildcardRequestIsAnsweredEvenWithNothingToSend) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(NodeSnapshotBuilder().Build());
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> response = client.Next();
  ASSERT_TRUE(response.has_value()) << "Envoy waits for this answer to finish initializing";
  EXPECT_THAT(NamesIn(*response), ::testing::IsEmpty());
  client.Ack(*response);
  EXPECT_FALSE(client.Next().has_value()) << "answered once, not again";

  client.state().SetSnapshot(Clusters());
  std::optional<Response> later = client.Next();
  ASSERT_TRUE(later.has_value());
  EXPECT_THAT(NamesIn(*later), ::testing::ElementsAre("c1", "c2"));
}

}  // namespace
}  // namespace propsy::xds
