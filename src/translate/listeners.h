#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "envoy/config/core/v3/config_source.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "model/listen_address.h"
#include "model/propsy_service.h"

namespace propsy::translate {

inline constexpr char kHttpConnectionManagerFilter[] =
    "envoy.filters.network.http_connection_manager";
inline constexpr char kTcpProxyFilter[] = "envoy.filters.network.tcp_proxy";
inline constexpr char kRouterFilter[] = "envoy.filters.http.router";
inline constexpr char kTlsTransportSocket[] = "envoy.transport_sockets.tls";

// One weighted Envoy cluster of a service.
struct RouteTarget {
  std::string cluster_name;
  uint32_t weight = 0;
  bool operator==(const RouteTarget&) const = default;
};

// What one service contributes to its listener: its route (HTTP) or proxy
// (TCP) settings and the weighted clusters, in route order.
struct ServiceRoute {
  std::string name;                                // the service key, names the route
  const model::ProPsyServiceSpec* spec = nullptr;  // governing definition, never null
  std::vector<RouteTarget> targets;                // at least one, weights > 0
};

// The listener's TLS certificate, served over SDS.
struct ListenerTls {
  std::string secret_name;
  envoy::config::core::v3::ConfigSource sds_source;
};

// An HTTP listener named `name`: the HTTP connection manager with its routes
// over RDS (route configuration of the same name) and the router filter.
envoy::config::listener::v3::Listener BuildHttpListener(
    const std::string& name, const model::ListenAddress& address,
    const envoy::config::core::v3::ConfigSource& rds_source, const std::optional<ListenerTls>& tls);

// The route configuration of an HTTP listener: one virtual host "*" with one
// route per service, in the given order (longest prefix first).
envoy::config::route::v3::RouteConfiguration BuildRouteConfiguration(
    const std::string& name, const std::vector<ServiceRoute>& routes);

// A TCP listener proxying to the service's clusters. The weights live in the
// listener, so changing them drains it.
envoy::config::listener::v3::Listener BuildTcpListener(const std::string& name,
                                                       const model::ListenAddress& address,
                                                       const ServiceRoute& route,
                                                       const std::optional<ListenerTls>& tls);

}  // namespace propsy::translate
