#include "sources/kube_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "kube/list_request.h"
#include "model/json_fields.h"

namespace propsy::sources {
namespace {

constexpr char kDiscoveryPath[] = "/apis/discovery.k8s.io/v1";
// A discovery document is a few KiB; anything far larger is not one.
constexpr size_t kMaxDiscoveryBytes = size_t{16} << 20;

int64_t UnixMillis(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

// "/apis/GROUP/VERSION" + "/namespaces/NS" + "/RESOURCE".
std::string CollectionPath(std::string_view group_version_prefix, std::string_view resource,
                           const std::string& namespace_name) {
  if (namespace_name.empty()) return fmt::format("{}/{}", group_version_prefix, resource);
  return fmt::format("{}/namespaces/{}/{}", group_version_prefix,
                     kube::EncodeQueryValue(namespace_name), resource);
}

}  // namespace

std::vector<KubeCollection> KubeCollections(KubeSourceRole role,
                                            const std::vector<std::string>& namespaces,
                                            bool endpoint_slices, bool legacy_endpoints) {
  std::vector<std::string> scopes;
  std::set<std::string> seen;
  for (const std::string& name : namespaces) {
    if (seen.insert(name).second) scopes.push_back(name);
  }
  // An empty name among them means "every namespace": nothing narrower counts.
  if (scopes.empty() || seen.contains("")) scopes = {""};

  std::vector<KubeCollection> collections;
  for (const std::string& scope : scopes) {
    if (role == KubeSourceRole::kConfig) {
      collections.push_back(
          {.path = CollectionPath("/apis/propsy.seznam.cz/v1", "propsyservices", scope),
           .kind = model::ObjectKind::kProPsyService,
           .field_selector = "",
           .label_selector = ""});
      // Only TLS secrets: ProPsy never holds any other Secret.
      collections.push_back({.path = CollectionPath("/api/v1", "secrets", scope),
                             .kind = model::ObjectKind::kSecret,
                             .field_selector = "type=kubernetes.io/tls",
                             .label_selector = ""});
    } else {
      if (endpoint_slices) {
        // Slices without the service label belong to no Service ProPsy uses.
        collections.push_back(
            {.path = CollectionPath("/apis/discovery.k8s.io/v1", "endpointslices", scope),
             .kind = model::ObjectKind::kEndpointSlice,
             .field_selector = "",
             .label_selector = "kubernetes.io/service-name"});
      }
      // Hand-written Endpoints with no Service are mirrored into slices by
      // no controller: read them too, for the services they alone describe.
      if (!endpoint_slices || legacy_endpoints) {
        collections.push_back({.path = CollectionPath("/api/v1", "endpoints", scope),
                               .kind = model::ObjectKind::kEndpoints,
                               .field_selector = "",
                               .label_selector = ""});
      }
    }
  }
  return collections;
}

KubeSource::KubeSource(std::shared_ptr<kube::HttpTransport> transport, KubeSourceOptions options,
                       Clock& clock)
    : transport_(std::move(transport)),
      options_(std::move(options)),
      clock_(clock),
      fallback_log_(options_.description.empty() ? transport_->Describe() : options_.description) {
  if (!options_.hooks.random) rng_.seed(std::random_device{}());
}

KubeSource::~KubeSource() {
  {
    absl::MutexLock lock(&mu_);  // releasing it wakes the notifier's wait
    stopping_.store(true);
  }
  if (thread_.joinable()) thread_.join();
  // Reflectors call Apply(), which takes mu_: join them without holding it.
  std::vector<std::unique_ptr<kube::Reflector>> reflectors;
  {
    absl::MutexLock lock(&mu_);
    reflectors.swap(reflectors_);
  }
  for (auto& reflector : reflectors) reflector->RequestStop();
  for (auto& reflector : reflectors) reflector->Stop();
}

absl::Status KubeSource::Start(Callback on_change) {
  if (thread_.joinable()) {
    return absl::FailedPreconditionError(fmt::format("{}: already started", Describe()));
  }
  on_change_ = std::move(on_change);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

std::string KubeSource::Describe() const {
  return options_.description.empty() ? transport_->Describe() : options_.description;
}

std::vector<kube::ReflectorStats> KubeSource::Stats() const {
  absl::MutexLock lock(&mu_);
  std::vector<kube::ReflectorStats> stats;
  for (const auto& reflector : reflectors_) stats.push_back(reflector->Stats());
  return stats;
}

Clock::TimePoint KubeSource::MonotonicAt(std::chrono::system_clock::time_point wall) const {
  return clock_.Now() + std::chrono::duration_cast<Clock::Duration>(wall - clock_.WallNow());
}

int64_t KubeSource::Random(int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  if (options_.hooks.random) return std::clamp(options_.hooks.random(lo, hi), lo, hi);
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
}

std::vector<absl::Status> KubeSource::Apply(const kube::ObjectBatch& batch) {
  std::vector<absl::Status> statuses;
  statuses.reserve(batch.upserts.size());
  {
    absl::MutexLock lock(&mu_);
    for (const rapidjson::Value* object : batch.upserts) {
      absl::Status status = store_.Upsert(batch.kind, *object);
      if (std::optional<model::ObjectKey> key = model::ReadObjectKey(*object)) {
        if (status.ok()) {
          object_problems_.erase({batch.kind, *key});
        } else {
          object_problems_[{batch.kind, *key}] =
              fmt::format("{} {}: {}", model::ObjectKindName(batch.kind), key->ToString(),
                          std::string(status.message()));
        }
      }
      statuses.push_back(std::move(status));
    }
    for (const model::ObjectKey& key : batch.deletes) {
      store_.Delete(batch.kind, key);
      object_problems_.erase({batch.kind, key});
    }
    dirty_ = true;
  }
  return statuses;
}

void KubeSource::StateChanged() {
  absl::MutexLock lock(&mu_);
  dirty_ = true;
}

void KubeSource::Run() {
  bool endpoint_slices = true;
  if (options_.role == KubeSourceRole::kEndpoint) {
    std::optional<bool> discovered = DiscoverEndpointSlices();
    if (!discovered.has_value()) return;
    endpoint_slices = *discovered;
  }
  StartReflectors(endpoint_slices);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      dirty_ = false;
    }
    std::optional<std::chrono::system_clock::time_point> next_check = Report();
    // Staleness is judged on the clock's wall time; the wait runs on its
    // monotonic time.
    if (!WaitForChange(next_check.has_value() ? MonotonicAt(*next_check)
                                              : Clock::TimePoint::max())) {
      return;
    }
  }
}

bool KubeSource::WaitForChange(Clock::TimePoint deadline) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return dirty_ || stopping_.load(); };
  clock_.AwaitUntil(mu_, absl::Condition(&ready), deadline);
  return !stopping_.load();
}

std::optional<bool> KubeSource::DiscoverEndpointSlices() {
  std::chrono::milliseconds backoff = options_.reflector.initial_backoff;
  while (!stopping_.load()) {
    const kube::HttpRequest request{
        .method = "GET",
        .path = kDiscoveryPath,
        .headers = {{"Accept", "application/json"}},
        .body = "",
        .timeout = std::chrono::seconds(30),
    };
    absl::StatusOr<kube::HttpResponse> response =
        kube::FetchWhole(*transport_, request, stopping_, kMaxDiscoveryBytes);
    if (stopping_.load()) return std::nullopt;
    std::string error;
    if (!response.ok()) {
      error = fmt::format("GET {}: {}", kDiscoveryPath, std::string(response.status().message()));
    } else if (response->status == 404 || (response->status >= 200 && response->status < 300)) {
      const bool slices = response->status != 404;
      if (!slices) {
        spdlog::info("{}: the cluster has no {}; reading core/v1 Endpoints instead", Describe(),
                     kDiscoveryPath);
      }
      absl::MutexLock lock(&mu_);
      discovery_failing_since_.reset();
      discovery_error_.clear();
      return slices;
    } else {
      error = kube::FailureFromResponse(fmt::format("GET {}", kDiscoveryPath), *response).message;
    }
    spdlog::warn("{}: {}", Describe(), error);
    {
      absl::MutexLock lock(&mu_);
      if (!discovery_failing_since_.has_value()) discovery_failing_since_ = clock_.WallNow();
      discovery_error_ = error;
    }
    const auto delay = std::chrono::milliseconds(Random(0, backoff.count()));
    backoff = std::min(backoff * 2, options_.reflector.max_backoff);
    // Wait out the delay, reporting when staleness flips meanwhile.
    const Clock::TimePoint retry_at = clock_.Now() + delay;
    while (clock_.Now() < retry_at) {
      std::optional<std::chrono::system_clock::time_point> next_check = Report();
      Clock::TimePoint until = retry_at;
      if (next_check.has_value()) until = std::min(until, MonotonicAt(*next_check));
      absl::MutexLock lock(&mu_);
      auto stopped = [this] { return stopping_.load(); };
      if (clock_.AwaitUntil(mu_, absl::Condition(&stopped), until)) return std::nullopt;
    }
  }
  return std::nullopt;
}

void KubeSource::StartReflectors(bool endpoint_slices) {
  std::vector<kube::Reflector*> started;
  kube::ObjectSink& sink = *this;  // the base is private: convert here
  {
    absl::MutexLock lock(&mu_);
    for (const KubeCollection& collection : KubeCollections(
             options_.role, options_.namespaces, endpoint_slices, options_.legacy_endpoints)) {
      kube::ReflectorOptions reflector_options = options_.reflector;
      reflector_options.collection_path = collection.path;
      reflector_options.kind = collection.kind;
      reflector_options.field_selector = collection.field_selector;
      reflector_options.label_selector = collection.label_selector;
      reflectors_.push_back(std::make_unique<kube::Reflector>(
          transport_, std::move(reflector_options), sink, clock_, options_.hooks));
      started.push_back(reflectors_.back().get());
    }
  }
  // Outside the lock: a started reflector at once calls Apply(), which takes it.
  for (kube::Reflector* reflector : started) reflector->Start();
}

std::vector<CollectionCounters> KubeSource::Counters() const {
  std::vector<CollectionCounters> counters;
  for (const kube::ReflectorStats& stats : Stats()) {
    // The resource is the collection path's last segment.
    const std::string resource = stats.collection.substr(stats.collection.rfind('/') + 1);
    auto it = std::find_if(counters.begin(), counters.end(),
                           [&](const CollectionCounters& c) { return c.resource == resource; });
    if (it == counters.end()) {
      counters.push_back(CollectionCounters{.resource = resource});
      it = counters.end() - 1;
    }
    it->lists += stats.lists;
    it->relists += stats.relists;
    it->watches += stats.watches_started;
    it->watch_restarts += stats.watch_restarts;
    it->decode_errors += stats.decode_errors;
  }
  return counters;
}

ClusterState KubeSource::BuildState(
    std::optional<std::chrono::system_clock::time_point>* next_check) {
  absl::MutexLock lock(&mu_);
  ClusterState state;
  state.objects = store_.Snapshot();
  state.statuses = store_.Statuses();
  for (const auto& [key, problem] : object_problems_) state.problems.push_back(problem);

  std::optional<std::chrono::system_clock::time_point> failing_since = discovery_failing_since_;
  if (discovery_failing_since_.has_value() && !discovery_error_.empty()) {
    state.problems.push_back(discovery_error_);
  }
  state.synced = !reflectors_.empty();
  for (const auto& reflector : reflectors_) {
    const kube::ReflectorStats stats = reflector->Stats();
    state.synced = state.synced && stats.synced;
    for (const std::string& problem : stats.recent_decode_errors) {
      state.problems.push_back(fmt::format("{}: {}", stats.collection, problem));
    }
    if (!stats.connected) {
      if (!failing_since.has_value() || stats.disconnected_since < *failing_since) {
        failing_since = stats.disconnected_since;
      }
      if (!stats.last_error.empty()) state.problems.push_back(stats.last_error);
    }
  }
  next_check->reset();
  if (failing_since.has_value()) {
    const auto stale_at = *failing_since + options_.stale_after;
    if (clock_.WallNow() >= stale_at) {
      state.stale = true;
      state.stale_since_unix_ms = UnixMillis(*failing_since);
    } else {
      *next_check = stale_at;
    }
  }
  return state;
}

std::optional<std::chrono::system_clock::time_point> KubeSource::Report() {
  std::optional<std::chrono::system_clock::time_point> next_check;
  ClusterState state = BuildState(&next_check);
  // Nothing worth saying before the initial lists, unless something is wrong.
  if (!reported_ && !state.synced && !state.stale && state.problems.empty()) return next_check;
  if (reported_ && state.objects == last_reported_.objects &&
      state.statuses == last_reported_.statuses && state.synced == last_reported_.synced &&
      state.stale == last_reported_.stale &&
      state.stale_since_unix_ms == last_reported_.stale_since_unix_ms &&
      state.problems == last_reported_.problems) {
    return next_check;
  }
  if (state.stale != last_reported_.stale) {
    if (state.stale) {
      spdlog::warn("{}: unreachable since {} ms ago; keeping the last known objects", Describe(),
                   UnixMillis(clock_.WallNow()) - state.stale_since_unix_ms);
    } else if (reported_) {
      spdlog::info("{}: reachable again", Describe());
    }
  }
  if (state.synced && !last_reported_.synced) spdlog::info("{}: initial lists done", Describe());
  reported_ = true;
  last_reported_ = state;
  fallback_log_.Update(state.objects);
  on_change_(std::move(state));
  return next_check;
}

}  // namespace propsy::sources
