#include "control/incremental_translator.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "control/snapshot_conversion.h"

namespace propsy::control {
namespace {

constexpr int kConfigClusters = 2;
constexpr int kEndpointClusters = 3;
const std::vector<std::string> kNodeIds = {"n0", "n1", "n2", "n3", "n4"};
const std::vector<std::string> kZones = {"", "a", "b"};

// A World kept as its parts, so a test can change one part and keep the
// others' pointers, as the sources do.
struct WorldState {
  std::vector<std::shared_ptr<const model::ClusterObjects>> config;
  std::vector<std::map<model::ObjectKey, std::shared_ptr<const model::ServiceEndpoints>>> endpoints;

  model::WorldPtr Build() const {
    auto world = std::make_shared<model::World>();
    for (int c = 0; c < kConfigClusters; ++c) {
      std::string zone = c == 0 ? "a" : "b";
      world->config_clusters.push_back(model::ClusterView{
          .info = {.name = "config-" + zone, .source = "dir:c" + zone, .zone = zone, .priority = 0},
          .objects = config[c],
          .synced = true,
          .stale = false,
          .stale_since_unix_ms = 0,
          .statuses = nullptr});
    }
    for (int c = 0; c < kEndpointClusters; ++c) {
      auto objects = std::make_shared<model::ClusterObjects>();
      objects->endpoints = endpoints[c];
      std::string zone = c == 1 ? "b" : "a";
      world->endpoint_clusters.push_back(
          model::ClusterView{.info = {.name = "ep-" + std::to_string(c),
                                      .source = "dir:e" + std::to_string(c),
                                      .zone = zone,
                                      .priority = c},
                             .objects = std::move(objects),
                             .synced = true,
                             .stale = false,
                             .stale_since_unix_ms = 0,
                             .statuses = nullptr});
    }
    return world;
  }
};

class RandomWorlds {
 public:
  explicit RandomWorlds(uint32_t seed) : random_(seed) {
    for (int c = 0; c < kConfigClusters; ++c) {
      auto objects = std::make_shared<model::ClusterObjects>();
      for (int s = 0; s < 12; ++s) AddService(*objects, s);
      AddSecret(*objects, "cert");
      state_.config.push_back(std::move(objects));
    }
    state_.endpoints.resize(kEndpointClusters);
    for (int c = 0; c < kEndpointClusters; ++c) {
      for (int s = 0; s < 14; ++s) {
        if (Pick(4) != 0) SetEndpoints(c, "svc" + std::to_string(s));
      }
    }
  }

  const WorldState& state() const { return state_; }

  // One random change, of the kinds sources make.
  void Mutate() {
    switch (Pick(5)) {
      case 0:
      case 1:
      case 2: {  // an endpoint set changes, appears or goes
        int cluster = Pick(kEndpointClusters);
        std::string service = "svc" + std::to_string(Pick(14));
        if (Pick(5) == 0) {
          state_.endpoints[cluster].erase({"ns", service});
        } else {
          SetEndpoints(cluster, service);
        }
        break;
      }
      case 3: {  // a definition changes, appears or goes
        int cluster = Pick(kConfigClusters);
        auto objects = std::make_shared<model::ClusterObjects>(*state_.config[cluster]);
        int service = Pick(14);
        if (Pick(4) == 0) {
          objects->services.erase({"ns", "pps" + std::to_string(service)});
        } else {
          AddService(*objects, service);
        }
        state_.config[cluster] = std::move(objects);
        break;
      }
      case 4: {  // config objects are rebuilt with equal contents
        int cluster = Pick(kConfigClusters);
        state_.config[cluster] = std::make_shared<model::ClusterObjects>(*state_.config[cluster]);
        if (Pick(3) == 0) {
          auto objects = std::make_shared<model::ClusterObjects>(*state_.config[cluster]);
          if (objects->secrets.empty()) {
            AddSecret(*objects, "cert");
          } else {
            objects->secrets.clear();
          }
          state_.config[cluster] = std::move(objects);
        }
        break;
      }
    }
  }

  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(random_); }

 private:
  void AddService(model::ClusterObjects& objects, int index) {
    model::ProPsyService pps;
    pps.meta.key = {"ns", "pps" + std::to_string(index)};
    pps.meta.creation_timestamp = "2026-01-0" + std::to_string(1 + Pick(9)) + "T00:00:00Z";
    pps.spec.service = "svc" + std::to_string(Pick(14));
    pps.spec.service_port = 8080;
    pps.spec.listen = {.host = "0.0.0.0", .port = static_cast<uint32_t>(8000 + Pick(4))};
    if (Pick(4) == 0) {
      pps.spec.nodes = {"*"};
    } else {
      pps.spec.nodes = std::vector<std::string>{kNodeIds[Pick(5)], kNodeIds[Pick(5)]};
    }
    pps.spec.percent = Pick(3) == 0 ? 70 : 100;
    if (Pick(4) == 0) {
      pps.spec.canary_service = "svc" + std::to_string(Pick(14));
      pps.spec.canary_percent = 10;
    }
    pps.spec.type = Pick(5) == 0 ? model::ServiceType::kTcp : model::ServiceType::kHttp;
    pps.spec.path_prefix = "/p" + std::to_string(Pick(3)) + "/";
    if (Pick(6) == 0) pps.spec.tls_certificate_secret = "cert";
    if (Pick(3) == 0) pps.spec.timeout_ms = 100 + Pick(5);
    pps.spec.disabled = Pick(12) == 0;
    model::ObjectMeta meta = pps.meta;
    objects.services[meta.key] = {
        .last_good = std::move(pps), .latest_meta = meta, .error = absl::OkStatus()};
  }

  static void AddSecret(model::ClusterObjects& objects, const std::string& name) {
    model::TlsSecret secret;
    secret.meta.key = {"ns", name};
    secret.certificate_chain_pem = "chain";
    secret.private_key_pem = "key";
    model::ObjectMeta meta = secret.meta;
    objects.secrets[meta.key] = {
        .last_good = std::move(secret), .latest_meta = meta, .error = absl::OkStatus()};
  }

  void SetEndpoints(int cluster, const std::string& service) {
    model::EndpointSlice slice;
    slice.meta.key = {"ns", service + "-slice"};
    slice.service_name = service;
    slice.ports = {{.name = "", .port = 8080}};
    int hosts = 1 + Pick(3);
    for (int h = 0; h < hosts; ++h) {
      model::EndpointEntry endpoint;
      endpoint.addresses = {fmt::format("10.{}.{}.{}", cluster, Pick(4), Pick(250))};
      endpoint.ready = Pick(5) != 0;
      slice.endpoints.push_back(std::move(endpoint));
    }
    auto set = std::make_shared<model::ServiceEndpoints>();
    model::ObjectMeta meta = slice.meta;
    set->slices[meta.key.name] = {
        .last_good = std::move(slice), .latest_meta = meta, .error = absl::OkStatus()};
    state_.endpoints[cluster][{"ns", service}] = std::move(set);
  }

  std::mt19937 random_;
  WorldState state_;
};

translate::TranslateOptions Options() {
  return {.default_zone = "a", .xds_cluster_name = "xds_cluster"};
}

// Versions are content hashes, so equal versions mean equal resources.
void ExpectSameAsFullTranslation(IncrementalTranslator& translator, const model::World& world,
                                 xds::ResourceInterner& interner, const std::string& context) {
  for (const std::string& zone : kZones) {
    for (const std::string& id : kNodeIds) {
      for (bool ads : {false, true}) {
        translate::NodeContext node{.id = id, .zone = zone, .uses_ads = ads};
        absl::StatusOr<xds::SnapshotPtr> expected =
            ToSnapshot(translate::Translate(world, node, Options()), interner);
        absl::StatusOr<xds::SnapshotPtr> actual = translator.SnapshotFor(node);
        std::string where = fmt::format("{}; node {} zone '{}' ads {}", context, id, zone, ads);
        ASSERT_EQ(expected.ok(), actual.ok()) << where;
        if (!expected.ok()) continue;
        for (xds::ResourceType type : xds::kAllResourceTypes) {
          EXPECT_EQ((*expected)->Of(type).version, (*actual)->Of(type).version)
              << where << " type " << xds::TypeUrl(type);
        }
      }
    }
  }
}

TEST(IncrementalTranslatorTest, MatchesFullTranslationThroughRandomChanges) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    RandomWorlds worlds(seed);
    xds::ResourceInterner interner;
    IncrementalTranslator translator(Options(), interner);
    for (int step = 0; step < 40; ++step) {
      model::WorldPtr world = worlds.state().Build();
      translator.SetWorld(world);
      ExpectSameAsFullTranslation(translator, *world, interner,
                                  fmt::format("seed {} step {}", seed, step));
      if (HasFailure()) return;
      if (worlds.Pick(3) == 0) translator.Prune();
      worlds.Mutate();
    }
  }
}

// Two services for two disjoint node groups, one endpoint set each.
WorldState TwoGroups() {
  WorldState state;
  auto config = std::make_shared<model::ClusterObjects>();
  for (int group = 0; group < 2; ++group) {
    model::ProPsyService pps;
    pps.meta.key = {"ns", "pps" + std::to_string(group)};
    pps.spec.service = "svc" + std::to_string(group);
    pps.spec.service_port = 8080;
    pps.spec.listen = {.host = "0.0.0.0", .port = 80};
    pps.spec.nodes = {"g" + std::to_string(group) + "-1", "g" + std::to_string(group) + "-2"};
    pps.spec.percent = 100;
    model::ObjectMeta meta = pps.meta;
    config->services[meta.key] = {
        .last_good = std::move(pps), .latest_meta = meta, .error = absl::OkStatus()};
  }
  state.config = {config, std::make_shared<model::ClusterObjects>()};
  state.endpoints.resize(kEndpointClusters);
  return state;
}

std::shared_ptr<const model::ServiceEndpoints> OneHost(const std::string& service,
                                                       const std::string& ip) {
  model::EndpointSlice slice;
  slice.meta.key = {"ns", service};
  slice.service_name = service;
  slice.ports = {{.name = "", .port = 8080}};
  model::EndpointEntry endpoint;
  endpoint.addresses = {ip};
  endpoint.ready = true;
  slice.endpoints.push_back(std::move(endpoint));
  auto set = std::make_shared<model::ServiceEndpoints>();
  model::ObjectMeta meta = slice.meta;
  set->slices[service] = {.last_good = std::move(slice), .latest_meta = meta, .error = {}};
  return set;
}

TEST(IncrementalTranslatorTest, OneEndpointChangeRetranslatesOnlyItsService) {
  WorldState state = TwoGroups();
  state.endpoints[0][{"ns", "svc0"}] = OneHost("svc0", "10.0.0.1");
  state.endpoints[0][{"ns", "svc1"}] = OneHost("svc1", "10.0.0.2");
  xds::ResourceInterner interner;
  IncrementalTranslator translator(Options(), interner);
  translator.SetWorld(state.Build());
  std::map<std::string, xds::SnapshotPtr> before;
  for (std::string id : {"g0-1", "g0-2", "g1-1", "g1-2"}) {
    translate::NodeContext node{.id = id, .zone = "a", .uses_ads = true};
    before[id] = *translator.SnapshotFor(node);
  }
  // Nodes of one group share one snapshot; the groups differ.
  EXPECT_EQ(before["g0-1"], before["g0-2"]);
  EXPECT_NE(before["g0-1"], before["g1-1"]);
  EXPECT_EQ(translator.counters().services_translated, 2u);
  EXPECT_EQ(translator.counters().node_classes_built, 2u);

  state.endpoints[0][{"ns", "svc1"}] = OneHost("svc1", "10.0.0.3");
  translator.SetWorld(state.Build());
  std::map<std::string, xds::SnapshotPtr> after;
  for (std::string id : {"g0-1", "g0-2", "g1-1", "g1-2"}) {
    translate::NodeContext node{.id = id, .zone = "a", .uses_ads = true};
    after[id] = *translator.SnapshotFor(node);
  }
  EXPECT_EQ(translator.counters().services_translated, 3u);
  EXPECT_EQ(translator.counters().node_classes_built, 3u);
  EXPECT_EQ(after["g0-1"], before["g0-1"]);  // untouched group: same snapshot
  const xds::NodeSnapshot& changed = *after["g1-1"];
  const xds::NodeSnapshot& old = *before["g1-1"];
  EXPECT_NE(changed.Of(xds::ResourceType::kEndpoint).version,
            old.Of(xds::ResourceType::kEndpoint).version);
  // Only the load assignment changed: the other sets are the same objects.
  for (xds::ResourceType type : {xds::ResourceType::kCluster, xds::ResourceType::kListener,
                                 xds::ResourceType::kRoute, xds::ResourceType::kSecret}) {
    EXPECT_EQ(changed.SharedOf(type), old.SharedOf(type)) << xds::TypeUrl(type);
  }
}

TEST(IncrementalTranslatorTest, PruneForgetsWhatNoNodeAskedFor) {
  WorldState state = TwoGroups();
  state.endpoints[0][{"ns", "svc0"}] = OneHost("svc0", "10.0.0.1");
  xds::ResourceInterner interner;
  IncrementalTranslator translator(Options(), interner);
  translator.SetWorld(state.Build());
  ASSERT_TRUE(translator.SnapshotFor({.id = "g0-1", .zone = "a", .uses_ads = true}).ok());
  translator.SetWorld(state.Build());
  translator.Prune();  // nobody asked in this world: everything goes
  EXPECT_EQ(interner.LiveCount(), 0u);
  ASSERT_TRUE(translator.SnapshotFor({.id = "g0-1", .zone = "a", .uses_ads = true}).ok());
  EXPECT_EQ(translator.counters().services_translated, 2u);
}

}  // namespace
}  // namespace propsy::control
