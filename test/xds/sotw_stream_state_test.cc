#include "xds/sotw_stream_state.h"

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
using ::testing::HasSubstr;
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

// Requests, answers, versions and subscriptions on one stream.

TEST(SotwStreamStateTest, NothingIsSentBeforeARequestAndASnapshot) {
  FakeClient client(ResourceType::kCluster);
  EXPECT_FALSE(client.Next().has_value());
  client.state().SetSnapshot(Clusters());
  EXPECT_FALSE(client.Next().has_value()) << "no request yet";

  FakeClient waiting(ResourceType::kCluster);
  waiting.Subscribe(ResourceType::kCluster, {});
  EXPECT_FALSE(waiting.Next().has_value()) << "no snapshot yet";
  waiting.state().SetSnapshot(Clusters());
  EXPECT_TRUE(waiting.Next().has_value());
}

TEST(SotwStreamStateTest, FirstRequestGetsTheSetWithItsVersionAndANonce) {
  FakeClient client(ResourceType::kCluster);
  SnapshotPtr snapshot = Clusters();
  client.state().SetSnapshot(snapshot);
  RequestEvent event = client.Subscribe(ResourceType::kCluster, {});
  EXPECT_EQ(event.kind, RequestEvent::Kind::kRequest);
  EXPECT_EQ(event.type, ResourceType::kCluster);

  std::optional<Response> response = client.Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_EQ(response->version_info(), snapshot->Of(ResourceType::kCluster).version);
  EXPECT_FALSE(response->nonce().empty());
  EXPECT_THAT(NamesIn(*response), ElementsAre("c1", "c2"));
  // The bodies are the resources' own serialized bytes.
  EXPECT_EQ(response->resources(0).SerializeAsString(),
            snapshot->Of(ResourceType::kCluster).by_name.at("c1")->body.SerializeAsString());
}

TEST(SotwStreamStateTest, AckedSetIsNotSentAgain) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(Clusters());
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> response = client.Next();
  ASSERT_TRUE(response.has_value());

  RequestEvent ack = client.Ack(*response);
  EXPECT_EQ(ack.kind, RequestEvent::Kind::kAck);
  EXPECT_EQ(ack.version, response->version_info());
  EXPECT_FALSE(client.Next().has_value());

  // An equal snapshot (new object, same content) changes nothing.
  client.state().SetSnapshot(Clusters());
  EXPECT_FALSE(client.Next().has_value());
  // Nor does a change to a type this stream does not serve.
  client.state().SetSnapshot(NodeSnapshotBuilder()
                                 .Add(ResourceType::kCluster, ClusterRes("c1"))
                                 .Add(ResourceType::kCluster, ClusterRes("c2"))
                                 .Add(ResourceType::kListener, ListenerRes("l1", "r1"))
                                 .Build());
  EXPECT_FALSE(client.Next().has_value());
  // A repeated request with the same names and nonce does not either.
  client.Subscribe(ResourceType::kCluster, {});
  EXPECT_FALSE(client.Next().has_value());
}

TEST(SotwStreamStateTest, ChangedSnapshotGetsNewVersionAndFreshNonce) {
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
  EXPECT_NE(second->version_info(), first->version_info());
  EXPECT_EQ(second->version_info(), changed->Of(ResourceType::kCluster).version);
  EXPECT_NE(second->nonce(), first->nonce());
  EXPECT_FALSE(second->nonce().empty());
  // State of the world: the whole set, the unchanged c2 included.
  EXPECT_THAT(NamesIn(*second), ElementsAre("c1", "c2"));
  client.Ack(*second);
  EXPECT_FALSE(client.Next().has_value());
}

TEST(SotwStreamStateTest, NackedVersionIsNeverResent) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(Clusters(250));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> good = client.Next();
  ASSERT_TRUE(good.has_value());
  client.Ack(*good);

  client.state().SetSnapshot(Clusters(500));
  std::optional<Response> bad = client.Next();
  ASSERT_TRUE(bad.has_value());
  RequestEvent nack = client.Nack(*bad, "cluster c1: bad timeout");
  EXPECT_EQ(nack.kind, RequestEvent::Kind::kNack);
  EXPECT_EQ(nack.version, bad->version_info());
  EXPECT_EQ(nack.error, "cluster c1: bad timeout");
  EXPECT_FALSE(client.Next().has_value()) << "a NACK must not cause a resend loop";

  // The same content again, a repeated request, or an unrelated type change:
  // the rejected version still does not go out.
  client.state().SetSnapshot(Clusters(500));
  EXPECT_FALSE(client.Next().has_value());
  client.Subscribe(ResourceType::kCluster, {});
  EXPECT_FALSE(client.Next().has_value());

  // A later change is sent.
  SnapshotPtr fixed = Clusters(750);
  client.state().SetSnapshot(fixed);
  std::optional<Response> next = client.Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->version_info(), fixed->Of(ResourceType::kCluster).version);
  EXPECT_NE(next->nonce(), bad->nonce());
  EXPECT_EQ(client.Ack(*next).kind, RequestEvent::Kind::kAck);
}

TEST(SotwStreamStateTest, ReturningToTheLastGoodSetAfterANackIsSent) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(Clusters(250));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> good = client.Next();
  ASSERT_TRUE(good.has_value());
  client.Ack(*good);
  client.state().SetSnapshot(Clusters(500));
  std::optional<Response> bad = client.Next();
  ASSERT_TRUE(bad.has_value());
  client.Nack(*bad, "rejected");

  // The configuration changed back: the server's idea of what the client
  // holds (the rejected set) differs, so the good set is sent again.
  client.state().SetSnapshot(Clusters(250));
  std::optional<Response> again = client.Next();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->version_info(), good->version_info());
}

TEST(SotwStreamStateTest, StaleNonceIsIgnoredWithItsSubscriptionChange) {
  FakeClient client(ResourceType::kRoute);
  SnapshotPtr snapshot = FullSnapshot();
  client.state().SetSnapshot(snapshot);
  client.Subscribe(ResourceType::kRoute, {"r1"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);

  client.state().SetSnapshot(NodeSnapshotBuilder()
                                 .Add(ResourceType::kRoute, RouteRes("r1", "c1", "/v2"))
                                 .Add(ResourceType::kRoute, RouteRes("r2", "c2"))
                                 .Build());
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());

  // A request answering the first response (older nonce) that also asks for
  // r2: stale, so neither an ACK nor a subscription change.
  absl::StatusOr<RequestEvent> stale = client.state().OnRequest(
      MakeSotwRequest(ResourceType::kRoute, {"r1", "r2"}, first->version_info(), first->nonce()));
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->kind, RequestEvent::Kind::kStaleNonce);
  EXPECT_FALSE(client.Next().has_value()) << "still awaiting the ACK of the second response";

  // The real ACK of the second response (still naming only r1): nothing due,
  // because the stale request's r2 was never applied.
  EXPECT_EQ(client.Ack(*second).kind, RequestEvent::Kind::kAck);
  EXPECT_FALSE(client.Next().has_value());

  // The client resends the change with the current nonce: now it counts.
  client.Subscribe(ResourceType::kRoute, {"r1", "r2"});
  std::optional<Response> third = client.Next();
  ASSERT_TRUE(third.has_value());
  EXPECT_THAT(NamesIn(*third), ElementsAre("r2")) << "r1 is held already";
}

TEST(SotwStreamStateTest, StaleNackIsNotANack) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(Clusters(250));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.state().SetSnapshot(Clusters(500));
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());

  Request late_nack = MakeSotwRequest(ResourceType::kCluster, {}, "", first->nonce());
  late_nack.mutable_error_detail()->set_message("late");
  absl::StatusOr<RequestEvent> event = client.state().OnRequest(late_nack);
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->kind, RequestEvent::Kind::kStaleNonce);
  // The second response can still be ACKed.
  EXPECT_EQ(client.Ack(*second).kind, RequestEvent::Kind::kAck);
}

TEST(SotwStreamStateTest, OneResponseInFlightAndOnlyTheNewestAfterTheAck) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(Clusters(100));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());

  client.state().SetSnapshot(Clusters(200));
  EXPECT_FALSE(client.Next().has_value()) << "first response is not ACKed yet";
  SnapshotPtr newest = Clusters(300);
  client.state().SetSnapshot(newest);
  EXPECT_FALSE(client.Next().has_value()) << "first response is not ACKed yet";

  client.Ack(*first);
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->version_info(), newest->Of(ResourceType::kCluster).version);
  EXPECT_FALSE(client.Next().has_value()) << "the intermediate snapshot is never sent";
  client.Ack(*second);
  EXPECT_FALSE(client.Next().has_value());
}

TEST(SotwStreamStateTest, NackAlsoFreesTheWireForTheNewestSnapshot) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(Clusters(100));
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  SnapshotPtr newest = Clusters(300);
  client.state().SetSnapshot(newest);
  EXPECT_FALSE(client.Next().has_value());
  client.Nack(*first, "nope");
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->version_info(), newest->Of(ResourceType::kCluster).version);
}

TEST(SotwStreamStateTest, ListenersAndClustersAreWildcardWhenNoNamesAreGiven) {
  for (ResourceType type : {ResourceType::kCluster, ResourceType::kListener}) {
    SCOPED_TRACE(ShortName(type));
    FakeClient client(type);
    client.state().SetSnapshot(FullSnapshot());
    client.Subscribe(type, {});
    std::optional<Response> response = client.Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->resources_size(), 2);
  }
}

TEST(SotwStreamStateTest, NamedTypesWithNoNamesGetNothing) {
  for (ResourceType type : {ResourceType::kRoute, ResourceType::kEndpoint, ResourceType::kSecret}) {
    SCOPED_TRACE(ShortName(type));
    FakeClient client(type);
    client.state().SetSnapshot(FullSnapshot());
    client.Subscribe(type, {});
    std::optional<Response> response = client.Next();
    EXPECT_EQ(response.has_value() ? response->resources_size() : 0, 0);
  }
}

TEST(SotwStreamStateTest, StarIsWildcardForEveryType) {
  for (ResourceType type : kAllResourceTypes) {
    SCOPED_TRACE(ShortName(type));
    FakeClient client(type);
    SnapshotPtr snapshot = FullSnapshot();
    client.state().SetSnapshot(snapshot);
    client.Subscribe(type, {"*"});
    std::optional<Response> response = client.Next();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->resources_size(), static_cast<int>(snapshot->Of(type).by_name.size()));
    EXPECT_EQ(response->version_info(), snapshot->Of(type).version);
  }
}

TEST(SotwStreamStateTest, NamedSubscriptionGetsItsSubsetAndFollowsChanges) {
  FakeClient client(ResourceType::kEndpoint);
  client.state().SetSnapshot(FullSnapshot());
  client.Subscribe(ResourceType::kEndpoint, {"c1", "missing"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(NamesIn(*first), ElementsAre("c1"));
  client.Ack(*first);

  client.Subscribe(ResourceType::kEndpoint, {"c2"});
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), ElementsAre("c2"));
  EXPECT_NE(second->version_info(), first->version_info());
  client.Ack(*second);

  client.Subscribe(ResourceType::kEndpoint, {"c1", "c2"});
  std::optional<Response> third = client.Next();
  ASSERT_TRUE(third.has_value());
  EXPECT_THAT(NamesIn(*third), ElementsAre("c1")) << "c2 is held already";
  client.Ack(*third);

  // A change to a resource outside the subscription sends nothing.
  client.Subscribe(ResourceType::kEndpoint, {"c1"});
  std::optional<Response> fourth = client.Next();
  ASSERT_TRUE(fourth.has_value());
  client.Ack(*fourth);
  client.state().SetSnapshot(NodeSnapshotBuilder()
                                 .Add(ResourceType::kEndpoint, EndpointRes("c1"))
                                 .Add(ResourceType::kEndpoint, EndpointRes("c2", "10.9.9.9"))
                                 .Build());
  EXPECT_FALSE(client.Next().has_value());
}

TEST(SotwStreamStateTest, ClusterStreamCanNarrowFromWildcardToNames) {
  FakeClient client(ResourceType::kCluster);
  client.state().SetSnapshot(FullSnapshot());
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<Response> all = client.Next();
  ASSERT_TRUE(all.has_value());
  EXPECT_THAT(NamesIn(*all), ElementsAre("c1", "c2"));
  client.Ack(*all);
  client.Subscribe(ResourceType::kCluster, {"c2"});
  std::optional<Response> narrowed = client.Next();
  ASSERT_TRUE(narrowed.has_value());
  EXPECT_THAT(NamesIn(*narrowed), ElementsAre("c2"));
}

TEST(SotwStreamStateTest, LentBodiesSerializeLikeCopiesAndGoBackIntact) {
  SnapshotPtr snapshot = FullSnapshot();
  SotwStreamState state(ResourceType::kCluster);
  state.SetSnapshot(snapshot);
  ASSERT_TRUE(state.OnRequest(MakeSotwRequest(ResourceType::kCluster, {})).ok());
  SentSummary summary;
  std::optional<Response> planned = state.NextResponse(&summary);
  ASSERT_TRUE(planned.has_value());
  ASSERT_FALSE(summary.resources.empty());

  Response copied = *planned;
  SotwStreamState::AttachBodies(copied, summary.resources);
  Response lent = *planned;
  SotwStreamState::LendBodies(lent, summary.resources);
  ASSERT_EQ(lent.resources_size(), static_cast<int>(summary.resources.size()));
  EXPECT_EQ(&lent.resources(0), &summary.resources[0]->body) << "borrowed, not copied";
  EXPECT_EQ(lent.SerializeAsString(), copied.SerializeAsString());

  SotwStreamState::ReturnBodies(lent);
  EXPECT_EQ(lent.resources_size(), 0);
  // Destroying the emptied message frees none of the shared bodies, which
  // still hold what they held (ASan would report a double free otherwise).
  lent = Response();
  for (int i = 0; i < copied.resources_size(); ++i) {
    EXPECT_EQ(summary.resources[i]->body.SerializeAsString(),
              copied.resources(i).SerializeAsString());
  }
}

TEST(SotwStreamStateTest, ReconnectWithCurrentVersionGetsNothing) {
  SnapshotPtr snapshot = Clusters();
  const std::string current = snapshot->Of(ResourceType::kCluster).version;

  SotwStreamState state(ResourceType::kCluster);
  state.SetSnapshot(snapshot);
  ASSERT_TRUE(state.OnRequest(MakeSotwRequest(ResourceType::kCluster, {}, current)).ok());
  SentSummary summary;
  EXPECT_FALSE(state.NextResponse(&summary).has_value());

  // The client is then told about the next change.
  state.SetSnapshot(Clusters(999));
  std::optional<Response> update = state.NextResponse(&summary);
  if (update.has_value()) SotwStreamState::AttachBodies(*update, summary.resources);
  ASSERT_TRUE(update.has_value());
  EXPECT_NE(update->version_info(), current);

  // A reconnecting client holding something else is sent the current set.
  SotwStreamState other(ResourceType::kCluster);
  other.SetSnapshot(snapshot);
  ASSERT_TRUE(other.OnRequest(MakeSotwRequest(ResourceType::kCluster, {}, "old-version")).ok());
  std::optional<Response> response = other.NextResponse(&summary);
  if (response.has_value()) SotwStreamState::AttachBodies(*response, summary.resources);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->version_info(), current);
}

TEST(SotwStreamStateTest, ReconnectWithNamedSubscriptionAndCurrentVersionGetsNothing) {
  // The version of a subset must be computed the same way on both streams,
  // or every reconnect re-sends everything.
  SnapshotPtr snapshot = FullSnapshot();
  FakeClient before(ResourceType::kRoute);
  before.state().SetSnapshot(snapshot);
  before.Subscribe(ResourceType::kRoute, {"r2"});
  std::optional<Response> held = before.Next();
  ASSERT_TRUE(held.has_value());

  SotwStreamState after(ResourceType::kRoute);
  after.SetSnapshot(snapshot);
  ASSERT_TRUE(
      after.OnRequest(MakeSotwRequest(ResourceType::kRoute, {"r2"}, held->version_info())).ok());
  SentSummary summary;
  EXPECT_FALSE(after.NextResponse(&summary).has_value());
}

TEST(SotwStreamStateTest, SubscriptionChangeAfterANackIsServed) {
  FakeClient client(ResourceType::kRoute);
  client.state().SetSnapshot(FullSnapshot());
  client.Subscribe(ResourceType::kRoute, {"r1"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Nack(*first, "bad r1");
  EXPECT_FALSE(client.Next().has_value());
  // The client asks for more, with the latest nonce and no error.
  EXPECT_EQ(client.Subscribe(ResourceType::kRoute, {"r1", "r2"}).kind,
            RequestEvent::Kind::kRequest);
  std::optional<Response> second = client.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(NamesIn(*second), ElementsAre("r1", "r2"));
}

TEST(SotwStreamStateTest, PerTypeStreamRejectsForeignTypeUrl) {
  SotwStreamState state(ResourceType::kCluster);
  absl::StatusOr<RequestEvent> foreign =
      state.OnRequest(MakeSotwRequest(ResourceType::kListener, {}));
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kInvalidArgument);

  // An empty type_url on a per-type service means that service's type.
  Request untyped = MakeSotwRequest(ResourceType::kCluster, {});
  untyped.clear_type_url();
  absl::StatusOr<RequestEvent> event = state.OnRequest(untyped);
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, ResourceType::kCluster);
  state.SetSnapshot(Clusters());
  SentSummary summary;
  std::optional<Response> response = state.NextResponse(&summary);
  if (response.has_value()) SotwStreamState::AttachBodies(*response, summary.resources);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->type_url(), TypeUrl(ResourceType::kCluster));
}

TEST(SotwStreamStateTest, AdsRejectsEmptyMalformedV2AndAliasedTypeUrls) {
  SotwStreamState state(std::nullopt);
  Request empty = MakeSotwRequest(ResourceType::kCluster, {});
  empty.clear_type_url();
  absl::StatusOr<RequestEvent> missing = state.OnRequest(empty);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("type_url is required"));

  for (const std::string& url : std::vector<std::string>{
           "envoy.config.cluster.v3.Cluster", "type.googleapis.com/",
           "/envoy.config.cluster.v3.Cluster", "type.googleapis.com/envoy..Cluster",
           "type.googleapis.com/envoy.1Cluster", "type.googleapis.com/envoy.Cluster.",
           "type googleapis.com/envoy.Cluster", "type.googleapis.com/" + std::string(300, 'a')}) {
    SCOPED_TRACE(url);
    Request malformed = MakeSotwRequest(ResourceType::kCluster, {});
    malformed.set_type_url(url);
    absl::StatusOr<RequestEvent> bad = state.OnRequest(malformed);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(bad.status().message(), HasSubstr("malformed type_url"));
  }

  // A v2 client would drop everything on an empty answer: refused clearly.
  for (const std::string url : {"type.googleapis.com/envoy.api.v2.Cluster",
                                "type.googleapis.com/envoy.config.cluster.v2.Cluster",
                                "type.googleapis.com/envoy.service.discovery.v2.Runtime"}) {
    SCOPED_TRACE(url);
    Request v2 = MakeSotwRequest(ResourceType::kCluster, {});
    v2.set_type_url(url);
    absl::StatusOr<RequestEvent> bad = state.OnRequest(v2);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(bad.status().message(), HasSubstr("v2 API"));
  }
  // So would a client naming a served type under another prefix.
  Request aliased = MakeSotwRequest(ResourceType::kCluster, {});
  aliased.set_type_url("example.com/envoy.config.cluster.v3.Cluster");
  absl::StatusOr<RequestEvent> bad = state.OnRequest(aliased);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(TypeUrl(ResourceType::kCluster)));

  // Nothing was subscribed by the rejected requests.
  state.SetSnapshot(FullSnapshot());
  SentSummary summary;
  EXPECT_FALSE(state.NextResponse(&summary).has_value());
}

// Subscribes an ADS client to every type: wildcard for clusters and listeners,
// by name for the rest.

}  // namespace
}  // namespace propsy::xds
