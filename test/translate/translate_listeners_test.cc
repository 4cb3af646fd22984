// Listeners, routes, conflicts and TLS.

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "translate/resource_views.h"
#include "translate/translate.h"
#include "translate/world_builder.h"

namespace propsy::translate {
namespace {

using test::FindListener;
using test::FindRoutes;
using test::Key;
using test::Pps;
using test::Ready;
using test::RouteWeights;
using test::Slice;
using test::Weights;
using test::WorldBuilder;

const TranslateOptions kOptions{.default_zone = "z", .xds_cluster_name = "xds_cluster"};
const NodeContext kNode{.id = "edge", .zone = "", .uses_ads = true};

model::ProPsyService Http(const std::string& name, const std::string& prefix, uint32_t port = 80) {
  model::ProPsyService pps = Pps("ns", name, name);
  pps.spec.path_prefix = prefix;
  pps.spec.listen.port = port;
  return pps;
}

model::ProPsyService Tcp(const std::string& name, uint32_t port = 80) {
  model::ProPsyService pps = Pps("ns", name, name);
  pps.spec.type = model::ServiceType::kTcp;
  pps.spec.listen.port = port;
  return pps;
}

model::ProPsyService Aged(model::ProPsyService pps, const std::string& timestamp) {
  pps.meta.creation_timestamp = timestamp;
  return pps;
}

WorldBuilder Base() {
  WorldBuilder builder;
  builder.ConfigCluster("c", "z").EndpointCluster("e", "z", 0).EndpointCluster("f", "y", 1);
  return builder;
}

TEST(TranslateListeners, ServicesOnOnePortAreRoutedLongestPrefixFirst) {
  model::ProPsyService api = Http("api", "/api/");
  api.spec.timeout_ms = 1500;
  api.spec.prefix_rewrite = "/";
  model::World world = Base()
                           .Service("c", Http("root", "/"))
                           .Service("c", api)
                           .Service("c", Http("apx", "/apx/"))
                           .Service("c", Http("a", "/a"))
                           .Build();
  NodeResources out = Translate(world, kNode, kOptions);
  ASSERT_EQ(test::Names(out.listeners), std::vector<std::string>{"0.0.0.0:80"});
  const auto* routes = FindRoutes(out, "0.0.0.0:80");
  ASSERT_NE(routes, nullptr);
  ASSERT_EQ(routes->virtual_hosts_size(), 1);
  EXPECT_EQ(routes->virtual_hosts(0).name(), "0.0.0.0:80");
  EXPECT_EQ(std::vector<std::string>(routes->virtual_hosts(0).domains().begin(),
                                     routes->virtual_hosts(0).domains().end()),
            std::vector<std::string>{"*"});
  EXPECT_EQ(test::RoutePrefixes(*routes), (std::vector<std::string>{"/api/", "/apx/", "/a", "/"}));
  const auto& api_route = routes->virtual_hosts(0).routes(0);
  EXPECT_EQ(api_route.name(), "ns/api");
  EXPECT_EQ(api_route.route().timeout().seconds(), 1);
  EXPECT_EQ(api_route.route().timeout().nanos(), 500000000);
  EXPECT_EQ(api_route.route().prefix_rewrite(), "/");
  EXPECT_FALSE(routes->virtual_hosts(0).routes(3).route().has_timeout());
  EXPECT_EQ(RouteWeights(*routes, "/a"), (Weights{{"ns/a/primary", 100}}));

  const auto manager = test::HcmOf(out.listeners[0]);
  EXPECT_EQ(manager.stat_prefix(), "0_0_0_0_80");
  ASSERT_EQ(manager.http_filters_size(), 1);
  EXPECT_EQ(manager.http_filters(0).name(), "envoy.filters.http.router");
  const auto& address = out.listeners[0].address().socket_address();
  EXPECT_EQ(address.address(), "0.0.0.0");
  EXPECT_EQ(address.port_value(), 80u);
}

TEST(TranslateListeners, TcpProxyUsesClusterOrWeightedClusters) {
  model::ProPsyService single = Tcp("single", 9000);
  model::ProPsyService split = Tcp("split", 9001);
  split.spec.percent = 40;
  model::World world = Base()
                           .Service("c", single)
                           .Service("c", split)
                           .Endpoints("e", Slice("ns", "split", "s1", {Ready("10.0.0.1")}))
                           .Endpoints("f", Slice("ns", "split", "s2", {Ready("10.0.1.1")}))
                           .Build();
  NodeResources out = Translate(world, kNode, kOptions);
  EXPECT_TRUE(out.routes.empty());
  ASSERT_NE(FindListener(out, "0.0.0.0:9000"), nullptr);
  EXPECT_EQ(test::TcpProxyOf(*FindListener(out, "0.0.0.0:9000")).cluster(), "ns/single/primary");
  EXPECT_EQ(test::TcpProxyOf(*FindListener(out, "0.0.0.0:9000")).stat_prefix(), "0_0_0_0_9000");
  EXPECT_EQ(test::TcpWeights(*FindListener(out, "0.0.0.0:9001")),
            (Weights{{"ns/split/primary", 40}, {"ns/split/remote/f", 60}}));
}

// Each conflict kind, with the services given in both orders: the older
// one always wins.
struct ConflictCase {
  std::string name;
  model::ProPsyService older;
  model::ProPsyService newer;
};

void PrintTo(const ConflictCase& c, std::ostream* os) { *os << c.name; }

class ConflictTest : public testing::TestWithParam<ConflictCase> {};

TEST_P(ConflictTest, OlderWinsRegardlessOfInputOrder) {
  const ConflictCase& c = GetParam();
  for (bool older_first : {true, false}) {
    // Config clusters hold objects in key order; to vary the input order
    // the two objects swap names as well.
    WorldBuilder builder = Base();
    model::ProPsyService older = Aged(c.older, "2024-01-01T00:00:00Z");
    model::ProPsyService newer = Aged(c.newer, "2024-06-01T00:00:00Z");
    older.meta.key.name = older_first ? "aaa" : "zzz";
    newer.meta.key.name = older_first ? "zzz" : "aaa";
    builder.Service("c", older).Service("c", newer);
    NodeResources out = Translate(builder.Build(), kNode, kOptions);
    const std::string winner = "ns/" + older.meta.key.name + "/primary";
    EXPECT_EQ(test::Names(out.clusters), std::vector<std::string>{winner}) << c.name;
    ASSERT_EQ(out.listeners.size(), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, ConflictTest,
                         testing::Values(ConflictCase{"HttpThenTcp", Http("x", "/"), Tcp("y")},
                                         ConflictCase{"TcpThenHttp", Tcp("x"), Http("y", "/b")},
                                         ConflictCase{"TcpTcp", Tcp("x"), Tcp("y")},
                                         ConflictCase{"SamePath", Http("x", "/p"),
                                                      Http("y", "/p")}),
                         [](const auto& info) { return info.param.name; });

TEST(TranslateListeners, EmptyTimestampIsOldestAndTiesGoByKey) {
  model::World world = Base()
                           .Service("c", Aged(Tcp("b"), ""))
                           .Service("c", Aged(Tcp("a"), "2020-01-01T00:00:00Z"))
                           .Build();
  EXPECT_EQ(test::Names(Translate(world, kNode, kOptions).clusters),
            std::vector<std::string>{"ns/b/primary"});
  world = Base().Service("c", Aged(Tcp("b"), "")).Service("c", Aged(Tcp("a"), "")).Build();
  EXPECT_EQ(test::Names(Translate(world, kNode, kOptions).clusters),
            std::vector<std::string>{"ns/a/primary"});
}

TEST(TranslateListeners, TypeLosersDoNotBlockOthersOfTheWinningType) {
  // HTTP "/" is oldest; a TCP service loses; an HTTP service on another
  // path still joins the listener.
  model::World world = Base()
                           .Service("c", Aged(Http("a", "/"), "2024-01-01T00:00:00Z"))
                           .Service("c", Aged(Tcp("b"), "2024-02-01T00:00:00Z"))
                           .Service("c", Aged(Http("c", "/c"), "2024-03-01T00:00:00Z"))
                           .Build();
  NodeResources out = Translate(world, kNode, kOptions);
  EXPECT_EQ(test::RoutePrefixes(*FindRoutes(out, "0.0.0.0:80")),
            (std::vector<std::string>{"/c", "/"}));
}

constexpr char kCert[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
constexpr char kKey[] = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

model::ProPsyService WithTls(model::ProPsyService pps, const std::string& secret) {
  pps.spec.tls_certificate_secret = secret;
  pps.spec.listen.port = 443;
  return pps;
}

TEST(TranslateTls, ListenerServesTheSecretOverSds) {
  model::World world = Base()
                           .Service("c", WithTls(Http("root", "/"), "cert"))
                           .Service("c", WithTls(Http("api", "/api"), "ignored"))
                           .Secret("c", "ns", "cert", kCert, kKey)
                           .Build();
  NodeResources out = Translate(world, kNode, kOptions);
  ASSERT_EQ(test::Names(out.secrets), std::vector<std::string>{"c/ns/cert"});
  EXPECT_EQ(out.secrets[0].tls_certificate().certificate_chain().inline_string(), kCert);
  EXPECT_EQ(out.secrets[0].tls_certificate().private_key().inline_string(), kKey);
  const auto& chain = FindListener(out, "0.0.0.0:443")->filter_chains(0);
  EXPECT_EQ(chain.transport_socket().name(), "envoy.transport_sockets.tls");
  envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext context;
  ASSERT_TRUE(chain.transport_socket().typed_config().UnpackTo(&context));
  ASSERT_EQ(context.common_tls_context().tls_certificate_sds_secret_configs_size(), 1);
  const auto& sds = context.common_tls_context().tls_certificate_sds_secret_configs(0);
  EXPECT_EQ(sds.name(), "c/ns/cert");
  EXPECT_TRUE(sds.sds_config().has_ads());
}

TEST(TranslateTls, WithoutARootRouteTheMostGeneralRouteDecides) {
  model::World world = Base()
                           .Service("c", WithTls(Http("app", "/app/"), "cert"))
                           .Service("c", WithTls(Http("deep", "/app/deep/"), "other"))
                           .Secret("c", "ns", "cert", kCert, kKey)
                           .Build();
  NodeResources out = Translate(world, kNode, kOptions);
  EXPECT_EQ(test::Names(out.secrets), std::vector<std::string>{"c/ns/cert"});
  ASSERT_EQ(out.listeners.size(), 1u);
  EXPECT_TRUE(out.listeners[0].filter_chains(0).has_transport_socket());
}

TEST(TranslateTls, MissingOrInvalidSecretRemovesTheListener) {
  for (int variant = 0; variant < 2; ++variant) {
    WorldBuilder builder = Base();
    builder.Service("c", WithTls(Http("root", "/"), "cert"))
        .Service("c", WithTls(Http("api", "/api"), ""))
        .Service("c", Http("plain", "/", 80));
    if (variant == 1) builder.InvalidSecret("c", "ns", "cert", "data[tls.key]: missing");
    NodeResources out = Translate(builder.Build(), kNode, kOptions);
    EXPECT_EQ(test::Names(out.listeners), std::vector<std::string>{"0.0.0.0:80"}) << variant;
    EXPECT_EQ(test::Names(out.routes), std::vector<std::string>{"0.0.0.0:80"});
    EXPECT_EQ(test::Names(out.clusters), std::vector<std::string>{"ns/plain/primary"});
    EXPECT_TRUE(out.secrets.empty());
  }
}

TEST(TranslateTls, SecretFromAnotherConfigClusterDoesNotCount) {
  model::World world = Base()
                           .ConfigCluster("other", "y")
                           .Service("c", WithTls(Tcp("db"), "cert"))
                           .Secret("other", "ns", "cert", kCert, kKey)
                           .Build();
  EXPECT_TRUE(Translate(world, kNode, kOptions).listeners.empty());
}

TEST(TranslateTls, InvalidNewestSecretKeepsServingTheLastGood) {
  model::World world = Base()
                           .Service("c", WithTls(Tcp("db"), "cert"))
                           .Secret("c", "ns", "cert", kCert, kKey, "data[tls.crt]: expired")
                           .Build();
  NodeResources out = Translate(world, kNode, kOptions);
  ASSERT_EQ(test::Names(out.listeners), std::vector<std::string>{"0.0.0.0:443"});
  EXPECT_EQ(out.listeners[0].filter_chains(0).transport_socket().name(),
            "envoy.transport_sockets.tls");
  ASSERT_EQ(out.secrets.size(), 1u);
}

}  // namespace
}  // namespace propsy::translate
