// propsy: flags → wiring. Everything with logic lives in the libraries.

#include <fmt/format.h>
#include <grpcpp/version_info.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "admin/admin_server.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "control/control_metrics.h"
#include "control/controller.h"
#include "control/world_config_watcher.h"
#include "kube/curl_transport.h"
#include "kube/kubeconfig.h"
#include "main/debug_pages.h"
#include "main/flags.h"
#include "main/stop_signals.h"
#include "sources/dir_source.h"
#include "sources/kube_source.h"
#include "sources/source_metrics.h"
#include "status/lease_elector.h"
#include "status/status_metrics.h"
#include "status/status_writer.h"
#include "translate/service_status.h"
#include "xds/server.h"
#include "xds/server_tls.h"
#include "xds/xds_metrics.h"

namespace propsy {
namespace {

// Makes the source of one -configcluster / -endpointcluster flag. Flags that
// name the same kubeconfig (or incluster) share one transport: one
// connection set per API server.
class SourceFactory {
 public:
  SourceFactory(std::vector<std::string> namespaces, bool legacy_endpoints, Clock& clock)
      : namespaces_(std::move(namespaces)), legacy_endpoints_(legacy_endpoints), clock_(clock) {}

  absl::StatusOr<std::unique_ptr<sources::ClusterSource>> Make(const std::string& flag,
                                                               const std::string& source,
                                                               sources::KubeSourceRole role) {
    if (source.starts_with("dir:")) {
      sources::DirSourceOptions dir_options;
      dir_options.log_endpoints_fallback = role == sources::KubeSourceRole::kEndpoint;
      dir_options.namespaces = namespaces_;
      auto dir = sources::DirSource::Create(source.substr(4), dir_options);
      if (!dir.ok()) return Named(flag, source, dir.status());
      return std::unique_ptr<sources::ClusterSource>(std::move(*dir));
    }
    auto transport = TransportFor(source);
    if (!transport.ok()) return Named(flag, source, transport.status());
    sources::KubeSourceOptions options;
    options.role = role;
    options.namespaces = namespaces_;
    options.legacy_endpoints = legacy_endpoints_;
    options.description = source == "incluster" ? "incluster" : "kubeconfig " + source;
    return std::unique_ptr<sources::ClusterSource>(
        std::make_unique<sources::KubeSource>(*transport, std::move(options), clock_));
  }

  // The transport of a Kubernetes source made earlier (same source text).
  std::shared_ptr<kube::HttpTransport> KnownTransport(const std::string& source) const {
    auto known = transports_.find(source);
    return known == transports_.end() ? nullptr : known->second;
  }

 private:
  static absl::Status Named(const std::string& flag, const std::string& source,
                            const absl::Status& status) {
    return absl::InvalidArgumentError(
        fmt::format("-{} {}: {}", flag, source, std::string(status.message())));
  }

  absl::StatusOr<std::shared_ptr<kube::HttpTransport>> TransportFor(const std::string& source) {
    if (auto known = transports_.find(source); known != transports_.end()) return known->second;
    absl::StatusOr<kube::ClusterConnectionConfig> config =
        source == "incluster" ? kube::InClusterConfig() : kube::LoadKubeconfig(source);
    if (!config.ok()) return config.status();
    auto transport = kube::CurlTransport::Create(std::move(*config));
    if (!transport.ok()) return transport.status();
    std::shared_ptr<kube::HttpTransport> shared = std::move(*transport);
    transports_[source] = shared;
    return shared;
  }

  const std::vector<std::string> namespaces_;
  const bool legacy_endpoints_;
  Clock& clock_;
  std::map<std::string, std::shared_ptr<kube::HttpTransport>> transports_;
};

// gRPC wants "[::]:8888" where Go accepts ":8888".
std::string GrpcListenAddress(const HostPort& address) {
  if (address.host.empty()) return fmt::format("[::]:{}", address.port);
  return address.ToString();
}

int Run(const PropsyOptions& options) {
  spdlog::set_level(options.debug ? spdlog::level::debug : spdlog::level::info);
  for (const std::string& warning : options.warnings) spdlog::warn("{}", warning);

  // Block the stop signals before any thread starts, so only StopSignals
  // sees them.
  absl::StatusOr<std::unique_ptr<StopSignals>> stop_signals = StopSignals::Block();
  if (!stop_signals.ok()) {
    spdlog::error("{}", std::string(stop_signals.status().message()));
    return 1;
  }
  RealClock clock;
  std::atomic<bool> shutting_down{false};

  absl::StatusOr<std::optional<xds::ServerTlsFiles>> tls =
      xds::ServerTlsFromFlags(options.server_cert, options.server_key, options.client_verify_ca);
  if (!tls.ok()) {
    spdlog::error("{}", std::string(tls.status().message()));
    return 2;
  }

  std::vector<model::ClusterInfo> config_clusters;
  std::vector<model::ClusterInfo> endpoint_clusters;
  std::vector<std::unique_ptr<sources::ClusterSource>> config_sources;
  std::vector<std::unique_ptr<sources::ClusterSource>> endpoint_sources;
  SourceFactory source_factory(options.namespaces, options.legacy_endpoints, clock);
  for (const ConfigClusterFlag& flag : options.config_clusters) {
    auto source =
        source_factory.Make("configcluster", flag.source, sources::KubeSourceRole::kConfig);
    if (!source.ok()) {
      spdlog::error("{}", std::string(source.status().message()));
      return 2;
    }
    config_sources.push_back(std::move(*source));
    config_clusters.push_back(
        {.name = flag.name, .source = flag.source, .zone = flag.zone, .priority = 0});
  }
  for (const EndpointClusterFlag& flag : options.endpoint_clusters) {
    auto source =
        source_factory.Make("endpointcluster", flag.source, sources::KubeSourceRole::kEndpoint);
    if (!source.ok()) {
      spdlog::error("{}", std::string(source.status().message()));
      return 2;
    }
    endpoint_sources.push_back(std::move(*source));
    endpoint_clusters.push_back(
        {.name = flag.name, .source = flag.source, .zone = flag.zone, .priority = flag.priority});
  }

  translate::TranslateOptions translate_options{.default_zone = options.zone,
                                                .xds_cluster_name = options.xds_cluster};
  control::WorldConfigWatcher watcher(translate_options);
  xds::NodeStatusRegistry node_status(clock);
  metrics::Registry metrics;
  control::PublishHistograms publish_histograms = control::RegisterPublishHistograms(metrics);
  // Status back into Kubernetes: one Lease elector per Kubernetes config
  // cluster (with -leaderelect), one writer for all of them.
  const std::string lease_identity = status::DefaultLeaseIdentity();
  std::vector<std::unique_ptr<status::LeaseElector>> electors;
  std::vector<status::StatusTarget> status_targets;
  for (size_t i = 0; i < config_clusters.size(); ++i) {
    status::StatusTarget target{
        .name = config_clusters[i].name,
        .transport = source_factory.KnownTransport(config_clusters[i].source).get(),
        .elector = nullptr};
    if (target.transport != nullptr && options.leader_elect) {
      electors.push_back(std::make_unique<status::LeaseElector>(
          *target.transport, clock,
          status::LeaseElectorOptions{.cluster = config_clusters[i].name,
                                      .namespace_name = options.lease_namespace,
                                      .name = options.lease_name,
                                      .identity = lease_identity}));
      target.elector = electors.back().get();
    }
    status_targets.push_back(target);
  }
  status::StatusWriter status_writer(
      clock,
      status::StatusWriterOptions{.translate = translate_options,
                                  .reporting_instance = lease_identity,
                                  .report_timing = {}},
      status_targets, node_status,
      [&watcher](const xds::NodeInfo& node) { return watcher.Fetch(node); });

  control::Controller controller(
      control::ControllerOptions{
          .local_zone = options.zone,
          .quiet_window = std::chrono::milliseconds(20),
          .max_delay = std::chrono::milliseconds(1000),
          .sync_timeout = options.sync_timeout,
          .observe_publish_delay =
              [&publish_histograms](double seconds) { publish_histograms.delay.Observe(seconds); },
          // A status-only change (the write-back coming back through the
          // watch): the configuration served is the same.
          .publish_statuses =
              [&status_writer](model::WorldPtr world) { status_writer.OnWorld(std::move(world)); }},
      config_clusters, endpoint_clusters,
      [&watcher, &publish_histograms, &status_writer, &clock](model::WorldPtr world) {
        Clock::TimePoint started = clock.Now();
        watcher.Publish(world);
        publish_histograms.duration.Observe(
            std::chrono::duration<double>(clock.Now() - started).count());
        // After the xDS side has it, so Programmed compares against the
        // snapshots made from this World.
        status_writer.OnWorld(std::move(world));
      },
      clock);
  control::RegisterControlMetrics(metrics, controller, watcher);
  status::RegisterStatusMetrics(metrics, status_writer);
  std::vector<sources::LabelledSource> labelled_sources;
  for (size_t i = 0; i < config_sources.size(); ++i) {
    labelled_sources.push_back(
        {.cluster = config_clusters[i].name, .role = "config", .source = config_sources[i].get()});
  }
  for (size_t i = 0; i < endpoint_sources.size(); ++i) {
    labelled_sources.push_back({.cluster = endpoint_clusters[i].name,
                                .role = "endpoint",
                                .source = endpoint_sources[i].get()});
  }
  sources::RegisterSourceMetrics(metrics, std::move(labelled_sources));

  absl::StatusOr<HostPort> health_address = ParseHostPort(options.listen_health);
  absl::StatusOr<HostPort> xds_address = ParseHostPort(options.listen);
  if (!health_address.ok() || !xds_address.ok()) {  // ParseCommandLine validated both
    spdlog::error("bad listen address");
    return 2;
  }
  auto admin = admin::AdminServer::Create(health_address->host, health_address->port, metrics,
                                          [&controller, &shutting_down] {
                                            if (shutting_down.load())
                                              return absl::UnavailableError("shutting down");
                                            return controller.Readiness();
                                          });
  if (!admin.ok()) {
    spdlog::error("-listenhealth {}: {}", options.listen_health,
                  std::string(admin.status().message()));
    return 1;
  }
  (*admin)->Handle("/debug/config_dump", [&watcher](const admin::Request& request) {
    std::string node = request.Query("node");
    if (node.empty()) {
      return admin::Response{.status = 400,
                             .content_type = "text/plain",
                             .body = "missing ?node=ID (optional: &zone=ZONE, &ads=false)\n"};
    }
    xds::NodeInfo info{
        .id = node, .zone = request.Query("zone"), .uses_ads = request.Query("ads") != "false"};
    return admin::Response{.status = 200,
                           .content_type = "application/json",
                           .body = ConfigDumpJson(node, watcher.Fetch(info))};
  });
  (*admin)->Handle("/debug/nodes", [&node_status](const admin::Request&) {
    return admin::Response{
        .status = 200, .content_type = "application/json", .body = NodesJson(node_status)};
  });
  (*admin)->Handle("/debug/services", [&watcher, &translate_options](const admin::Request&) {
    model::WorldPtr world = watcher.world();
    std::vector<translate::ServiceReport> services;
    if (world != nullptr) services = translate::DescribeServices(*world, translate_options);
    return admin::Response{
        .status = 200, .content_type = "application/json", .body = ServicesJson(services)};
  });
  (*admin)->Handle("/debug/status", [&status_writer](const admin::Request&) {
    return admin::Response{
        .status = 200, .content_type = "application/json", .body = StatusJson(status_writer)};
  });
  (*admin)->Handle("/debug/clusters", [&controller](const admin::Request&) {
    return admin::Response{.status = 200,
                           .content_type = "application/json",
                           .body = ClustersJson(controller.Clusters())};
  });

  xds::XdsServerOptions server_options;
  server_options.listen_address = GrpcListenAddress(*xds_address);
  server_options.tls = *tls;
  server_options.check_peer_identity = !options.peer_skip_cn;
  auto server = xds::XdsServer::Start(server_options, watcher, node_status, clock);
  if (!server.ok()) {
    spdlog::error("-listen {}: {}", options.listen, std::string(server.status().message()));
    return 1;
  }
  xds::RegisterXdsMetrics(metrics, node_status, (*server)->write_budget());
  controller.Start();
  for (size_t i = 0; i < config_sources.size(); ++i) {
    absl::Status started = config_sources[i]->Start([&controller, i](sources::ClusterState state) {
      controller.OnConfigClusterState(i, std::move(state));
    });
    if (!started.ok()) {
      spdlog::error("-configcluster {}: {}", options.config_clusters[i].source,
                    std::string(started.message()));
      return 1;
    }
  }
  for (size_t i = 0; i < endpoint_sources.size(); ++i) {
    absl::Status started =
        endpoint_sources[i]->Start([&controller, i](sources::ClusterState state) {
          controller.OnEndpointClusterState(i, std::move(state));
        });
    if (!started.ok()) {
      spdlog::error("-endpointcluster {}: {}", options.endpoint_clusters[i].source,
                    std::string(started.message()));
      return 1;
    }
  }

  for (auto& elector : electors) elector->Start();
  status_writer.Start();

  // Graceful shutdown (SPEC §6): not ready at once, no new streams, open
  // streams closed spread over -drainperiod; a second signal exits at once.
  const int signal = (*stop_signals)->Wait();
  shutting_down.store(true);
  // Status first: no write after this, and each held Lease is released, so
  // another replica writes status while this one drains.
  status_writer.Stop();
  for (auto& elector : electors) elector->Stop();
  spdlog::info("signal {}: draining xDS streams over {} ms, then stopping", signal,
               options.drain_period.count());
  {
    auto second_signal = (*stop_signals)->Watch([](int again) {
      spdlog::warn("signal {} while draining: exiting at once", again);
      spdlog::default_logger()->flush();
      std::_Exit(1);
    });
    (*server)->Drain(clock, options.drain_period);
  }
  spdlog::info("drained: stopping");
  // The admin server goes first (its metrics read the sources), then the
  // sources (no more events), then xDS serving; the controller and the
  // watcher go last as locals.
  admin->reset();
  config_sources.clear();
  endpoint_sources.clear();
  server->reset();
  return 0;
}

}  // namespace
}  // namespace propsy

int main(int argc, char** argv) {
  // Process-wide runtime settings, before any thread starts:
  // - absl's mutex deadlock detection (on in Debian's build) walks a lock
  //   graph on every gRPC lock; ProPsy's own locks are annotated instead.
  // - glibc gives each thread its own heap arena; gRPC's many threads then
  //   keep freed memory apart. Two arenas keep peak memory close to use.
  // - gRPC 1.51's tcp_read_chunks experiment (on by default) reads into
  //   64 KiB blocks once a connection's reads exceed 12 KiB and keeps the
  //   unused part for its next read: 37 KiB per connection on average, a
  //   third of the heap at 5,000 Envoys (docs/performance.md). Without it,
  //   the read buffer stays within the xDS server's read chunk size (8 KiB).
  //   An operator's own GRPC_EXPERIMENTS wins.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  mallopt(M_ARENA_MAX, 2);
#if GRPC_CPP_VERSION_MAJOR == 1 && GRPC_CPP_VERSION_MINOR == 51
  setenv("GRPC_EXPERIMENTS", "-tcp_read_chunks", /*overwrite=*/0);
#endif
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<propsy::CommandLine> command_line = propsy::ParseCommandLine(args);
  if (!command_line.ok()) {
    fmt::print(stderr, "propsy: {}\nRun 'propsy -help' for usage.\n",
               std::string(command_line.status().message()));
    return 2;
  }
  switch (command_line->action) {
    case propsy::CommandLine::Action::kHelp:
    case propsy::CommandLine::Action::kVersion:
      fmt::print("{}{}", command_line->text, command_line->text.ends_with('\n') ? "" : "\n");
      return 0;
    case propsy::CommandLine::Action::kRun:
      break;
  }
  return propsy::Run(command_line->options);
}
