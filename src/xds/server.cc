#include "xds/server.h"

#include <fmt/format.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include "grpc/health/v1/health.pb.h"
#include "xds/discovery_services.h"

namespace propsy::xds {

absl::StatusOr<std::unique_ptr<XdsServer>> XdsServer::Start(const XdsServerOptions& options,
                                                            ConfigWatcher& watcher,
                                                            NodeStatusRegistry& registry,
                                                            Clock& clock) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.tls, options.cert_refresh_seconds);
  if (!credentials.ok()) return credentials.status();

  grpc::EnableDefaultHealthCheckService(true);
  // Links grpc.health.v1's descriptor in, so reflection can describe Health.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  auto server = std::unique_ptr<XdsServer>(new XdsServer());
  server->write_budget_ =
      std::make_unique<WriteBudget>(options.write_budget_bytes, options.write_stall_after, clock);
  server->name_sets_ = std::make_unique<NameSetInterner>();
  server->drain_ = std::make_unique<StreamDrain>();
  StreamContext context{
      .watcher = watcher,
      .registry = registry,
      .write_budget = *server->write_budget_,
      .name_sets = *server->name_sets_,
      .drain = *server->drain_,
      .check_peer_identity =
          options.check_peer_identity && options.tls.has_value() && !options.tls->client_ca.empty(),
  };
  server->services_ = MakeDiscoveryServices(context);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, *credentials, &server->port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  // Envoy keeps ADS streams open for days: keepalive finds dead peers.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Each connection's read buffer: gRPC grows it towards the largest read
  // it saw (up to 4 MiB) and keeps the unread part for the next read, on
  // every connection. xDS clients send small requests (an ACK naming a few
  // hundred resources is a few KiB); at 5,000 connections the grown buffers
  // were the largest share of the heap (docs/performance.md). A bigger
  // request takes a few reads instead.
  builder.AddChannelArgument(GRPC_ARG_TCP_READ_CHUNK_SIZE, options.read_chunk_bytes);
  builder.AddChannelArgument(GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, options.max_read_chunk_bytes);
  for (const auto& service : server->services_) builder.RegisterService(service.get());
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(
        fmt::format("cannot listen for xDS on \"{}\"", options.listen_address));
  }
  spdlog::info("xds: serving on port {} ({})", server->port_,
               !options.tls                     ? "plaintext"
               : options.tls->client_ca.empty() ? "TLS"
                                                : "mutual TLS");
  return server;
}

void XdsServer::Drain(Clock& clock, Clock::Duration period) {
  drain_->BeginDrain();
  // Health checks of the xDS cluster (Envoy's, a load balancer's) see this
  // replica going away before its streams close.
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  spdlog::info("xds: draining {} streams over {} ms", drain_->open_streams(),
               std::chrono::duration_cast<std::chrono::milliseconds>(period).count());
  drain_->Drain(clock, period);
}

XdsServer::~XdsServer() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace propsy::xds
