// The two MUST rules of the delta protocol (xDS protocol document, delta
// section; discovery.proto on resource_names_subscribe): a subscribed name
// is answered even if the client holds its version, and an explicit name
// unsubscribed while `*` still covers it is sent again (or listed removed).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "xds/delta_fake_client.h"
#include "xds/delta_stream_state.h"
#include "xds/test_resources.h"

namespace propsy::xds {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Response = DeltaStreamState::Response;
using FakeClient = test::FakeDeltaClient;
using test::NamesIn;
using test::RemovedIn;
using test::RouteRes;
using test::RoutesSnapshot;

TEST(DeltaMustsTest, ResubscribingAHeldNameIsAnswered) {
  FakeClient client(ResourceType::kRoute);
  SnapshotPtr snapshot = RoutesSnapshot();
  client.state().SetSnapshot(snapshot);
  client.Subscribe(ResourceType::kRoute, {"r1", "r2"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  EXPECT_FALSE(client.Next().has_value());

  // The client dropped r1 and wants it back before it said so.
  client.Subscribe(ResourceType::kRoute, {"r1"});
  std::optional<Response> again = client.Next();
  ASSERT_TRUE(again.has_value()) << "a subscribed name must be answered";
  EXPECT_THAT(NamesIn(*again), ElementsAre("r1"));
  EXPECT_EQ(again->resources(0).version(),
            snapshot->Of(ResourceType::kRoute).by_name.at("r1")->version);
  EXPECT_THAT(RemovedIn(*again), IsEmpty());
  client.Ack(*again);
  EXPECT_FALSE(client.Next().has_value()) << "answered once";
}

TEST(DeltaMustsTest, ResubscribingANameHeldThroughTheWildcardIsAnswered) {
  FakeClient client(std::nullopt);
  client.state().SetSnapshot(test::FullSnapshot());
  client.Subscribe(ResourceType::kListener, {"*"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.Subscribe(ResourceType::kListener, {"l2"});
  std::optional<Response> again = client.Next();
  ASSERT_TRUE(again.has_value());
  EXPECT_THAT(NamesIn(*again), ElementsAre("l2"));
}

TEST(DeltaMustsTest, ResubscribingAnAbsentNameListsItRemovedAgain) {
  FakeClient client(ResourceType::kRoute);
  client.state().SetSnapshot(RoutesSnapshot());
  client.Subscribe(ResourceType::kRoute, {"nope"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(RemovedIn(*first), ElementsAre("nope"));
  client.Ack(*first);
  client.Subscribe(ResourceType::kRoute, {"nope"});
  std::optional<Response> again = client.Next();
  ASSERT_TRUE(again.has_value());
  EXPECT_THAT(NamesIn(*again), IsEmpty());
  EXPECT_THAT(RemovedIn(*again), ElementsAre("nope"));
}

TEST(DeltaMustsTest, ResubscribingWaitsForTheResponseInFlight) {
  FakeClient client(ResourceType::kRoute);
  client.state().SetSnapshot(RoutesSnapshot());
  client.Subscribe(ResourceType::kRoute, {"r1"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  // No nonce: a subscription change that answers nothing.
  client.Send(test::MakeDeltaRequest(ResourceType::kRoute, {"r1"}));
  EXPECT_FALSE(client.Next().has_value()) << "one response per type in flight";
  client.Ack(*first);
  std::optional<Response> again = client.Next();
  ASSERT_TRUE(again.has_value());
  EXPECT_THAT(NamesIn(*again), ElementsAre("r1"));
}

TEST(DeltaMustsTest, ResubscribingANackedVersionSendsIt) {
  FakeClient client(ResourceType::kRoute);
  client.state().SetSnapshot(RoutesSnapshot());
  client.Subscribe(ResourceType::kRoute, {"r1"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  SnapshotPtr changed = RoutesSnapshot("/bad", "/");
  client.state().SetSnapshot(changed);
  std::optional<Response> bad = client.Next();
  ASSERT_TRUE(bad.has_value());
  client.Nack(*bad, "no");
  EXPECT_FALSE(client.Next().has_value());
  // The client asks explicitly: it is answered, with what there is.
  client.Subscribe(ResourceType::kRoute, {"r1"});
  std::optional<Response> asked = client.Next();
  ASSERT_TRUE(asked.has_value());
  EXPECT_EQ(asked->resources(0).version(),
            changed->Of(ResourceType::kRoute).by_name.at("r1")->version);
}

TEST(DeltaMustsTest, TheFirstRequestTrustsItsInitialVersions) {
  // Reconnecting: what the client says it holds right now is not re-sent,
  // although it names those resources in resource_names_subscribe too.
  SnapshotPtr snapshot = RoutesSnapshot();
  DeltaStreamState state(ResourceType::kRoute);
  state.SetSnapshot(snapshot);
  DeltaStreamState::Request request = test::MakeDeltaRequest(ResourceType::kRoute, {"r1", "r2"});
  (*request.mutable_initial_resource_versions())["r1"] =
      snapshot->Of(ResourceType::kRoute).by_name.at("r1")->version;
  ASSERT_TRUE(state.OnRequest(request).ok());
  SentSummary summary;
  std::optional<Response> response = state.NextResponse(&summary);
  ASSERT_TRUE(response.has_value());
  DeltaStreamState::AttachBodies(*response, summary.resources);
  EXPECT_THAT(NamesIn(*response), ElementsAre("r2"));
}

TEST(DeltaMustsTest, UnsubscribingANameTheWildcardStillCoversResendsIt) {
  FakeClient client(std::nullopt);
  client.state().SetSnapshot(test::FullSnapshot());
  client.Subscribe(ResourceType::kListener, {"*", "l1"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(NamesIn(*first), ElementsAre("l1", "l2"));
  client.Ack(*first);
  EXPECT_FALSE(client.Next().has_value());

  client.Subscribe(ResourceType::kListener, {}, {"l1"});
  std::optional<Response> resent = client.Next();
  ASSERT_TRUE(resent.has_value()) << "the client may have dropped l1 with its explicit name";
  EXPECT_THAT(NamesIn(*resent), ElementsAre("l1"));
  EXPECT_THAT(RemovedIn(*resent), IsEmpty());
  client.Ack(*resent);
  EXPECT_FALSE(client.Next().has_value());
}

TEST(DeltaMustsTest, UnsubscribingAnAbsentNameTheWildcardCoversListsItRemoved) {
  FakeClient client(ResourceType::kRoute);
  client.state().SetSnapshot(RoutesSnapshot());
  client.Subscribe(ResourceType::kRoute, {"*", "nope"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(RemovedIn(*first), ElementsAre("nope"));
  client.Ack(*first);
  client.Subscribe(ResourceType::kRoute, {}, {"nope"});
  std::optional<Response> answer = client.Next();
  ASSERT_TRUE(answer.has_value());
  EXPECT_THAT(NamesIn(*answer), IsEmpty());
  EXPECT_THAT(RemovedIn(*answer), ElementsAre("nope"));
}

TEST(DeltaMustsTest, UnsubscribingWithoutAWildcardNeedsNoAnswer) {
  FakeClient client(ResourceType::kRoute);
  client.state().SetSnapshot(RoutesSnapshot());
  client.Subscribe(ResourceType::kRoute, {"r1", "r2"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.Subscribe(ResourceType::kRoute, {}, {"r1"});
  EXPECT_FALSE(client.Next().has_value());
  // Leaving the wildcard and the name together needs none either.
  FakeClient wildcard(ResourceType::kRoute);
  wildcard.state().SetSnapshot(RoutesSnapshot());
  wildcard.Subscribe(ResourceType::kRoute, {"*", "r1"});
  std::optional<Response> all = wildcard.Next();
  ASSERT_TRUE(all.has_value());
  wildcard.Ack(*all);
  wildcard.Subscribe(ResourceType::kRoute, {}, {"r1", "*"});
  EXPECT_FALSE(wildcard.Next().has_value());
}

TEST(DeltaMustsTest, AResubscribedNameThatLeftTheSnapshotIsAnsweredWithItsRemoval) {
  // r1 is re-subscribed and leaves the snapshot before the answer goes out:
  // the answer is its removal, once.
  FakeClient client(std::nullopt);
  client.state().SetSnapshot(RoutesSnapshot());
  client.Subscribe(ResourceType::kRoute, {"r1", "r2"});
  std::optional<Response> first = client.Next();
  ASSERT_TRUE(first.has_value());
  client.Ack(*first);
  client.Subscribe(ResourceType::kRoute, {"r1"});
  client.state().SetSnapshot(
      NodeSnapshotBuilder().Add(ResourceType::kRoute, RouteRes("r2", "c2")).Build());
  std::optional<Response> answer = client.Next();
  ASSERT_TRUE(answer.has_value());
  EXPECT_THAT(NamesIn(*answer), IsEmpty());
  EXPECT_THAT(RemovedIn(*answer), ElementsAre("r1"));
  client.Ack(*answer);
  EXPECT_FALSE(client.Next().has_value());
}

}  // namespace
}  // namespace propsy::xds
