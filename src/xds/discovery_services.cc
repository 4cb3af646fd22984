#include "xds/discovery_services.h"

#include "envoy/service/cluster/v3/cds.grpc.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/endpoint/v3/eds.grpc.pb.h"
#include "envoy/service/extension/v3/config_discovery.grpc.pb.h"
#include "envoy/service/listener/v3/lds.grpc.pb.h"
#include "envoy/service/route/v3/rds.grpc.pb.h"
#include "envoy/service/route/v3/srds.grpc.pb.h"
#include "envoy/service/runtime/v3/rtds.grpc.pb.h"
#include "envoy/service/secret/v3/sds.grpc.pb.h"
#include "envoy/service/status/v3/csds.grpc.pb.h"
#include "xds/delta_stream_state.h"
#include "xds/sotw_stream_state.h"

namespace propsy::xds {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using SotwReactor = grpc::ServerBidiReactor<DiscoveryRequest, DiscoveryResponse>;
using DeltaReactor = grpc::ServerBidiReactor<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// Streams and Fetch of one resource type, shared by the per-type services:
// the five ProPsy serves, and those of types it answers as empty.
class TypedDiscovery {
 public:
  TypedDiscovery(const StreamContext& context, StreamScope scope, std::string_view name)
      : context_(context), scope_(scope), name_(name), delta_name_("delta " + name_) {}

  SotwReactor* Stream(grpc::CallbackServerContext* call) {
    return StreamReactor<SotwStreamState>::Start(call, context_, scope_, name_);
  }
  DeltaReactor* Delta(grpc::CallbackServerContext* call) {
    return StreamReactor<DeltaStreamState>::Start(call, context_, scope_, delta_name_);
  }

  // Unary fetch: the node's current resources of this type (all of them when
  // the request names none), answered once with the same versioning as a
  // stream.
  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* call,
                                  const DiscoveryRequest* request, DiscoveryResponse* response) {
    grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
    reactor->Finish(FetchInto(call, *request, response));
    return reactor;
  }

 private:
  grpc::Status FetchInto(grpc::CallbackServerContext* call, const DiscoveryRequest& request,
                         DiscoveryResponse* response) {
    if (request.node().id().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the request must carry node.id");
    }
    if (context_.check_peer_identity) {
      if (absl::Status status = CheckPeerIdentity(*call->auth_context(), request.node().id());
          !status.ok()) {
        context_.registry.OnIdentityRejected();
        return ToGrpc(status);
      }
    }
    NodeInfo node{.id = request.node().id(), .zone = request.node().locality().zone()};
    SnapshotPtr snapshot = context_.watcher.Fetch(node);
    if (!snapshot) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "no configuration is ready for node \"" + node.id + "\" yet");
    }
    DiscoveryRequest query;
    query.set_type_url(request.type_url());
    *query.mutable_resource_names() = request.resource_names();
    if (query.resource_names().empty()) query.add_resource_names("*");
    SotwStreamState state(scope_);
    if (absl::StatusOr<RequestEvent> event = state.OnRequest(query); !event.ok()) {
      return ToGrpc(event.status());
    }
    state.SetSnapshot(std::move(snapshot));
    SentSummary summary;
    if (std::optional<DiscoveryResponse> answer = state.NextResponse(&summary)) {
      *response = std::move(*answer);
      SotwStreamState::AttachBodies(*response, summary.resources);
    }
    return grpc::Status::OK;
  }

  const StreamContext context_;
  const StreamScope scope_;
  const std::string name_;
  const std::string delta_name_;
};

class AggregatedService final
    : public envoy::service::discovery::v3::AggregatedDiscoveryService::CallbackService {
 public:
  explicit AggregatedService(const StreamContext& context) : context_(context) {}
  SotwReactor* StreamAggregatedResources(grpc::CallbackServerContext* call) override {
    return StreamReactor<SotwStreamState>::Start(call, context_, std::nullopt, "ads");
  }
  DeltaReactor* DeltaAggregatedResources(grpc::CallbackServerContext* call) override {
    return StreamReactor<DeltaStreamState>::Start(call, context_, std::nullopt, "delta ads");
  }

 private:
  const StreamContext context_;
};

class ListenerService final
    : public envoy::service::listener::v3::ListenerDiscoveryService::CallbackService {
 public:
  explicit ListenerService(const StreamContext& c) : typed_(c, ResourceType::kListener, "lds") {}
  SotwReactor* StreamListeners(grpc::CallbackServerContext* call) override {
    return typed_.Stream(call);
  }
  DeltaReactor* DeltaListeners(grpc::CallbackServerContext* call) override {
    return typed_.Delta(call);
  }
  grpc::ServerUnaryReactor* FetchListeners(grpc::CallbackServerContext* call,
                                           const DiscoveryRequest* request,
                                           DiscoveryResponse* response) override {
    return typed_.Fetch(call, request, response);
  }

 private:
  TypedDiscovery typed_;
};

class RouteService final
    : public envoy::service::route::v3::RouteDiscoveryService::CallbackService {
 public:
  explicit RouteService(const StreamContext& c) : typed_(c, ResourceType::kRoute, "rds") {}
  SotwReactor* StreamRoutes(grpc::CallbackServerContext* call) override {
    return typed_.Stream(call);
  }
  DeltaReactor* DeltaRoutes(grpc::CallbackServerContext* call) override {
    return typed_.Delta(call);
  }
  grpc::ServerUnaryReactor* FetchRoutes(grpc::CallbackServerContext* call,
                                        const DiscoveryRequest* request,
                                        DiscoveryResponse* response) override {
    return typed_.Fetch(call, request, response);
  }

 private:
  TypedDiscovery typed_;
};

class ClusterService final
    : public envoy::service::cluster::v3::ClusterDiscoveryService::CallbackService {
 public:
  explicit ClusterService(const StreamContext& c) : typed_(c, ResourceType::kCluster, "cds") {}
  SotwReactor* StreamClusters(grpc::CallbackServerContext* call) override {
    return typed_.Stream(call);
  }
  DeltaReactor* DeltaClusters(grpc::CallbackServerContext* call) override {
    return typed_.Delta(call);
  }
  grpc::ServerUnaryReactor* FetchClusters(grpc::CallbackServerContext* call,
                                          const DiscoveryRequest* request,
                                          DiscoveryResponse* response) override {
    return typed_.Fetch(call, request, response);
  }

 private:
  TypedDiscovery typed_;
};

class EndpointService final
    : public envoy::service::endpoint::v3::EndpointDiscoveryService::CallbackService {
 public:
  explicit EndpointService(const StreamContext& c) : typed_(c, ResourceType::kEndpoint, "eds") {}
  SotwReactor* StreamEndpoints(grpc::CallbackServerContext* call) override {
    return typed_.Stream(call);
  }
  DeltaReactor* DeltaEndpoints(grpc::CallbackServerContext* call) override {
    return typed_.Delta(call);
  }
  grpc::ServerUnaryReactor* FetchEndpoints(grpc::CallbackServerContext* call,
                                           const DiscoveryRequest* request,
                                           DiscoveryResponse* response) override {
    return typed_.Fetch(call, request, response);
  }

 private:
  TypedDiscovery typed_;
};

class SecretService final
    : public envoy::service::secret::v3::SecretDiscoveryService::CallbackService {
 public:
  explicit SecretService(const StreamContext& c) : typed_(c, ResourceType::kSecret, "sds") {}
  SotwReactor* StreamSecrets(grpc::CallbackServerContext* call) override {
    return typed_.Stream(call);
  }
  DeltaReactor* DeltaSecrets(grpc::CallbackServerContext* call) override {
    return typed_.Delta(call);
  }
  grpc::ServerUnaryReactor* FetchSecrets(grpc::CallbackServerContext* call,
                                         const DiscoveryRequest* request,
                                         DiscoveryResponse* response) override {
    return typed_.Fetch(call, request, response);
  }

 private:
  TypedDiscovery typed_;
};

// Services of types ProPsy does not serve: their streams and fetches are
// answered as empty sets (SPEC §4), as on ADS.
constexpr std::string_view kRuntimeType = "type.googleapis.com/envoy.service.runtime.v3.Runtime";
constexpr std::string_view kExtensionConfigType =
    "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
constexpr std::string_view kScopedRouteType =
    "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration";
constexpr std::string_view kVirtualHostType =
    "type.googleapis.com/envoy.config.route.v3.VirtualHost";

class RuntimeService final
    : public envoy::service::runtime::v3::RuntimeDiscoveryService::CallbackService {
 public:
  explicit RuntimeService(const StreamContext& c)
      : typed_(c, StreamScope::Unserved(kRuntimeType), "rtds") {}
  SotwReactor* StreamRuntime(grpc::CallbackServerContext* call) override {
    return typed_.Stream(call);
  }
  DeltaReactor* DeltaRuntime(grpc::CallbackServerContext* call) override {
    return typed_.Delta(call);
  }
  grpc::ServerUnaryReactor* FetchRuntime(grpc::CallbackServerContext* call,
                                         const DiscoveryRequest* request,
                                         DiscoveryResponse* response) override {
    return typed_.Fetch(call, request, response);
  }

 private:
  TypedDiscovery typed_;
};

class ExtensionConfigService final
    : public envoy::service::extension::v3::ExtensionConfigDiscoveryService::CallbackService {
 public:
  explicit ExtensionConfigService(const StreamContext& c)
      : typed_(c, StreamScope::Unserved(kExtensionConfigType), "ecds") {}
  SotwReactor* StreamExtensionConfigs(grpc::CallbackServerContext* call) override {
    return typed_.Stream(call);
  }
  DeltaReactor* DeltaExtensionConfigs(grpc::CallbackServerContext* call) override {
    return typed_.Delta(call);
  }
  grpc::ServerUnaryReactor* FetchExtensionConfigs(grpc::CallbackServerContext* call,
                                                  const DiscoveryRequest* request,
                                                  DiscoveryResponse* response) override {
    return typed_.Fetch(call, request, response);
  }

 private:
  TypedDiscovery typed_;
};

class ScopedRoutesService final
    : public envoy::service::route::v3::ScopedRoutesDiscoveryService::CallbackService {
 public:
  explicit ScopedRoutesService(const StreamContext& c)
      : typed_(c, StreamScope::Unserved(kScopedRouteType), "srds") {}
  SotwReactor* StreamScopedRoutes(grpc::CallbackServerContext* call) override {
    return typed_.Stream(call);
  }
  DeltaReactor* DeltaScopedRoutes(grpc::CallbackServerContext* call) override {
    return typed_.Delta(call);
  }
  grpc::ServerUnaryReactor* FetchScopedRoutes(grpc::CallbackServerContext* call,
                                              const DiscoveryRequest* request,
                                              DiscoveryResponse* response) override {
    return typed_.Fetch(call, request, response);
  }

 private:
  TypedDiscovery typed_;
};

// VHDS has only the delta stream.
class VirtualHostService final
    : public envoy::service::route::v3::VirtualHostDiscoveryService::CallbackService {
 public:
  explicit VirtualHostService(const StreamContext& c)
      : typed_(c, StreamScope::Unserved(kVirtualHostType), "vhds") {}
  DeltaReactor* DeltaVirtualHosts(grpc::CallbackServerContext* call) override {
    return typed_.Delta(call);
  }

 private:
  TypedDiscovery typed_;
};

using envoy::service::status::v3::ClientStatusRequest;
using envoy::service::status::v3::ClientStatusResponse;

// CSDS stream: answers each request with the current status of the matching
// nodes. The reactor frees itself in OnDone.
class ClientStatusStream final
    : public grpc::ServerBidiReactor<ClientStatusRequest, ClientStatusResponse> {
 public:
  static ClientStatusStream* Start(const NodeStatusRegistry& registry) {
    auto stream = std::unique_ptr<ClientStatusStream>(new ClientStatusStream(registry));
    stream->StartRead(&stream->request_);
    return stream.release();  // owned by gRPC until OnDone
  }

 private:
  explicit ClientStatusStream(const NodeStatusRegistry& registry) : registry_(registry) {}
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    response_ = registry_.ClientStatus(request_);
    StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (ok) {
      StartRead(&request_);
    } else {
      Finish(grpc::Status::CANCELLED);
    }
  }
  void OnDone() override { std::unique_ptr<ClientStatusStream> owned(this); }

  const NodeStatusRegistry& registry_;
  ClientStatusRequest request_;
  ClientStatusResponse response_;
};

class ClientStatusService final
    : public envoy::service::status::v3::ClientStatusDiscoveryService::CallbackService {
 public:
  explicit ClientStatusService(const NodeStatusRegistry& registry) : registry_(registry) {}
  grpc::ServerBidiReactor<ClientStatusRequest, ClientStatusResponse>* StreamClientStatus(
      grpc::CallbackServerContext*) override {
    return ClientStatusStream::Start(registry_);
  }
  grpc::ServerUnaryReactor* FetchClientStatus(grpc::CallbackServerContext* call,
                                              const ClientStatusRequest* request,
                                              ClientStatusResponse* response) override {
    *response = registry_.ClientStatus(*request);
    grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const NodeStatusRegistry& registry_;
};

}  // namespace

std::vector<std::unique_ptr<grpc::Service>> MakeDiscoveryServices(const StreamContext& context) {
  std::vector<std::unique_ptr<grpc::Service>> services;
  services.push_back(std::make_unique<AggregatedService>(context));
  services.push_back(std::make_unique<ListenerService>(context));
  services.push_back(std::make_unique<RouteService>(context));
  services.push_back(std::make_unique<ClusterService>(context));
  services.push_back(std::make_unique<EndpointService>(context));
  services.push_back(std::make_unique<SecretService>(context));
  services.push_back(std::make_unique<RuntimeService>(context));
  services.push_back(std::make_unique<ExtensionConfigService>(context));
  services.push_back(std::make_unique<ScopedRoutesService>(context));
  services.push_back(std::make_unique<VirtualHostService>(context));
  services.push_back(std::make_unique<ClientStatusService>(context.registry));
  return services;
}

}  // namespace propsy::xds
