#pragma once

// A scripted Envoy for SotwStreamState tests.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "xds/sotw_stream_state.h"
#include "xds/test_resources.h"

namespace propsy::xds::test {

inline SotwStreamState::Request MakeSotwRequest(std::string_view type_url,
                                                const std::vector<std::string>& names,
                                                const std::string& version = "",
                                                const std::string& nonce = "") {
  SotwStreamState::Request request;
  request.set_type_url(std::string(type_url));
  for (const std::string& name : names) request.add_resource_names(name);
  request.set_version_info(version);
  request.set_response_nonce(nonce);
  return request;
}
inline SotwStreamState::Request MakeSotwRequest(ResourceType type,
                                                const std::vector<std::string>& names,
                                                const std::string& version = "",
                                                const std::string& nonce = "") {
  return MakeSotwRequest(TypeUrl(type), names, version, nonce);
}

// Plays an Envoy on one stream: remembers per type the names it subscribes
// to, the last nonce it saw and the last version it accepted, so tests read
// as the conversation they model. Types are keyed by URL, so types ProPsy
// does not serve take part too.
class FakeSotwClient {
 public:
  explicit FakeSotwClient(StreamScope scope) : state_(scope) {}

  SotwStreamState& state() { return state_; }

  // First request of a type, or a subscription change (with the latest nonce).
  RequestEvent Subscribe(ResourceType type, const std::vector<std::string>& names) {
    return Subscribe(TypeUrl(type), names);
  }
  RequestEvent Subscribe(std::string_view type_url, const std::vector<std::string>& names) {
    const std::string type(type_url);
    names_[type] = names;
    return Send(MakeSotwRequest(type, names, accepted_[type], nonce_[type]));
  }

  RequestEvent Ack(const SotwStreamState::Response& response) {
    const std::string& type = response.type_url();
    accepted_[type] = response.version_info();
    return Send(MakeSotwRequest(type, names_[type], response.version_info(), response.nonce()));
  }

  RequestEvent Nack(const SotwStreamState::Response& response, const std::string& error) {
    const std::string& type = response.type_url();
    SotwStreamState::Request request =
        MakeSotwRequest(type, names_[type], accepted_[type], response.nonce());
    request.mutable_error_detail()->set_code(3);
    request.mutable_error_detail()->set_message(error);
    return Send(request);
  }

  RequestEvent Send(const SotwStreamState::Request& request) {
    absl::StatusOr<RequestEvent> event = state_.OnRequest(request);
    EXPECT_TRUE(event.ok()) << event.status();
    return event.ok() ? *event : RequestEvent{};
  }

  // The next response, remembering its nonce as the client would.
  std::optional<SotwStreamState::Response> Next() {
    SentSummary summary;
    std::optional<SotwStreamState::Response> response = state_.NextResponse(&summary);
    if (response.has_value()) SotwStreamState::AttachBodies(*response, summary.resources);
    if (response.has_value()) {
      nonce_[response->type_url()] = response->nonce();
      // The summary must describe exactly what went on the wire.
      EXPECT_EQ(summary.type, ResourceTypeFromUrl(response->type_url()));
      if (!summary.type.has_value()) {
        EXPECT_EQ(summary.unserved_type_url, response->type_url());
      }
      EXPECT_EQ(summary.version, response->version_info());
      EXPECT_EQ(summary.nonce, response->nonce());
      EXPECT_EQ(static_cast<int>(summary.resources.size()), response->resources_size());
      for (const std::string& removed : summary.removed_names) {
        EXPECT_THAT(NamesIn(*response), ::testing::Not(::testing::Contains(removed)));
      }
    }
    return response;
  }

 private:
  SotwStreamState state_;
  std::map<std::string, std::vector<std::string>> names_;
  std::map<std::string, std::string> nonce_;
  std::map<std::string, std::string> accepted_;
};

inline SnapshotPtr Clusters(int64_t c1_timeout_ms = 250) {
  return NodeSnapshotBuilder()
      .Add(ResourceType::kCluster, ClusterRes("c1", c1_timeout_ms))
      .Add(ResourceType::kCluster, ClusterRes("c2"))
      .Build();
}

}  // namespace propsy::xds::test
