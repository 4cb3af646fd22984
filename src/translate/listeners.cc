#include "translate/listeners.h"

#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "translate/durations.h"
#include "translate/names.h"

namespace propsy::translate {
namespace {

using envoy::config::listener::v3::Listener;

Listener BaseListener(const std::string& name, const model::ListenAddress& address) {
  Listener listener;
  listener.set_name(name);
  auto* socket = listener.mutable_address()->mutable_socket_address();
  socket->set_address(address.host);
  socket->set_port_value(address.port);
  return listener;
}

void AddTls(const std::optional<ListenerTls>& tls,
            envoy::config::listener::v3::FilterChain& chain) {
  if (!tls) return;
  envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext context;
  auto* sds = context.mutable_common_tls_context()->add_tls_certificate_sds_secret_configs();
  sds->set_name(tls->secret_name);
  *sds->mutable_sds_config() = tls->sds_source;
  chain.mutable_transport_socket()->set_name(kTlsTransportSocket);
  chain.mutable_transport_socket()->mutable_typed_config()->PackFrom(context);
}

}  // namespace

Listener BuildHttpListener(const std::string& name, const model::ListenAddress& address,
                           const envoy::config::core::v3::ConfigSource& rds_source,
                           const std::optional<ListenerTls>& tls) {
  namespace hcm = envoy::extensions::filters::network::http_connection_manager::v3;
  hcm::HttpConnectionManager manager;
  manager.set_stat_prefix(StatPrefix(name));
  *manager.mutable_rds()->mutable_config_source() = rds_source;
  manager.mutable_rds()->set_route_config_name(name);
  auto* router = manager.add_http_filters();
  router->set_name(kRouterFilter);
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router());

  Listener listener = BaseListener(name, address);
  auto* chain = listener.add_filter_chains();
  auto* filter = chain->add_filters();
  filter->set_name(kHttpConnectionManagerFilter);
  filter->mutable_typed_config()->PackFrom(manager);
  AddTls(tls, *chain);
  return listener;
}

envoy::config::route::v3::RouteConfiguration BuildRouteConfiguration(
    const std::string& name, const std::vector<ServiceRoute>& routes) {
  envoy::config::route::v3::RouteConfiguration config;
  config.set_name(name);
  auto* host = config.add_virtual_hosts();
  host->set_name(name);
  host->add_domains("*");
  for (const ServiceRoute& service : routes) {
    auto* route = host->add_routes();
    route->set_name(service.name);
    route->mutable_match()->set_prefix(service.spec->path_prefix);
    auto* action = route->mutable_route();
    for (const RouteTarget& target : service.targets) {
      auto* weighted = action->mutable_weighted_clusters()->add_clusters();
      weighted->set_name(target.cluster_name);
      weighted->mutable_weight()->set_value(target.weight);
    }
    if (service.spec->timeout_ms) SetMillis(action->mutable_timeout(), *service.spec->timeout_ms);
    if (!service.spec->prefix_rewrite.empty()) {
      action->set_prefix_rewrite(service.spec->prefix_rewrite);
    }
  }
  return config;
}

Listener BuildTcpListener(const std::string& name, const model::ListenAddress& address,
                          const ServiceRoute& route, const std::optional<ListenerTls>& tls) {
  envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy proxy;
  proxy.set_stat_prefix(StatPrefix(name));
  if (route.targets.size() == 1) {
    proxy.set_cluster(route.targets.front().cluster_name);
  } else {
    for (const RouteTarget& target : route.targets) {
      auto* weighted = proxy.mutable_weighted_clusters()->add_clusters();
      weighted->set_name(target.cluster_name);
      weighted->set_weight(target.weight);
    }
  }
  Listener listener = BaseListener(name, address);
  auto* chain = listener.add_filter_chains();
  auto* filter = chain->add_filters();
  filter->set_name(kTcpProxyFilter);
  filter->mutable_typed_config()->PackFrom(proxy);
  AddTls(tls, *chain);
  return listener;
}

}  // namespace propsy::translate
