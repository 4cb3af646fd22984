// Unary Fetch* on the five per-type services, rejection of bad input with
// clear statuses that affect only the offending stream, and gRPC health.

#include <gmock/gmock.h>
#include <google/protobuf/wrappers.pb.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <future>

#include "envoy/service/cluster/v3/cds.grpc.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/endpoint/v3/eds.grpc.pb.h"
#include "envoy/service/listener/v3/lds.grpc.pb.h"
#include "envoy/service/route/v3/rds.grpc.pb.h"
#include "envoy/service/secret/v3/sds.grpc.pb.h"
#include "integration/xds_client.h"
#include "integration/xds_test_env.h"

namespace propsy::xds::testing {
namespace {

using envoy::service::cluster::v3::ClusterDiscoveryService;
using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::endpoint::v3::EndpointDiscoveryService;
using envoy::service::listener::v3::ListenerDiscoveryService;
using envoy::service::route::v3::RouteDiscoveryService;
using envoy::service::secret::v3::SecretDiscoveryService;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Names_ = std::set<std::string>;

// One unary Fetch call, with a deadline.
template <typename Stub, typename Method>
grpc::Status Fetch(Stub& stub, Method method, const DiscoveryRequest& request,
                   DiscoveryResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kExpectWithin));
  return (stub.*method)(&context, request, response);
}

class FetchTest : public XdsPlaintextTest {
 protected:
  void SetUp() override {
    XdsPlaintextTest::SetUp();
    cache_.SetSnapshot("node-fetch", ServicesSnapshot({"a", "b"}));
  }

  // Checks a Fetch method: all of the node's resources of the type, a named
  // subset, and the error statuses for an unknown or missing node.
  template <typename Stub, typename Method>
  void Check(Stub& stub, Method method, ResourceType type, const Names_& all,
             const std::string& one) {
    SCOPED_TRACE(Url(type));
    DiscoveryResponse response;
    grpc::Status status = Fetch(stub, method, SotwRequest("node-fetch", Url(type)), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.type_url(), Url(type));
    EXPECT_FALSE(response.version_info().empty());
    EXPECT_EQ(Names(response), all);

    // An empty type_url means the service's own type; names select.
    DiscoveryResponse subset;
    status = Fetch(stub, method, SotwRequest("node-fetch", "", {one}), &subset);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(Names(subset), Names_{one});

    DiscoveryResponse none;
    status = Fetch(stub, method, SotwRequest("node-nobody", Url(type)), &none);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("node-nobody"));

    status = Fetch(stub, method, SotwRequest("", Url(type)), &none);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();

    // A foreign type on a per-type service.
    const ResourceType other =
        type == ResourceType::kCluster ? ResourceType::kListener : ResourceType::kCluster;
    status = Fetch(stub, method, SotwRequest("node-fetch", Url(other)), &none);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  }
};

TEST_F(FetchTest, FetchListeners) {
  auto stub = ListenerDiscoveryService::NewStub(channel_);
  Check(*stub, &ListenerDiscoveryService::Stub::FetchListeners, ResourceType::kListener,
        {"l-a", "l-b"}, "l-b");
}

TEST_F(FetchTest, FetchRoutes) {
  auto stub = RouteDiscoveryService::NewStub(channel_);
  Check(*stub, &RouteDiscoveryService::Stub::FetchRoutes, ResourceType::kRoute, {"r-a", "r-b"},
        "r-a");
}

TEST_F(FetchTest, FetchClusters) {
  auto stub = ClusterDiscoveryService::NewStub(channel_);
  Check(*stub, &ClusterDiscoveryService::Stub::FetchClusters, ResourceType::kCluster,
        {"c-a", "c-b"}, "c-a");
}

TEST_F(FetchTest, FetchEndpoints) {
  auto stub = EndpointDiscoveryService::NewStub(channel_);
  Check(*stub, &EndpointDiscoveryService::Stub::FetchEndpoints, ResourceType::kEndpoint,
        {"c-a", "c-b"}, "c-b");
}

TEST_F(FetchTest, FetchSecrets) {
  auto stub = SecretDiscoveryService::NewStub(channel_);
  Check(*stub, &SecretDiscoveryService::Stub::FetchSecrets, ResourceType::kSecret, {"s-a", "s-b"},
        "s-a");
}

TEST_F(FetchTest, FetchReflectsTheCurrentSnapshotAndOnlyTheNodesOwn) {
  cache_.SetSnapshot("node-other", ServicesSnapshot({"z"}));
  auto stub = ClusterDiscoveryService::NewStub(channel_);
  DiscoveryResponse before;
  ASSERT_TRUE(Fetch(*stub, &ClusterDiscoveryService::Stub::FetchClusters,
                    SotwRequest("node-fetch", ""), &before)
                  .ok());
  EXPECT_EQ(Names(before), (Names_{"c-a", "c-b"}));
  cache_.SetSnapshot("node-fetch", ServicesSnapshot({"a", "b", "c"}));
  DiscoveryResponse after;
  ASSERT_TRUE(Fetch(*stub, &ClusterDiscoveryService::Stub::FetchClusters,
                    SotwRequest("node-fetch", ""), &after)
                  .ok());
  EXPECT_EQ(Names(after), (Names_{"c-a", "c-b", "c-c"}));
  EXPECT_NE(after.version_info(), before.version_info());
}

// Bad input ends only the offending stream, with a clear status; a healthy
// stream opened before keeps receiving updates and a new one works too.
class BadInputTest : public XdsPlaintextTest {
 protected:
  void SetUp() override {
    XdsPlaintextTest::SetUp();
    ads_ = AggregatedDiscoveryService::NewStub(channel_);
    cache_.SetSnapshot(kHealthy, ServicesSnapshot({"a"}));
    healthy_ = OpenAds();
    ASSERT_TRUE(healthy_->Send(SotwRequest(kHealthy, Url(ResourceType::kCluster))));
    std::optional<DiscoveryResponse> response = healthy_->Next();
    ASSERT_TRUE(response.has_value());
    ASSERT_TRUE(healthy_->Send(SotwAck(*response)));
  }

  std::unique_ptr<SotwStream> OpenAds() {
    return OpenStream<SotwStream>(*ads_,
                                  &AggregatedDiscoveryService::Stub::StreamAggregatedResources);
  }

  // The healthy stream still gets updates, and a new stream is served.
  void ExpectServerStillHealthy() {
    cache_.SetSnapshot(kHealthy, ServicesSnapshot({"a", "b"}));
    std::optional<DiscoveryResponse> response = healthy_->Next();
    ASSERT_TRUE(response.has_value()) << "the healthy stream stopped receiving updates";
    EXPECT_EQ(Names(*response), (Names_{"c-a", "c-b"}));

    auto fresh = OpenAds();
    ASSERT_TRUE(fresh->Send(SotwRequest(kHealthy, Url(ResourceType::kListener))));
    response = fresh->Next();
    ASSERT_TRUE(response.has_value()) << "a new stream was not served";
    EXPECT_EQ(Names(*response), (Names_{"l-a", "l-b"}));
  }

  static constexpr char kHealthy[] = "node-healthy";
  std::unique_ptr<AggregatedDiscoveryService::Stub> ads_;
  std::unique_ptr<SotwStream> healthy_;
};

TEST_F(BadInputTest, FirstRequestWithoutNodeIsInvalidArgument) {
  auto bad = OpenAds();
  ASSERT_TRUE(bad->Send(SotwRequest("", Url(ResourceType::kCluster))));
  grpc::Status status = bad->AwaitStatus();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("node"));
  ExpectServerStillHealthy();
}

TEST_F(BadInputTest, DeltaFirstRequestWithoutNodeIsInvalidArgument) {
  auto bad =
      OpenStream<DeltaStream>(*ads_, &AggregatedDiscoveryService::Stub::DeltaAggregatedResources);
  ASSERT_TRUE(bad->Send(DeltaRequest("", Url(ResourceType::kCluster))));
  grpc::Status status = bad->AwaitStatus();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  ExpectServerStillHealthy();
}

// Well-formed type URLs ProPsy does not serve are answered as empty
// (unserved_types_test.cc); a malformed one, or one of Envoy's retired v2 API,
// ends the stream with a message that names it.
TEST_F(BadInputTest, MalformedTypeUrlOnAdsIsInvalidArgument) {
  auto bad = OpenAds();
  ASSERT_TRUE(bad->Send(SotwRequest(kHealthy, "envoy.config.cluster.v3.Cluster")));
  grpc::Status status = bad->AwaitStatus();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("malformed type_url"));
  EXPECT_THAT(status.error_message(), HasSubstr("envoy.config.cluster.v3.Cluster"));
  ExpectServerStillHealthy();
}

TEST_F(BadInputTest, MalformedTypeUrlLaterOnAdsIsInvalidArgument) {
  auto bad = OpenAds();
  ASSERT_TRUE(bad->Send(SotwRequest("node-bad", Url(ResourceType::kCluster))));
  ASSERT_TRUE(bad->Send(SotwRequest("", "type.googleapis.com/not a type")));
  grpc::Status status = bad->AwaitStatus();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("not a type"));
  ExpectServerStillHealthy();
}

TEST_F(BadInputTest, V2TypeUrlOnAdsIsInvalidArgument) {
  auto bad =
      OpenStream<DeltaStream>(*ads_, &AggregatedDiscoveryService::Stub::DeltaAggregatedResources);
  ASSERT_TRUE(bad->Send(DeltaRequest(kHealthy, "type.googleapis.com/envoy.api.v2.Listener")));
  grpc::Status status = bad->AwaitStatus();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("v2 API"));
  ExpectServerStillHealthy();
}

TEST_F(BadInputTest, ForeignTypeUrlOnPerTypeStreamIsInvalidArgument) {
  auto cds = ClusterDiscoveryService::NewStub(channel_);
  auto bad = OpenStream<SotwStream>(*cds, &ClusterDiscoveryService::Stub::StreamClusters);
  ASSERT_TRUE(bad->Send(SotwRequest(kHealthy, Url(ResourceType::kListener))));
  grpc::Status status = bad->AwaitStatus();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr(Url(ResourceType::kListener)));

  auto eds = EndpointDiscoveryService::NewStub(channel_);
  auto bad_delta = OpenStream<DeltaStream>(*eds, &EndpointDiscoveryService::Stub::DeltaEndpoints);
  ASSERT_TRUE(bad_delta->Send(DeltaRequest(kHealthy, Url(ResourceType::kRoute))));
  status = bad_delta->AwaitStatus();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  ExpectServerStillHealthy();
}

TEST_F(BadInputTest, OversizedMessageIsResourceExhausted) {
  auto bad = OpenAds();
  DiscoveryRequest huge = SotwRequest("node-huge", Url(ResourceType::kEndpoint));
  huge.add_resource_names(std::string(5 * 1024 * 1024, 'x'));
  bad->Send(huge);  // may fail once the server resets the stream
  grpc::Status status = bad->AwaitStatus();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  // Refused by the server on receipt (not by the client on sending).
  EXPECT_THAT(status.error_message(), HasSubstr("Received message larger than max"));
  ExpectServerStillHealthy();
}

TEST_F(BadInputTest, OversizedMessageMidStreamIsResourceExhausted) {
  auto bad = OpenAds();
  ASSERT_TRUE(bad->Send(SotwRequest("node-huge", Url(ResourceType::kCluster))));
  DiscoveryRequest huge = SotwRequest("", Url(ResourceType::kEndpoint));
  huge.add_resource_names(std::string(5 * 1024 * 1024, 'x'));
  bad->Send(huge);
  grpc::Status status = bad->AwaitStatus();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  // Refused by the server on receipt (not by the client on sending).
  EXPECT_THAT(status.error_message(), HasSubstr("Received message larger than max"));
  ExpectServerStillHealthy();
}

TEST_F(XdsPlaintextTest, HealthCheckIsServing) {
  // grpc.health.v1 has no generated stub here: HealthCheckRequest {string
  // service = 1} and HealthCheckResponse {enum status = 1} share their wire
  // format with StringValue and Int32Value.
  grpc::TemplatedGenericStub<google::protobuf::StringValue, google::protobuf::Int32Value> stub(
      channel_);
  auto check = [&](const std::string& service, google::protobuf::Int32Value* response) {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kExpectWithin));
    google::protobuf::StringValue request;
    request.set_value(service);
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                   response, [&done](grpc::Status status) { done.set_value(std::move(status)); });
    std::future<grpc::Status> result = done.get_future();
    EXPECT_EQ(result.wait_for(kCallDeadline), std::future_status::ready);
    return result.get();
  };
  google::protobuf::Int32Value response;
  grpc::Status status = check("", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.value(), 1) << "expected SERVING (1)";
  // The real health service: unknown services are NOT_FOUND.
  status = check("no.such.Service", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
}

}  // namespace
}  // namespace propsy::xds::testing
