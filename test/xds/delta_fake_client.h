#pragma once

// A scripted Envoy for DeltaStreamState tests.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "xds/delta_stream_state.h"
#include "xds/test_resources.h"

namespace propsy::xds::test {

inline DeltaStreamState::Request MakeDeltaRequest(std::string_view type_url,
                                                  const std::vector<std::string>& subscribe,
                                                  const std::vector<std::string>& unsubscribe = {},
                                                  const std::string& nonce = "") {
  DeltaStreamState::Request request;
  request.set_type_url(std::string(type_url));
  for (const std::string& name : subscribe) request.add_resource_names_subscribe(name);
  for (const std::string& name : unsubscribe) request.add_resource_names_unsubscribe(name);
  request.set_response_nonce(nonce);
  return request;
}
inline DeltaStreamState::Request MakeDeltaRequest(ResourceType type,
                                                  const std::vector<std::string>& subscribe,
                                                  const std::vector<std::string>& unsubscribe = {},
                                                  const std::string& nonce = "") {
  return MakeDeltaRequest(TypeUrl(type), subscribe, unsubscribe, nonce);
}

// Plays an Envoy on one delta stream, remembering the latest nonce per type
// (keyed by URL, so types ProPsy does not serve take part too).
class FakeDeltaClient {
 public:
  explicit FakeDeltaClient(StreamScope scope) : state_(scope) {}

  DeltaStreamState& state() { return state_; }

  RequestEvent Subscribe(ResourceType type, const std::vector<std::string>& subscribe,
                         const std::vector<std::string>& unsubscribe = {}) {
    return Subscribe(TypeUrl(type), subscribe, unsubscribe);
  }
  RequestEvent Subscribe(std::string_view type_url, const std::vector<std::string>& subscribe,
                         const std::vector<std::string>& unsubscribe = {}) {
    const std::string type(type_url);
    return Send(MakeDeltaRequest(type, subscribe, unsubscribe, nonce_[type]));
  }

  RequestEvent Ack(const DeltaStreamState::Response& response) {
    return Send(MakeDeltaRequest(response.type_url(), {}, {}, response.nonce()));
  }

  RequestEvent Nack(const DeltaStreamState::Response& response, const std::string& error) {
    DeltaStreamState::Request request =
        MakeDeltaRequest(response.type_url(), {}, {}, response.nonce());
    request.mutable_error_detail()->set_code(3);
    request.mutable_error_detail()->set_message(error);
    return Send(request);
  }

  RequestEvent Send(const DeltaStreamState::Request& request) {
    absl::StatusOr<RequestEvent> event = state_.OnRequest(request);
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? *event : RequestEvent{};
  }

  std::optional<DeltaStreamState::Response> Next() {
    SentSummary summary;
    std::optional<DeltaStreamState::Response> response = state_.NextResponse(&summary);
    if (response.has_value()) DeltaStreamState::AttachBodies(*response, summary.resources);
    if (response.has_value()) {
      nonce_[response->type_url()] = response->nonce();
      EXPECT_EQ(summary.type, ResourceTypeFromUrl(response->type_url()));
      if (!summary.type.has_value()) {
        EXPECT_EQ(summary.unserved_type_url, response->type_url());
      }
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
  std::map<std::string, std::string> nonce_;
};

inline SnapshotPtr DeltaClusters(int64_t c1_timeout_ms = 250, bool with_c2 = true) {
  NodeSnapshotBuilder builder;
  builder.Add(ResourceType::kCluster, ClusterRes("c1", c1_timeout_ms));
  if (with_c2) builder.Add(ResourceType::kCluster, ClusterRes("c2"));
  return builder.Build();
}

inline SnapshotPtr RoutesSnapshot(const std::string& r1_prefix = "/",
                                  const std::string& r2_prefix = "/") {
  return NodeSnapshotBuilder()
      .Add(ResourceType::kRoute, RouteRes("r1", "c1", r1_prefix))
      .Add(ResourceType::kRoute, RouteRes("r2", "c2", r2_prefix))
      .Build();
}

}  // namespace propsy::xds::test
