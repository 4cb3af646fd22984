// Types ProPsy does not serve (runtime, extension configs, ...) are answered
// as empty sets on ADS and on their own services, in both protocols, and
// never break the stream or hold up the served types.
#include "xds/unserved_types.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "envoy/service/runtime/v3/rtds.pb.h"
#include "xds/delta_fake_client.h"
#include "xds/node_status.h"
#include "xds/sotw_fake_client.h"
#include "xds/test_resources.h"

namespace propsy::xds {
namespace {

using test::FakeDeltaClient;
using test::FakeSotwClient;
using test::FullSnapshot;
using test::NamesIn;
using test::RemovedIn;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kRuntime[] = "type.googleapis.com/envoy.service.runtime.v3.Runtime";
constexpr char kExtensionConfig[] = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";

TEST(UnservedSotwTest, AdsAnswersAnUnservedTypeOnceWithAnEmptySetFirst) {
  FakeSotwClient client(std::nullopt);
  client.state().SetSnapshot(FullSnapshot());
  RequestEvent event = client.Subscribe(kExtensionConfig, {"filter-config"});
  EXPECT_FALSE(event.type.has_value());
  EXPECT_EQ(event.unserved_type_url, kExtensionConfig);
  EXPECT_EQ(event.kind, RequestEvent::Kind::kRequest);
  client.Subscribe(ResourceType::kCluster, {});

  std::optional<SotwStreamState::Response> extension = client.Next();
  ASSERT_TRUE(extension.has_value());
  EXPECT_EQ(extension->type_url(), kExtensionConfig);
  EXPECT_EQ(extension->resources_size(), 0);
  EXPECT_EQ(extension->version_info(), SetVersion({}));
  EXPECT_FALSE(extension->nonce().empty());
  std::optional<SotwStreamState::Response> clusters = client.Next();
  ASSERT_TRUE(clusters.has_value()) << "an unanswered unserved type holds nothing up";
  EXPECT_EQ(clusters->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_NE(clusters->nonce(), extension->nonce());
  EXPECT_FALSE(client.Next().has_value()) << "one response per type in flight";

  RequestEvent ack = client.Ack(*extension);
  EXPECT_EQ(ack.kind, RequestEvent::Kind::kAck);
  EXPECT_EQ(ack.version, extension->version_info());
  EXPECT_FALSE(ack.type.has_value());
  client.Ack(*clusters);
  EXPECT_FALSE(client.Next().has_value());
  // Snapshots come and go; the empty set stays answered.
  client.state().SetSnapshot(test::Clusters(999));
  std::optional<SotwStreamState::Response> update = client.Next();
  ASSERT_TRUE(update.has_value());
  EXPECT_EQ(update->type_url(), TypeUrl(ResourceType::kCluster));
  client.Ack(*update);
  EXPECT_FALSE(client.Next().has_value());
}

// What Envoy does with `layered_runtime` → `rtds_layer` over ADS: it asks
// for the layer first and for clusters only once the layer is answered.
// State of the world cannot say "no such layer" (Envoy would wait 15 s), so
// each named layer is answered as an empty one.
TEST(UnservedSotwTest, RuntimeLayersAreAnsweredAsEmptyLayers) {
  FakeSotwClient client(std::nullopt);
  client.state().SetSnapshot(FullSnapshot());
  client.Subscribe(kRuntime, {"rtds-layer"});
  std::optional<SotwStreamState::Response> runtime = client.Next();
  ASSERT_TRUE(runtime.has_value());
  EXPECT_EQ(runtime->type_url(), kRuntime);
  ASSERT_EQ(runtime->resources_size(), 1);
  envoy::service::runtime::v3::Runtime layer;
  ASSERT_TRUE(runtime->resources(0).UnpackTo(&layer));
  EXPECT_EQ(layer.name(), "rtds-layer");
  EXPECT_TRUE(layer.has_layer());
  EXPECT_EQ(layer.layer().fields_size(), 0);
  EXPECT_EQ(client.Ack(*runtime).kind, RequestEvent::Kind::kAck);
  EXPECT_FALSE(client.Next().has_value());

  // A second layer: both are named, the new one is carried.
  client.Subscribe(kRuntime, {"rtds-layer", "second"});
  std::optional<SotwStreamState::Response> more = client.Next();
  ASSERT_TRUE(more.has_value());
  ASSERT_EQ(more->resources_size(), 1);
  ASSERT_TRUE(more->resources(0).UnpackTo(&layer));
  EXPECT_EQ(layer.name(), "second");
  EXPECT_NE(more->version_info(), runtime->version_info());
}

TEST(UnservedSotwTest, ANackOfTheEmptySetIsNotAnsweredAgain) {
  FakeSotwClient client(std::nullopt);
  client.state().SetSnapshot(FullSnapshot());
  client.Subscribe(kExtensionConfig, {"filter-config"});
  std::optional<SotwStreamState::Response> extension = client.Next();
  ASSERT_TRUE(extension.has_value());
  RequestEvent nack = client.Nack(*extension, "missing filter-config");
  EXPECT_EQ(nack.kind, RequestEvent::Kind::kNack);
  EXPECT_FALSE(nack.type.has_value());
  EXPECT_FALSE(client.Next().has_value()) << "no resend loop";
  client.state().SetSnapshot(test::Clusters(777));
  EXPECT_FALSE(client.Next().has_value());
  // A changed subscription does not change the (empty) answer either.
  client.Subscribe(kExtensionConfig, {"filter-config", "other-config"});
  EXPECT_FALSE(client.Next().has_value());
}

TEST(UnservedSotwTest, ARuntimeServiceStreamAnswersItsTypeAndRefusesOthers) {
  FakeSotwClient client(StreamScope::Unserved(kRuntime));
  client.state().SetSnapshot(FullSnapshot());
  SotwStreamState::Request untyped = test::MakeSotwRequest(kRuntime, {"layer"});
  untyped.clear_type_url();  // the type of a per-type service may be left out
  RequestEvent event = client.Send(untyped);
  EXPECT_EQ(event.unserved_type_url, kRuntime);
  std::optional<SotwStreamState::Response> response = client.Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->type_url(), kRuntime);
  EXPECT_EQ(response->resources_size(), 1) << "an empty layer";

  SotwStreamState other(StreamScope::Unserved(kRuntime));
  absl::StatusOr<RequestEvent> clusters =
      other.OnRequest(test::MakeSotwRequest(ResourceType::kCluster, {}));
  ASSERT_FALSE(clusters.ok());
  EXPECT_EQ(clusters.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(UnservedSotwTest, ARemovalOfAServedTypeDoesNotWaitForAnUnservedOne) {
  FakeSotwClient client(std::nullopt);
  client.state().SetSnapshot(FullSnapshot());
  client.Subscribe(ResourceType::kCluster, {});
  client.Subscribe(kExtensionConfig, {"filter-config"});
  std::optional<SotwStreamState::Response> extension = client.Next();
  ASSERT_TRUE(extension.has_value());
  std::optional<SotwStreamState::Response> clusters = client.Next();
  ASSERT_TRUE(clusters.has_value());
  client.Ack(*clusters);
  // The unserved answer is still unanswered; a cluster removal goes anyway,
  // since unserved types come first in the order.
  client.state().SetSnapshot(
      NodeSnapshotBuilder().Add(ResourceType::kCluster, test::ClusterRes("c1")).Build());
  std::optional<SotwStreamState::Response> removal = client.Next();
  ASSERT_TRUE(removal.has_value());
  EXPECT_THAT(NamesIn(*removal), ElementsAre("c1"));
}

TEST(UnservedSotwTest, AtMostSixteenUnservedTypesPerStream) {
  SotwStreamState state(std::nullopt);
  for (size_t i = 0; i < SotwStreamState::kMaxUnservedTypes; ++i) {
    absl::StatusOr<RequestEvent> event = state.OnRequest(
        test::MakeSotwRequest("type.googleapis.com/example.Type" + std::to_string(i), {}));
    ASSERT_TRUE(event.ok()) << event.status();
  }
  // Asking again for a known one is fine; a new one is one too many.
  ASSERT_TRUE(state.OnRequest(test::MakeSotwRequest("type.googleapis.com/example.Type0", {})).ok());
  absl::StatusOr<RequestEvent> extra =
      state.OnRequest(test::MakeSotwRequest("type.googleapis.com/example.TypeX", {}));
  ASSERT_FALSE(extra.ok());
  EXPECT_EQ(extra.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(extra.status().message()),
              ::testing::HasSubstr("type.googleapis.com/example.TypeX"));
}

TEST(UnservedDeltaTest, SubscribedNamesAreListedRemoved) {
  FakeDeltaClient client(std::nullopt);
  client.state().SetSnapshot(FullSnapshot());
  RequestEvent event = client.Subscribe(kRuntime, {"rtds-layer"});
  EXPECT_FALSE(event.type.has_value());
  client.Subscribe(ResourceType::kCluster, {});
  std::optional<DeltaStreamState::Response> runtime = client.Next();
  ASSERT_TRUE(runtime.has_value());
  EXPECT_EQ(runtime->type_url(), kRuntime);
  EXPECT_THAT(NamesIn(*runtime), IsEmpty());
  EXPECT_THAT(RemovedIn(*runtime), ElementsAre("rtds-layer"));
  EXPECT_EQ(runtime->system_version_info(), SetVersion({}));
  std::optional<DeltaStreamState::Response> clusters = client.Next();
  ASSERT_TRUE(clusters.has_value());
  EXPECT_EQ(clusters->type_url(), TypeUrl(ResourceType::kCluster));
  EXPECT_EQ(client.Ack(*runtime).kind, RequestEvent::Kind::kAck);
  client.Ack(*clusters);
  EXPECT_FALSE(client.Next().has_value()) << "an absent name is reported once";

  // A later name is answered too, and a second unserved type alike.
  client.Subscribe(kRuntime, {"second-layer"});
  client.Subscribe(kExtensionConfig, {"filter-config"});
  std::vector<std::pair<std::string, std::vector<std::string>>> answers;
  while (std::optional<DeltaStreamState::Response> response = client.Next()) {
    answers.emplace_back(response->type_url(), RemovedIn(*response));
    client.Ack(*response);
    ASSERT_LE(answers.size(), 2u);
  }
  EXPECT_THAT(answers, UnorderedElementsAre(Pair(kRuntime, ElementsAre("second-layer")),
                                            Pair(kExtensionConfig, ElementsAre("filter-config"))));
}

TEST(UnservedDeltaTest, AWildcardSubscriptionGetsOneEmptyResponse) {
  FakeDeltaClient client(StreamScope::Unserved(kExtensionConfig));
  client.state().SetSnapshot(FullSnapshot());
  client.Subscribe(kExtensionConfig, {"*"});
  std::optional<DeltaStreamState::Response> response = client.Next();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->type_url(), kExtensionConfig);
  EXPECT_THAT(NamesIn(*response), IsEmpty());
  EXPECT_THAT(RemovedIn(*response), IsEmpty());
  client.Ack(*response);
  EXPECT_FALSE(client.Next().has_value());
}

TEST(UnservedDeltaTest, WhatAReconnectingClientSaysItHoldsIsRemoved) {
  DeltaStreamState state(std::nullopt);
  state.SetSnapshot(FullSnapshot());
  DeltaStreamState::Request request = test::MakeDeltaRequest(kRuntime, {"layer"});
  (*request.mutable_initial_resource_versions())["layer"] = "from-another-server";
  ASSERT_TRUE(state.OnRequest(request).ok());
  SentSummary summary;
  std::optional<DeltaStreamState::Response> response = state.NextResponse(&summary);
  ASSERT_TRUE(response.has_value());
  EXPECT_THAT(RemovedIn(*response), ElementsAre("layer"));
  EXPECT_FALSE(summary.type.has_value());
  EXPECT_EQ(summary.unserved_type_url, kRuntime);
}

TEST(UnservedTypesTest, CountsPerTypeAndBoundsTheLabels) {
  UnservedTypes unserved;
  unserved.OnRequest("node-a", kRuntime);
  unserved.OnRequest("node-a", kRuntime);
  unserved.OnRequest("node-b", kExtensionConfig);
  EXPECT_THAT(unserved.RequestsByType(),
              UnorderedElementsAre(Pair(kRuntime, 2u), Pair(kExtensionConfig, 1u)));
  for (size_t i = 0; i < 2 * UnservedTypes::kMaxCountedTypes; ++i) {
    unserved.OnRequest("node-c", "type.googleapis.com/example.T" + std::to_string(i));
  }
  std::map<std::string, uint64_t> counts = unserved.RequestsByType();
  EXPECT_EQ(counts.size(), UnservedTypes::kMaxCountedTypes + 1);
  EXPECT_EQ(counts[std::string(UnservedTypes::kOtherTypes)],
            2 * UnservedTypes::kMaxCountedTypes - (UnservedTypes::kMaxCountedTypes - 2));
  EXPECT_EQ(counts[kRuntime], 2u) << "known types keep counting by name";
}

TEST(UnservedTypesTest, RegistryCountsThemApartFromServedTraffic) {
  SimulatedClock clock;
  NodeStatusRegistry registry(clock);
  envoy::config::core::v3::Node node;
  node.set_id("edge-1");
  NodeStatusRegistry::StreamId stream = registry.OpenStream(node, "ads");
  RequestEvent request;
  request.unserved_type_url = kRuntime;
  registry.OnRequest(stream, request);
  SentSummary sent;
  sent.unserved_type_url = kRuntime;
  sent.version = SetVersion({});
  sent.nonce = "1";
  registry.OnSent(stream, sent);
  RequestEvent nack = request;
  nack.kind = RequestEvent::Kind::kNack;
  nack.error = "Unexpected RTDS resource length: 0";
  registry.OnRequest(stream, nack);

  EXPECT_THAT(registry.UnservedRequestsByType(), ElementsAre(Pair(kRuntime, 2u)));
  NodeStatusRegistry::Totals totals = registry.totals();
  EXPECT_EQ(totals.responses, 0u);
  EXPECT_EQ(totals.nacks, 0u) << "an empty answer rejected is not a configuration NACK";
  envoy::service::status::v3::ClientStatusRequest csds;
  EXPECT_EQ(registry.ClientStatus(csds).config(0).generic_xds_configs_size(), 0);
}

}  // namespace
}  // namespace propsy::xds
