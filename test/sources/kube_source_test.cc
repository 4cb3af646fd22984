#include "sources/kube_source.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "kube/fake_transport.h"
#include "kube/reflector_test_util.h"

namespace propsy::sources {
namespace {

using kube::testing::BookmarkLine;
using kube::testing::FakeReply;
using kube::testing::FakeTransport;
using kube::testing::ListBody;
using kube::testing::ParsedPath;
using kube::testing::Reply;
using kube::testing::StatusBody;
using kube::testing::WatchLine;
using std::chrono::milliseconds;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr milliseconds kTimeout{5000};
constexpr char kServicesPath[] = "/apis/propsy.seznam.cz/v1/propsyservices";
constexpr char kSecretsPath[] = "/api/v1/secrets";
constexpr char kDiscoveryPath[] = "/apis/discovery.k8s.io/v1";

std::string Service(const std::string& ns, const std::string& name, int percent = 100) {
  return fmt::format(
      R"({{"apiVersion":"propsy.seznam.cz/v1","kind":"ProPsyService","metadata":{{"name":"{}","namespace":"{}","resourceVersion":"7"}},"spec":{{"service":"web","servicePort":8080,"listen":"127.0.0.1:10080","nodes":["*"],"percent":{}}}}})",
      name, ns, percent);
}

std::string CoreEndpoints(const std::string& name, const std::string& ip) {
  return fmt::format(
      R"({{"metadata":{{"name":"{}","namespace":"shop"}},"subsets":[{{"addresses":[{{"ip":"{}"}}],"ports":[{{"name":"http","port":8080}}]}}]}})",
      name, ip);
}

FakeReply HeldWatch(std::vector<std::string> chunks = {}) {
  return FakeReply{
      .error = {}, .status = 200, .headers = {}, .chunks = std::move(chunks), .hold_open = true};
}

std::set<std::string> ServiceKeys(const ClusterState& state) {
  std::set<std::string> keys;
  for (const auto& [key, entry] : state.objects->services) keys.insert(key.ToString());
  return keys;
}

class KubeSourceTest : public ::testing::Test {
 protected:
  KubeSourceTest() : transport_(std::make_shared<FakeTransport>()) {
    options_.description = "kubeconfig test";
    options_.stale_after = milliseconds(150);
    options_.reflector.initial_backoff = milliseconds(5);
    options_.reflector.max_backoff = milliseconds(20);
  }
  ~KubeSourceTest() override {
    source_.reset();
    EXPECT_LE(max_concurrent_callbacks_.load(), 1) << "callbacks ran concurrently";
  }

  void Start() {
    source_ = std::make_unique<KubeSource>(transport_, options_, clock_);
    ASSERT_TRUE(source_
                    ->Start([this](ClusterState state) {
                      const int running = ++running_callbacks_;
                      int seen = max_concurrent_callbacks_.load();
                      while (running > seen &&
                             !max_concurrent_callbacks_.compare_exchange_weak(seen, running)) {
                      }
                      {
                        std::lock_guard lock(mu_);
                        states_.push_back(std::move(state));
                      }
                      --running_callbacks_;
                      changed_.notify_all();
                    })
                    .ok());
  }

  // Waits for a reported state that satisfies `match`; returns the newest.
  std::optional<ClusterState> WaitForState(const std::function<bool(const ClusterState&)>& match) {
    std::unique_lock lock(mu_);
    std::optional<ClusterState> found;
    changed_.wait_for(lock, kTimeout, [&] {
      if (!states_.empty() && match(states_.back())) found = states_.back();
      return found.has_value();
    });
    return found;
  }

  std::vector<ClusterState> states() const {
    std::lock_guard lock(mu_);
    return states_;
  }

  std::shared_ptr<FakeTransport> transport_;
  KubeSourceOptions options_;
  // Real time: these tests drive reflectors, backoff and staleness together
  // through a fake transport, with delays of a few milliseconds.
  RealClock clock_;
  std::unique_ptr<KubeSource> source_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<ClusterState> states_;
  std::atomic<int> running_callbacks_{0};
  std::atomic<int> max_concurrent_callbacks_{0};
};

TEST(KubeCollectionsTest, PathsPerRoleAndNamespace) {
  std::vector<KubeCollection> config = KubeCollections(KubeSourceRole::kConfig, {}, true, true);
  ASSERT_EQ(config.size(), 2u);
  EXPECT_EQ(config[0].path, kServicesPath);
  EXPECT_EQ(config[0].kind, model::ObjectKind::kProPsyService);
  EXPECT_EQ(config[1].path, kSecretsPath);
  EXPECT_EQ(config[1].kind, model::ObjectKind::kSecret);
  EXPECT_EQ(config[1].field_selector, "type=kubernetes.io/tls");

  // -legacyendpoints=false: slices only, per namespace.
  std::vector<KubeCollection> namespaced =
      KubeCollections(KubeSourceRole::kEndpoint, {"a", "b", "a"}, true, false);
  ASSERT_EQ(namespaced.size(), 2u);
  EXPECT_EQ(namespaced[0].path, "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices");
  EXPECT_EQ(namespaced[1].path, "/apis/discovery.k8s.io/v1/namespaces/b/endpointslices");
  EXPECT_EQ(namespaced[0].label_selector, "kubernetes.io/service-name");

  // The default: slices and the core/v1 Endpoints fallback.
  std::vector<KubeCollection> both = KubeCollections(KubeSourceRole::kEndpoint, {"a"}, true, true);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].path, "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices");
  EXPECT_EQ(both[0].kind, model::ObjectKind::kEndpointSlice);
  EXPECT_EQ(both[1].path, "/api/v1/namespaces/a/endpoints");
  EXPECT_EQ(both[1].kind, model::ObjectKind::kEndpoints);
  EXPECT_EQ(both[1].label_selector, "");

  // No EndpointSlice API: Endpoints only, whatever -legacyendpoints says.
  for (bool legacy : {true, false}) {
    std::vector<KubeCollection> core =
        KubeCollections(KubeSourceRole::kEndpoint, {"a"}, false, legacy);
    ASSERT_EQ(core.size(), 1u);
    EXPECT_EQ(core[0].path, "/api/v1/namespaces/a/endpoints");
    EXPECT_EQ(core[0].kind, model::ObjectKind::kEndpoints);
  }
}

TEST_F(KubeSourceTest, SyncedOnlyAfterEveryReflectorListed) {
  transport_->PushList(kServicesPath, Reply(200, ListBody("5", "", {Service("shop", "web")})));
  Start();
  // The services are listed and watched; the secrets list hangs.
  ASSERT_TRUE(transport_->WaitForHolding(2, kTimeout));
  for (const ClusterState& state : states()) EXPECT_FALSE(state.synced);

  transport_->PushList(kSecretsPath, Reply(200, ListBody("6", "", {})));
  std::optional<ClusterState> synced = WaitForState([](const ClusterState& s) { return s.synced; });
  ASSERT_TRUE(synced.has_value());
  EXPECT_THAT(ServiceKeys(*synced), ElementsAre("shop/web"));
  EXPECT_FALSE(synced->stale);
  EXPECT_THAT(synced->problems, IsEmpty());

  // Only TLS secrets are ever asked for.
  for (const ParsedPath& request : transport_->parsed_requests()) {
    if (request.path == kSecretsPath) {
      EXPECT_EQ(request.Param("fieldSelector"), "type=kubernetes.io/tls");
    }
  }
  const std::vector<kube::ReflectorStats> stats = source_->Stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_TRUE(stats[0].synced && stats[1].synced);
  // Metrics see the same totals.
  std::vector<CollectionCounters> counters = source_->Counters();
  ASSERT_EQ(counters.size(), 2u);
  EXPECT_EQ(counters[0].resource, "propsyservices");
  EXPECT_EQ(counters[1].resource, "secrets");
  for (const CollectionCounters& collection : counters) {
    EXPECT_EQ(collection.lists, 1u) << collection.resource;
    EXPECT_EQ(collection.relists, 0u) << collection.resource;
    EXPECT_EQ(collection.decode_errors, 0u) << collection.resource;
  }
}

TEST_F(KubeSourceTest, StaleAfterTheOutageThresholdKeepsObjectsAndClearsOnRecovery) {
  transport_->PushList(kServicesPath, Reply(200, ListBody("5", "", {Service("shop", "web")})));
  transport_->PushList(kSecretsPath, Reply(200, ListBody("6", "", {})));
  Start();
  ASSERT_TRUE(WaitForState([](const ClusterState& s) { return s.synced; }).has_value());
  ASSERT_TRUE(transport_->WaitForHolding(2, kTimeout));

  const auto outage_start = std::chrono::system_clock::now();
  transport_->SetOutage(absl::UnavailableError("connection refused"));
  std::optional<ClusterState> stale = WaitForState([](const ClusterState& s) { return s.stale; });
  ASSERT_TRUE(stale.has_value());
  const auto noticed = std::chrono::system_clock::now();
  // Not before the threshold; stale_since is when the failing began.
  EXPECT_GE(noticed - outage_start, options_.stale_after);
  const int64_t outage_ms =
      std::chrono::duration_cast<milliseconds>(outage_start.time_since_epoch()).count();
  EXPECT_GE(stale->stale_since_unix_ms, outage_ms);
  EXPECT_LE(stale->stale_since_unix_ms, outage_ms + 100);
  EXPECT_THAT(ServiceKeys(*stale), ElementsAre("shop/web")) << "objects are kept";
  EXPECT_TRUE(stale->synced);
  EXPECT_THAT(stale->problems, Contains(HasSubstr("connection refused")));
  for (const ClusterState& state : states()) {
    EXPECT_THAT(ServiceKeys(state), ElementsAre("shop/web"));
  }

  // Recovery: the watches resume from their versions (no relist needed).
  transport_->PushWatch(kServicesPath, HeldWatch({BookmarkLine("8")}));
  transport_->PushWatch(kSecretsPath, HeldWatch({BookmarkLine("9")}));
  transport_->SetOutage(absl::OkStatus());
  // Not stale once a watch is back; the other watch may need one more retry
  // before its problem clears, so wait for both.
  std::optional<ClusterState> back =
      WaitForState([](const ClusterState& s) { return !s.stale && s.problems.empty(); });
  ASSERT_TRUE(back.has_value());
  EXPECT_THAT(ServiceKeys(*back), ElementsAre("shop/web"));
  for (const kube::ReflectorStats& stats : source_->Stats()) {
    EXPECT_EQ(stats.lists, 1) << stats.collection;
    EXPECT_TRUE(stats.connected) << stats.collection;
  }
}

TEST_F(KubeSourceTest, UnreachableFromTheStartReportsStaleButNotSynced) {
  transport_->SetOutage(absl::UnavailableError("no route to host"));
  Start();
  std::optional<ClusterState> stale = WaitForState([](const ClusterState& s) { return s.stale; });
  ASSERT_TRUE(stale.has_value());
  EXPECT_FALSE(stale->synced);
  ASSERT_NE(stale->objects, nullptr);
  EXPECT_TRUE(stale->objects->services.empty());
  EXPECT_THAT(stale->problems, Contains(HasSubstr("no route to host")));
}

// SPEC §3: a service uses its Endpoints object only where the cluster has
// no EndpointSlice for it. "web" has both (slices win), "legacy" only a
// hand-written Endpoints object (no Service, so no controller mirrors it).
TEST_F(KubeSourceTest, SlicesAndTheirCoreEndpointsFallbackWhenTheClusterHasTheApi) {
  options_.role = KubeSourceRole::kEndpoint;
  transport_->PushList(kDiscoveryPath, Reply(200, R"({"kind":"APIResourceList"})"));
  transport_->PushList("/apis/discovery.k8s.io/v1/endpointslices",
                       Reply(200, ListBody("3", "", {kube::testing::Slice("web-1", "10.0.0.1")})));
  transport_->PushList("/api/v1/endpoints",
                       Reply(200, ListBody("4", "",
                                           {CoreEndpoints("web", "10.0.0.9"),
                                            CoreEndpoints("legacy", "10.0.0.2")})));
  Start();
  std::optional<ClusterState> synced = WaitForState([](const ClusterState& s) { return s.synced; });
  ASSERT_TRUE(synced.has_value());
  const auto& endpoints = synced->objects->endpoints;
  ASSERT_EQ(endpoints.size(), 2u);
  const model::ServiceEndpoints& web = *endpoints.at({"shop", "web"});
  EXPECT_EQ(web.slices.size(), 1u);
  EXPECT_TRUE(web.core_endpoints.has_value());
  EXPECT_FALSE(model::UsesCoreEndpoints(web));
  EXPECT_TRUE(model::UsesCoreEndpoints(*endpoints.at({"shop", "legacy"})));
  const std::vector<ParsedPath> requests = transport_->parsed_requests();
  ASSERT_GE(requests.size(), 3u);
  EXPECT_EQ(requests[0].path, kDiscoveryPath);
  std::set<std::string> listed;
  for (const ParsedPath& request : requests) {
    if (request.path == "/apis/discovery.k8s.io/v1/endpointslices") {
      EXPECT_EQ(request.Param("labelSelector"), "kubernetes.io/service-name");
    }
    if (!request.watch()) listed.insert(request.path);
  }
  EXPECT_THAT(listed, ElementsAre("/api/v1/endpoints", kDiscoveryPath,
                                  "/apis/discovery.k8s.io/v1/endpointslices"));
  EXPECT_THAT(source_->Counters(),
              ElementsAre(::testing::Field(&CollectionCounters::resource, "endpointslices"),
                          ::testing::Field(&CollectionCounters::resource, "endpoints")));
}

TEST_F(KubeSourceTest, LegacyEndpointsOffWatchesSlicesOnly) {
  options_.role = KubeSourceRole::kEndpoint;
  options_.legacy_endpoints = false;
  transport_->PushList(kDiscoveryPath, Reply(200, R"({"kind":"APIResourceList"})"));
  transport_->PushList("/apis/discovery.k8s.io/v1/endpointslices",
                       Reply(200, ListBody("3", "", {kube::testing::Slice("web-1", "10.0.0.1")})));
  Start();
  std::optional<ClusterState> synced = WaitForState([](const ClusterState& s) { return s.synced; });
  ASSERT_TRUE(synced.has_value());
  ASSERT_EQ(synced->objects->endpoints.size(), 1u);
  EXPECT_EQ(source_->Stats().size(), 1u);
  for (const ParsedPath& request : transport_->parsed_requests()) {
    EXPECT_THAT(request.path, AnyOf(kDiscoveryPath, "/apis/discovery.k8s.io/v1/endpointslices"));
  }
}

TEST_F(KubeSourceTest, FallsBackToCoreEndpointsWhenDiscoveryIsMissing) {
  options_.role = KubeSourceRole::kEndpoint;
  transport_->PushList(kDiscoveryPath, Reply(404, StatusBody(404, "NotFound")));
  transport_->PushList("/api/v1/endpoints",
                       Reply(200, ListBody("3", "", {CoreEndpoints("web", "10.0.0.1")})));
  Start();
  std::optional<ClusterState> synced = WaitForState([](const ClusterState& s) { return s.synced; });
  ASSERT_TRUE(synced.has_value());
  ASSERT_EQ(synced->objects->endpoints.size(), 1u);
  EXPECT_TRUE(synced->objects->endpoints.begin()->second->core_endpoints.has_value());
  for (const ParsedPath& request : transport_->parsed_requests()) {
    EXPECT_THAT(request.path, AnyOf(kDiscoveryPath, "/api/v1/endpoints"));
  }
}

TEST_F(KubeSourceTest, DiscoveryFailuresAreRetried) {
  options_.role = KubeSourceRole::kEndpoint;
  transport_->PushList(kDiscoveryPath, kube::testing::Failure(absl::UnavailableError("refused")));
  transport_->PushList(kDiscoveryPath, Reply(503, StatusBody(503, "ServiceUnavailable")));
  transport_->PushList(kDiscoveryPath, Reply(404, ""));
  transport_->PushList("/api/v1/endpoints", Reply(200, ListBody("3", "", {})));
  Start();
  ASSERT_TRUE(WaitForState([](const ClusterState& s) { return s.synced; }).has_value());
  const std::vector<ParsedPath> requests = transport_->parsed_requests();
  ASSERT_GE(requests.size(), 4u);
  EXPECT_EQ(requests[2].path, kDiscoveryPath);
  EXPECT_EQ(requests[3].path, "/api/v1/endpoints");
}

TEST_F(KubeSourceTest, OneReflectorPerNamespaceAndARelistTouchesOnlyItsNamespace) {
  options_.namespaces = {"a", "b"};
  const std::string services_a = "/apis/propsy.seznam.cz/v1/namespaces/a/propsyservices";
  const std::string services_b = "/apis/propsy.seznam.cz/v1/namespaces/b/propsyservices";
  transport_->PushList(services_a, Reply(200, ListBody("5", "", {Service("a", "x")})));
  transport_->PushList(services_b, Reply(200, ListBody("5", "", {Service("b", "y")})));
  transport_->PushList("/api/v1/namespaces/a/secrets", Reply(200, ListBody("5", "", {})));
  transport_->PushList("/api/v1/namespaces/b/secrets", Reply(200, ListBody("5", "", {})));
  Start();
  std::optional<ClusterState> synced = WaitForState([](const ClusterState& s) { return s.synced; });
  ASSERT_TRUE(synced.has_value());
  EXPECT_THAT(ServiceKeys(*synced), UnorderedElementsAre("a/x", "b/y"));
  EXPECT_EQ(source_->Stats().size(), 4u);

  // Namespace a expires and relists without x: y in b must stay.
  transport_->PushList(services_a, Reply(200, ListBody("9", "", {Service("a", "z")})));
  transport_->PushWatch(services_a, HeldWatch({WatchLine("ERROR", StatusBody(410, "Expired"))}));
  std::optional<ClusterState> after = WaitForState([](const ClusterState& s) {
    return ServiceKeys(s) == std::set<std::string>{"a/z", "b/y"};
  });
  ASSERT_TRUE(after.has_value());
}

TEST_F(KubeSourceTest, DecodeProblemsAreReportedAndClearWhenFixed) {
  transport_->PushList(kServicesPath, Reply(200, ListBody("5", "", {Service("shop", "bad", 200)})));
  transport_->PushList(kSecretsPath, Reply(200, ListBody("6", "", {})));
  Start();
  std::optional<ClusterState> synced = WaitForState([](const ClusterState& s) { return s.synced; });
  ASSERT_TRUE(synced.has_value());
  EXPECT_THAT(synced->problems, ElementsAre(HasSubstr("ProPsyService shop/bad: spec.percent")));

  transport_->PushWatch(
      kServicesPath, HeldWatch({"{broken\n", WatchLine("MODIFIED", Service("shop", "bad", 50))}));
  std::optional<ClusterState> fixed = WaitForState([](const ClusterState& s) {
    return !s.problems.empty() && s.objects->services.contains({"shop", "bad"}) &&
           s.objects->services.at({"shop", "bad"}).error.ok();
  });
  ASSERT_TRUE(fixed.has_value());
  // The broken line stays among the recent problems until the next list.
  EXPECT_THAT(fixed->problems, ElementsAre(HasSubstr("watch stream line 1: invalid JSON")));
}

// A status write comes back as MODIFIED with a new resourceVersion and
// status: the source reports new statuses and the very same objects.
TEST_F(KubeSourceTest, AStatusOnlyModificationKeepsTheObjects) {
  transport_->PushList(kServicesPath, Reply(200, ListBody("5", "", {Service("shop", "web")})));
  transport_->PushList(kSecretsPath, Reply(200, ListBody("6", "", {})));
  Start();
  std::optional<ClusterState> synced = WaitForState([](const ClusterState& s) { return s.synced; });
  ASSERT_TRUE(synced.has_value());
  ASSERT_NE(synced->statuses, nullptr);
  EXPECT_EQ(synced->statuses->at({"shop", "web"}).resource_version, "7");

  std::string written = Service("shop", "web");
  const std::string version = R"("resourceVersion":"7")";
  written.replace(written.find(version), version.size(), R"("resourceVersion":"8")");
  written.insert(written.size() - 1,
                 R"(,"status":{"observedGeneration":1,"conditions":[{"type":"Accepted",)"
                 R"("status":"True","reason":"Accepted","message":"ok","observedGeneration":1,)"
                 R"("lastTransitionTime":"2026-12-03T15:00:00Z"}]})");
  transport_->PushWatch(kServicesPath, HeldWatch({WatchLine("MODIFIED", written)}));
  std::optional<ClusterState> shown = WaitForState([](const ClusterState& s) {
    return s.statuses != nullptr && s.statuses->contains({"shop", "web"}) &&
           s.statuses->at({"shop", "web"}).resource_version == "8";
  });
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(shown->objects, synced->objects) << "a status-only change made new objects";
  ASSERT_EQ(shown->statuses->at({"shop", "web"}).status.conditions.size(), 1u);
  EXPECT_EQ(shown->statuses->at({"shop", "web"}).status.conditions[0].reason, "Accepted");
}

TEST_F(KubeSourceTest, DestructionStopsEverythingPromptly) {
  transport_->PushList(kServicesPath, Reply(200, ListBody("5", "", {})));
  Start();
  ASSERT_TRUE(transport_->WaitForHolding(2, kTimeout));
  const auto before = std::chrono::steady_clock::now();
  source_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(1));
  EXPECT_EQ(transport_->holding(), 0);
}

}  // namespace
}  // namespace propsy::sources
