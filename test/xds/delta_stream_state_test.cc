#include "xds/delta_stream_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "xds/delta_fake_client.h"
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

// Versions, subscriptions and removals on one stream.

TEST(DeltaStreamStateTest, FirstRequestGetsEveryResourceWithItsVersion) {
  FakeClient client(ResourceType::kCluster);
  SnapshotPtr snapshot = DeltaClusters();
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
  client.state().SetSnapshot(DeltaClusters());  // equal content
  EXPECT_FALSE(client.Next().has_value());
}

TEST(DeltaStreamStateTest, OnlyChangedResourcesAreSent) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(DeltaClusters(250));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);

  SnapshotPtr changed = DeltaClusters(500);
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
  SnapshotPtr snapshot = DeltaClusters();
  const auto& clusters = snapshot->Of(ResourceType::kCluster).by_name;

  DeltaStreamState state(ResourceType::kCluster);
  state.SetSnapshot(snapshot);
  Request request = MakeDeltaRequest(ResourceType::kCluster, {});
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

TEST(DeltaStreamStateTest, LentBodiesSerializeLikeCopiesAndGoBackIntact) {
  SnapshotPtr snapshot = DeltaClusters();
  DeltaStreamState state(ResourceType::kCluster);
  state.SetSnapshot(snapshot);
  ASSERT_TRUE(state.OnRequest(MakeDeltaRequest(ResourceType::kCluster, {})).ok());
  SentSummary summary;
  std::optional<Response> planned = state.NextResponse(&summary);
  ASSERT_TRUE(planned.has_value());
  ASSERT_FALSE(summary.resources.empty());

  Response copied = *planned;
  DeltaStreamState::AttachBodies(copied, summary.resources);
  Response lent = *planned;
  DeltaStreamState::LendBodies(lent, summary.resources);
  ASSERT_EQ(lent.resources_size(), static_cast<int>(summary.resources.size()));
  EXPECT_EQ(&lent.resources(0).resource(), &summary.resources[0]->body) << "borrowed, not copied";
  EXPECT_EQ(lent.SerializeAsString(), copied.SerializeAsString());

  DeltaStreamState::ReturnBodies(lent);
  EXPECT_FALSE(lent.resources(0).has_resource());
  // Destroying the message frees none of the shared bodies, which still
  // hold what they held (ASan would report a double free otherwise).
  lent = Response();
  for (int i = 0; i < copied.resources_size(); ++i) {
    EXPECT_EQ(summary.resources[i]->body.SerializeAsString(),
              copied.resources(i).resource().SerializeAsString());
  }
}

TEST(DeltaStreamStateTest, ReconnectHoldingEverythingGetsNothing) {
  SnapshotPtr snapshot = RoutesSnapshot();
  DeltaStreamState state(ResourceType::kRoute);
  state.SetSnapshot(snapshot);
  Request request = MakeDeltaRequest(ResourceType::kRoute, {"r1", "r2"});
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
  client.state().SetSnapshot(DeltaClusters());
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);

  client.state().SetSnapshot(DeltaClusters(250, /*with_c2=*/false));
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), IsEmpty());
  EXPECT_THAT(RemovedIn(*second), ElementsAre("c2"));
  client.Ack(*second);
  EXPECT_FALSE(client.Next().has_value()) << "a removal is reported once";

  // Coming back, it is sent again.
  client.state().SetSnapshot(DeltaClusters());
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
  // client holds, r1 still follows changes, r2/r3 changes do not. Naming r1
  // subscribes to it, which the protocol says is answered even though the
  // client holds it (delta_musts_test.cc).
  client.Subscribe(ResourceType::kRoute, {"r1"}, {"*"});
  std::optional<Response> after = client.Next();
  ASSERT_TRUE(after.has_value());
  EXPECT_THAT(NamesIn(*after), ElementsAre("r1"));
  client.Ack(*after);
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

}  // namespace
}  // namespace propsy::xds
