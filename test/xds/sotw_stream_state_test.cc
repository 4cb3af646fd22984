#include "xds/sotw_stream_state.h"

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

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using Request = SotwStreamState::Request;
using Response = SotwStreamState::Response;
using test::ClusterRes;
using test::EndpointRes;
using test::FullSnapshot;
using test::ListenerRes;
using test::NamesIn;
using test::RouteRes;
using test::SecretRes;

Request MakeRequest(ResourceType type, const std::vector<std::string>& names,
                    const std::string& version = "", const std::string& nonce = "") {
  Request request;
  request.set_type_url(std::string(TypeUrl(type)));
  for (const std::string& name : names) request.add_resource_names(name);
  request.set_version_info(version);
  request.set_response_nonce(nonce);
  return request;
}

// Plays an Envoy on one stream: remembers per type the names it subscribes
// to, the last nonce it saw and the last version it accepted, so tests read
// as the conversation they model.
class FakeClient {
 public:
  explicit FakeClient(std::optional<ResourceType> fixed_type) : state_(fixed_type) {}

  SotwStreamState& state() { return state_; }

  // First request of a type, or a subscription change (with the latest nonce).
  RequestEvent Subscribe(ResourceType type, const std::vector<std::string>& names) {
    names_[type] = names;
    return Send(MakeRequest(type, names, accepted_[type], nonce_[type]));
  }

  RequestEvent Ack(const Response& response) {
    ResourceType type = *ResourceTypeFromUrl(response.type_url());
    accepted_[type] = response.version_info();
    return Send(MakeRequest(type, names_[type], response.version_info(), response.nonce()));
  }

  RequestEvent Nack(const Response& response, const std::string& error) {
    ResourceType type = *ResourceTypeFromUrl(response.type_url());
    Request request = MakeRequest(type, names_[type], accepted_[type], response.nonce());
    request.mutable_error_detail()->set_code(3);
    request.mutable_error_detail()->set_message(error);
    return Send(request);
  }

  RequestEvent Send(const Request& request) {
    absl::StatusOr<RequestEvent> event = state_.OnRequest(request);
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? *event : RequestEvent{};
  }

  // The next response, remembering its nonce as the client would.
  std::optional<Response> Next() {
    SentSummary summary;
    std::optional<Response> response = state_.NextResponse(&summary);
    if (response.has_value()) SotwStreamState::AttachBodies(*response, summary.resources);
    if (response.has_value()) {
      ResourceType type = *ResourceTypeFromUrl(response->type_url());
      nonce_[type] = response->nonce();
      // The summary must describe exactly what went on the wire.
      EXPECT_EQ(summary.type, type);
      EXPECT_EQ(summary.version, response->version_info());
      EXPECT_EQ(summary.nonce, response->nonce());
      EXPECT_EQ(static_cast<int>(summary.resources.size()), response->resources_size());
      for (const std::string& removed : summary.removed_names) {
        EXPECT_THAT(NamesIn(*response), Not(Contains(removed)));
      }
    }
    return response;
  }

 private:
  SotwStreamState state_;
  std::map<ResourceType, std::vector<std::string>> names_;
  std::map<ResourceType, std::string> nonce_;
  std::map<ResourceType, std::string> accepted_;
};

SnapshotPtr Clusters(int64_t c1_timeout_ms = 250) {
  return NodeSnapshotBuilder()
      .Add(ResourceType::kCluster, ClusterRes("c1", c1_timeout_ms))
      .Add(ResourceType::kCluster, ClusterRes("c2"))
      .Build();
}

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
      MakeRequest(ResourceType::kRoute, {"r1", "r2"}, first->version_info(), first->nonce()));
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

  Request late_nack = MakeRequest(ResourceType::kCluster, {}, "", first->nonce());
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

TEST(SotwStreamStateTest, ReconnectWithCurrentVersionGetsNothing) {
  SnapshotPtr snapshot = Clusters();
  const std::string current = snapshot->Of(ResourceType::kCluster).version;

  SotwStreamState state(ResourceType::kCluster);
  state.SetSnapshot(snapshot);
  ASSERT_TRUE(state.OnRequest(MakeRequest(ResourceType::kCluster, {}, current)).ok());
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
  ASSERT_TRUE(other.OnRequest(MakeRequest(ResourceType::kCluster, {}, "old-version")).ok());
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
      after.OnRequest(MakeRequest(ResourceType::kRoute, {"r2"}, held->version_info())).ok());
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
  absl::StatusOr<RequestEvent> foreign = state.OnRequest(MakeRequest(ResourceType::kListener, {}));
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kInvalidArgument);

  // An empty type_url on a per-type service means that service's type.
  Request untyped = MakeRequest(ResourceType::kCluster, {});
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

TEST(SotwStreamStateTest, AdsRejectsEmptyAndUnknownTypeUrl) {
  SotwStreamState state(std::nullopt);
  Request empty = MakeRequest(ResourceType::kCluster, {});
  empty.clear_type_url();
  absl::StatusOr<RequestEvent> missing = state.OnRequest(empty);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);

  Request unknown = MakeRequest(ResourceType::kCluster, {});
  unknown.set_type_url("type.googleapis.com/envoy.config.cluster.v2.Cluster");
  absl::StatusOr<RequestEvent> bad = state.OnRequest(unknown);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);

  // Nothing was subscribed by the rejected requests.
  state.SetSnapshot(FullSnapshot());
  SentSummary summary;
  EXPECT_FALSE(state.NextResponse(&summary).has_value());
}

// Subscribes an ADS client to every type: wildcard for clusters and listeners,
// by name for the rest.
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
  // The route set loses r2 (removals go last type first).
  std::optional<Response> route = client.Next();
  ASSERT_TRUE(route.has_value());
  ASSERT_EQ(route->type_url(), TypeUrl(ResourceType::kRoute));
  EXPECT_THAT(NamesIn(*route), IsEmpty()) << "r1 is held already and unchanged";
  EXPECT_FALSE(client.Next().has_value());

  client.Ack(*cluster);
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
  std::optional<Response> route = client.Next();
  ASSERT_TRUE(route.has_value());
  client.Ack(*cluster);
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
      client.state().OnRequest(MakeRequest(ResourceType::kListener, {}, "", cluster->nonce()));
  ASSERT_TRUE(cross.ok());
  EXPECT_EQ(cross->kind, RequestEvent::Kind::kStaleNonce);
  EXPECT_EQ(client.Ack(*listener).kind, RequestEvent::Kind::kAck);
}

}  // namespace
}  // namespace propsy::xds

namespace propsy::xds {
namespace {

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
