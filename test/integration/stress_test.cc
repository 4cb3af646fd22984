// Stress: hundreds of ADS streams (SotW and delta) connect, ACK, NACK and
// disconnect while the World changes every few milliseconds; then the World
// stops changing and every surviving stream must hold exactly its node's
// newest snapshot, and once all streams close nothing may be left behind.
// Run under ThreadSanitizer in CI, where it is also the race check of the
// hand-off between translation, notifier and streams.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "control/test_worlds.h"
#include "control/world_config_watcher.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "support/wait.h"
#include "xds/node_status.h"
#include "xds/resource_type.h"
#include "xds/server.h"

namespace propsy::xds {
namespace {

using envoy::service::discovery::v3::AggregatedDiscoveryService;
using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using std::chrono::milliseconds;

// gRPC starts a call's callbacks after the call was started, but through
// its own uninstrumented code, which ThreadSanitizer cannot see: the client
// says so itself (the server side needs nothing of the kind).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PROPSY_STRESS_TSAN 1
#endif
#endif
#ifdef PROPSY_STRESS_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
void HappensBefore(void* addr) { __tsan_release(addr); }
void HappensAfter(void* addr) { __tsan_acquire(addr); }
#else
void HappensBefore(void*) {}
void HappensAfter(void*) {}
#endif

constexpr int kServices = 24;
constexpr int kNodes = 100;
constexpr int kStreams = 200;  // open at once while churning
// The churn lasts at least kChurnFor and until the World changed and
// streams opened at least this often (a TSan build on a busy machine needs
// longer for that), within kChurnAtMost.
constexpr milliseconds kChurnFor{4000};
constexpr milliseconds kChurnAtMost{120'000};
constexpr int kMinPublishes = 150;
constexpr int kMinOpened = 3 * kStreams;
constexpr milliseconds kWorldEvery{3};

// The World of generation `generation`: services target groups of nodes
// (so nodes fall into several classes) and one targets every node; each
// generation moves the endpoints of a few services, and every 50th changes
// a definition. `final` changes every type of every node once more.
class WorldMaker {
 public:
  explicit WorldMaker(uint64_t seed) : rng_(seed) {}

  model::WorldPtr Next(bool final = false) {
    ++generation_;
    if (config_ == nullptr || generation_ % 50 == 0 || final) {
      std::vector<model::ProPsyService> services;
      for (int i = 0; i < kServices; ++i) {
        std::vector<std::string> nodes;
        if (i == 0) {
          nodes = {"*"};
        } else {
          for (int n = i % 4; n < kNodes; n += 4) nodes.push_back(fmt::format("node-{}", n));
        }
        model::ProPsyService service = control::testing::Service(
            fmt::format("svc-{}", i), 10000 + i + (final ? 1000 : 0), std::move(nodes));
        // Changes clusters (connect timeout) and routes (timeout).
        service.spec.timeout_ms = static_cast<uint32_t>(1000 + generation_ % 7 + (final ? 100 : 0));
        service.spec.connect_timeout_ms = service.spec.timeout_ms;
        services.push_back(std::move(service));
      }
      config_ = control::testing::ConfigObjects(services);
    }
    auto endpoints = std::make_shared<model::ClusterObjects>();
    if (previous_endpoints_ != nullptr) *endpoints = *previous_endpoints_;
    for (int i = 0; i < kServices; ++i) {
      const std::string name = fmt::format("svc-{}", i);
      if (final || !endpoints->endpoints.contains({"shop", name}) || rng_() % 8 == 0) {
        endpoints->endpoints[{"shop", name}] = control::testing::EndpointsAt(
            name, fmt::format("10.{}.{}.{}", i, (generation_ >> 8) % 256, generation_ % 256));
      }
    }
    previous_endpoints_ = endpoints;
    return control::testing::WorldOf(config_, endpoints);
  }

 private:
  std::mt19937_64 rng_;
  uint64_t generation_ = 0;
  model::ClusterObjectsPtr config_;
  model::ClusterObjectsPtr previous_endpoints_;
};

// What every client reads: whether to NACK now, and where to report.
struct Shared {
  std::atomic<bool> nacking{true};
  std::atomic<int> responses{0};
  std::atomic<int> nacks{0};
};

int ResourceCount(const DiscoveryResponse& response) { return response.resources_size(); }
int ResourceCount(const DeltaDiscoveryResponse& response) { return response.resources_size(); }
int RemovedCount(const DiscoveryResponse&) { return 0; }
int RemovedCount(const DeltaDiscoveryResponse& response) {
  return response.removed_resources_size();
}

// One ADS client on gRPC's callback API, SotW or delta: subscribes to every
// cluster and listener and to the load assignment of every cluster it was
// given, ACKs (or NACKs, at random while Shared::nacking) each response,
// and cancels itself after `max_responses` responses (0: never).
template <bool kDelta>
class StressClient final
    : public grpc::ClientBidiReactor<
          std::conditional_t<kDelta, DeltaDiscoveryRequest, DiscoveryRequest>,
          std::conditional_t<kDelta, DeltaDiscoveryResponse, DiscoveryResponse>> {
 public:
  using Request = std::conditional_t<kDelta, DeltaDiscoveryRequest, DiscoveryRequest>;
  using Response = std::conditional_t<kDelta, DeltaDiscoveryResponse, DiscoveryResponse>;

  StressClient(AggregatedDiscoveryService::Stub& stub, std::string node, uint64_t seed,
               int max_responses, Shared& shared)
      : stub_(stub),
        node_(std::move(node)),
        rng_(seed),
        max_responses_(max_responses),
        shared_(shared) {}

  void Start() {
    if constexpr (kDelta) {
      stub_.async()->DeltaAggregatedResources(&context_, this);
    } else {
      stub_.async()->StreamAggregatedResources(&context_, this);
    }
    this->StartRead(&response_);
    Request clusters;
    clusters.mutable_node()->set_id(node_);
    clusters.set_type_url(std::string(TypeUrl(ResourceType::kCluster)));
    Send(std::move(clusters));
    Request listeners;
    listeners.set_type_url(std::string(TypeUrl(ResourceType::kListener)));
    Send(std::move(listeners));
    HappensBefore(this);
    this->StartCall();
  }

  void Cancel() { context_.TryCancel(); }

  bool done() const {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  const std::string& node() const { return node_; }

  // What the client holds now: per type, name -> version (delta) or the
  // ACKed set version under the name "" (SotW), and its EDS subscription.
  struct View {
    std::map<ResourceType, std::map<std::string, std::string>> held;
    std::set<std::string> endpoint_names;
    int responses = 0;
    int nacks = 0;
    std::string history;
  };
  View view() const {
    absl::MutexLock lock(&mu_);
    return View{.held = held_,
                .endpoint_names = endpoint_names_,
                .responses = responses_seen_,
                .nacks = nacks_sent_,
                .history = history_};
  }

 private:
  void OnReadDone(bool ok) override {
    HappensAfter(this);
    if (!ok) return;  // OnDone follows
    Handle(response_);
    response_ = Response();
    ++shared_.responses;
    if (max_responses_ > 0 && ++responses_ >= max_responses_) {
      context_.TryCancel();
      return;
    }
    this->StartRead(&response_);
  }

  void Handle(const Response& response) {
    const std::optional<ResourceType> type = ResourceTypeFromUrl(response.type_url());
    if (!type.has_value()) return;
    const bool nack = shared_.nacking.load() && rng_() % 10 == 0;
    Request answer;
    answer.set_type_url(response.type_url());
    answer.set_response_nonce(response.nonce());
    if (nack) {
      ++shared_.nacks;
      answer.mutable_error_detail()->set_code(3);
      answer.mutable_error_detail()->set_message("stress: rejected at random");
    }
    std::optional<std::set<std::string>> new_endpoint_names;
    {
      absl::MutexLock lock(&mu_);
      ++responses_seen_;
      if (nack) ++nacks_sent_;
      history_ += fmt::format(" {}{}({}+{}-)", ShortName(*type), nack ? "!" : "",
                              ResourceCount(response), RemovedCount(response));
      if constexpr (kDelta) {
        if (!nack) {
          auto& held = held_[*type];
          for (const auto& resource : response.resources()) {
            held[resource.name()] = resource.version();
          }
          for (const std::string& name : response.removed_resources()) held.erase(name);
          if (*type == ResourceType::kCluster) {
            std::set<std::string> names;
            for (const auto& [name, version] : held) names.insert(name);
            new_endpoint_names = std::move(names);
          }
        }
      } else {
        std::string& acked = held_[*type][""];
        if (!nack) acked = response.version_info();
        answer.set_version_info(acked);
        if (*type == ResourceType::kEndpoint) {
          for (const std::string& name : endpoint_names_) answer.add_resource_names(name);
        }
        if (!nack && *type == ResourceType::kCluster) {
          std::set<std::string> names;
          for (const auto& any : response.resources()) {
            envoy::config::cluster::v3::Cluster cluster;
            if (any.UnpackTo(&cluster)) names.insert(cluster.name());
          }
          new_endpoint_names = std::move(names);
        }
      }
    }
    Send(std::move(answer));
    if (new_endpoint_names.has_value()) Subscribe(std::move(*new_endpoint_names));
  }

  // Points the EDS subscription at `names`, as Envoy does after CDS.
  void Subscribe(std::set<std::string> names) {
    Request request;
    request.set_type_url(std::string(TypeUrl(ResourceType::kEndpoint)));
    {
      absl::MutexLock lock(&mu_);
      if (names == endpoint_names_) return;
      if constexpr (kDelta) {
        for (const std::string& name : names) {
          if (!endpoint_names_.contains(name)) request.add_resource_names_subscribe(name);
        }
        for (const std::string& name : endpoint_names_) {
          if (!names.contains(name)) {
            request.add_resource_names_unsubscribe(name);
            held_[ResourceType::kEndpoint].erase(name);
          }
        }
      } else {
        for (const std::string& name : names) request.add_resource_names(name);
        request.set_version_info(held_[ResourceType::kEndpoint][""]);
      }
      endpoint_names_ = std::move(names);
    }
    Send(std::move(request));
  }

  // One write at a time (the callback API's rule); the rest queue.
  void Send(Request request) {
    {
      absl::MutexLock lock(&mu_);
      if (writing_) {
        queue_.push_back(std::move(request));
        return;
      }
      writing_ = true;
      write_ = std::move(request);
    }
    this->StartWrite(&write_);
  }

  void OnWriteDone(bool ok) override {
    HappensAfter(this);
    {
      absl::MutexLock lock(&mu_);
      if (!ok || queue_.empty()) {
        writing_ = false;
        return;
      }
      write_ = std::move(queue_.front());
      queue_.pop_front();
    }
    this->StartWrite(&write_);
  }

  void OnDone(const grpc::Status&) override {
    HappensAfter(this);
    absl::MutexLock lock(&mu_);
    done_ = true;
  }

  AggregatedDiscoveryService::Stub& stub_;
  const std::string node_;
  std::mt19937_64 rng_;  // read path only
  const int max_responses_;
  int responses_ = 0;  // read path only
  Shared& shared_;
  grpc::ClientContext context_;
  Response response_;
  Request write_;  // the write in flight, owned by it while writing_

  mutable absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Request> queue_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::map<ResourceType, std::map<std::string, std::string>> held_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> endpoint_names_ ABSL_GUARDED_BY(mu_);
  int responses_seen_ ABSL_GUARDED_BY(mu_) = 0;
  int nacks_sent_ ABSL_GUARDED_BY(mu_) = 0;
  std::string history_ ABSL_GUARDED_BY(mu_);  // for failure messages
};

// Either kind of client behind one face.
class AnyClient {
 public:
  AnyClient(bool delta, AggregatedDiscoveryService::Stub& stub, std::string node, uint64_t seed,
            int max_responses, Shared& shared) {
    if (delta) {
      delta_ =
          std::make_unique<StressClient<true>>(stub, std::move(node), seed, max_responses, shared);
      delta_->Start();
    } else {
      sotw_ =
          std::make_unique<StressClient<false>>(stub, std::move(node), seed, max_responses, shared);
      sotw_->Start();
    }
  }
  bool done() const { return delta_ ? delta_->done() : sotw_->done(); }
  void Cancel() { delta_ ? delta_->Cancel() : sotw_->Cancel(); }

  // Whether the client holds exactly `snapshot`; `why` says what differs.
  bool Holds(const SnapshotPtr& snapshot, std::string* why) const {
    if (snapshot == nullptr) {
      *why = "no snapshot";
      return false;
    }
    const std::string& node = delta_ ? delta_->node() : sotw_->node();
    std::set<std::string> all_endpoints;
    for (const auto& [name, resource] : snapshot->Of(ResourceType::kEndpoint).by_name) {
      all_endpoints.insert(name);
    }
    if (delta_) {
      StressClient<true>::View view = delta_->view();
      for (ResourceType type :
           {ResourceType::kCluster, ResourceType::kEndpoint, ResourceType::kListener}) {
        std::map<std::string, std::string> expected;
        for (const auto& [name, resource] : snapshot->Of(type).by_name) {
          expected[name] = resource->version;
        }
        if (view.held[type] != expected) {
          *why =
              fmt::format("delta {} holds {} {}, the snapshot has {} ({} responses, {} NACKed:{})",
                          node, view.held[type].size(), ShortName(type), expected.size(),
                          view.responses, view.nacks, view.history);
          return false;
        }
      }
      if (view.endpoint_names != all_endpoints) {
        *why = fmt::format("delta {} subscribes to {} of {} load assignments", node,
                           view.endpoint_names.size(), all_endpoints.size());
        return false;
      }
      return true;
    }
    StressClient<false>::View view = sotw_->view();
    for (ResourceType type :
         {ResourceType::kCluster, ResourceType::kEndpoint, ResourceType::kListener}) {
      if (view.held[type][""] != snapshot->Of(type).version) {
        *why = fmt::format(
            "sotw {} ACKed {} version {}, the snapshot's is {} ({} responses, {} "
            "NACKed)",
            node, ShortName(type), view.held[type][""], snapshot->Of(type).version, view.responses,
            view.nacks);
        return false;
      }
    }
    if (view.endpoint_names != all_endpoints) {
      *why = fmt::format("sotw {} subscribes to {} of {} load assignments", node,
                         view.endpoint_names.size(), all_endpoints.size());
      return false;
    }
    return true;
  }
  NodeInfo Node() const {
    return NodeInfo{.id = delta_ ? delta_->node() : sotw_->node(), .zone = "", .uses_ads = true};
  }

 private:
  std::unique_ptr<StressClient<true>> delta_;
  std::unique_ptr<StressClient<false>> sotw_;
};

TEST(XdsStressTest, StreamsChurnWhileTheWorldChangesThenConvergeAndLeaveNothingBehind) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE(fmt::format("seed {}", seed));
  spdlog::set_level(spdlog::level::err);  // thousands of NACK warnings otherwise
  std::mt19937_64 rng(seed);

  RealClock clock;
  control::WorldConfigWatcher watcher(
      translate::TranslateOptions{.default_zone = "a", .xds_cluster_name = "xds_cluster"});
  NodeStatusRegistry registry(clock);
  XdsServerOptions options;
  options.listen_address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<XdsServer>> server =
      XdsServer::Start(options, watcher, registry, clock);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel(fmt::format("127.0.0.1:{}", (*server)->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = AggregatedDiscoveryService::NewStub(channel);

  // The controller's part: a new World every few milliseconds.
  WorldMaker worlds(seed);
  std::atomic<bool> churning{true};
  std::atomic<int> publishes{0};
  std::thread controller([&] {
    while (churning.load()) {
      watcher.Publish(worlds.Next());
      ++publishes;
      std::this_thread::sleep_for(kWorldEvery);
    }
  });

  Shared shared;
  std::vector<std::unique_ptr<AnyClient>> clients;
  std::vector<std::unique_ptr<AnyClient>> finished;
  int opened = 0;
  auto open_client = [&](bool churn) {
    const int max_responses = churn ? 1 + static_cast<int>(rng() % 30) : 0;
    clients.push_back(std::make_unique<AnyClient>(rng() % 2 == 0, *stub,
                                                  fmt::format("node-{}", rng() % kNodes), rng(),
                                                  max_responses, shared));
    ++opened;
  };
  // Churn: keep kStreams open; most end themselves after a few responses,
  // some are cancelled from here at random, and new ones replace them.
  const auto churn_start = std::chrono::steady_clock::now();
  auto churning_needed = [&] {
    const auto elapsed = std::chrono::steady_clock::now() - churn_start;
    if (elapsed >= kChurnAtMost) return false;
    return elapsed < kChurnFor || publishes.load() < kMinPublishes || opened < kMinOpened;
  };
  while (churning_needed()) {
    while (clients.size() < kStreams) open_client(true);
    for (auto& client : clients) {
      if (rng() % 200 == 0) client->Cancel();
    }
    for (auto it = clients.begin(); it != clients.end();) {
      if ((*it)->done()) {
        finished.push_back(std::move(*it));
        it = clients.erase(it);
      } else {
        ++it;
      }
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  // Streams that stay until the end, opened while the World still changes.
  std::vector<std::unique_ptr<AnyClient>> survivors;
  for (int i = 0; i < 40; ++i) {
    open_client(false);
    survivors.push_back(std::move(clients.back()));
    clients.pop_back();
  }
  std::this_thread::sleep_for(milliseconds(200));
  churning = false;
  controller.join();
  for (auto& client : clients) client->Cancel();

  // The World settles; NACKs stop; every type of every node changes once
  // more, so a stream that NACKed its last version gets a new one.
  shared.nacking = false;
  watcher.Publish(worlds.Next(/*final=*/true));
  std::string why;
  const bool converged = test::WaitFor(
      [&] {
        for (const auto& client : survivors) {
          if (client->done()) {
            why = "a surviving stream ended";
            return false;
          }
          if (!client->Holds(watcher.Fetch(client->Node()), &why)) return false;
        }
        return true;
      },
      milliseconds(60'000), milliseconds(20));
  EXPECT_TRUE(converged) << why;
  fmt::print("stress: {} streams opened, {} publishes, {} responses, {} NACKs\n", opened,
             publishes.load(), shared.responses.load(), shared.nacks.load());
  EXPECT_GE(publishes.load(), kMinPublishes);
  EXPECT_GT(shared.nacks.load(), 0);
  EXPECT_GE(opened, kMinOpened);

  // Nothing left behind once every stream is gone.
  for (auto& client : survivors) client->Cancel();
  const bool closed = test::WaitFor(
      [&] {
        for (const auto& group : {&clients, &finished, &survivors}) {
          for (const auto& client : *group) {
            if (!client->done()) return false;
          }
        }
        return registry.ConnectedStreams() == 0 && watcher.watch_count() == 0 &&
               (*server)->write_budget().stats().bytes_in_flight == 0 &&
               (*server)->write_budget().stats().waiting == 0;
      },
      milliseconds(30'000), milliseconds(20));
  EXPECT_TRUE(closed) << registry.ConnectedStreams() << " streams, " << watcher.watch_count()
                      << " watches, " << (*server)->write_budget().stats().bytes_in_flight
                      << " bytes in flight";
  spdlog::set_level(spdlog::level::info);
}

}  // namespace
}  // namespace propsy::xds
