#pragma once

// Pieces the reflector and Kubernetes source tests share: API objects as
// JSON text, list bodies and watch lines, a recording sink, and injectable
// time and randomness.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "kube/reflector.h"
#include "model/cluster_objects.h"
#include "model/json_fields.h"

namespace propsy::kube::testing {

constexpr char kSlicesPath[] = "/apis/discovery.k8s.io/v1/endpointslices";

// An EndpointSlice of Service "web" in namespace "shop", as a list item
// (no apiVersion/kind).
inline std::string Slice(const std::string& name, const std::string& ip,
                         const std::string& rv = "1") {
  return fmt::format(
      R"({{"metadata":{{"name":"{}","namespace":"shop","resourceVersion":"{}","labels":{{"kubernetes.io/service-name":"web"}}}},"addressType":"IPv4","ports":[{{"name":"http","port":8080}}],"endpoints":[{{"addresses":["{}"]}}]}})",
      name, rv, ip);
}

inline std::string ListBody(const std::string& rv, const std::string& continue_token,
                            const std::vector<std::string>& items) {
  return fmt::format(
      R"({{"kind":"List","apiVersion":"v1","metadata":{{"resourceVersion":"{}","continue":"{}"}},"items":[{}]}})",
      rv, continue_token, fmt::join(items, ","));
}

inline std::string WatchLine(const std::string& type, const std::string& object) {
  return fmt::format(R"({{"type":"{}","object":{}}})", type, object) + "\n";
}

inline std::string BookmarkLine(const std::string& rv) {
  return WatchLine("BOOKMARK", fmt::format(R"({{"metadata":{{"resourceVersion":"{}"}}}})", rv));
}

inline std::string StatusBody(int code, const std::string& reason) {
  return fmt::format(
      R"({{"kind":"Status","apiVersion":"v1","status":"Failure","message":"{} happened","reason":"{}","code":{}}})",
      reason, reason, code);
}

// Applies batches to a real ObjectStore and logs every call.
class RecordingSink : public ObjectSink {
 public:
  std::vector<absl::Status> Apply(const ObjectBatch& batch) override {
    absl::MutexLock lock(&mu_);
    std::vector<absl::Status> statuses;
    for (const rapidjson::Value* object : batch.upserts) {
      std::optional<model::ObjectKey> key = model::ReadObjectKey(*object);
      log_.push_back("upsert " + (key.has_value() ? key->ToString() : "?"));
      statuses.push_back(store_.Upsert(batch.kind, *object));
    }
    for (const model::ObjectKey& key : batch.deletes) {
      log_.push_back("delete " + key.ToString());
      store_.Delete(batch.kind, key);
    }
    return statuses;
  }
  void StateChanged() override { ++state_changes_; }

  std::vector<std::string> log() const {
    absl::MutexLock lock(&mu_);
    return log_;
  }
  size_t log_size() const {
    absl::MutexLock lock(&mu_);
    return log_.size();
  }
  // "name=ip" of every slice with a good version, sorted.
  std::set<std::string> Slices() {
    absl::MutexLock lock(&mu_);
    std::set<std::string> out;
    for (const auto& [service, endpoints] : store_.Snapshot()->endpoints) {
      for (const auto& [name, entry] : endpoints->slices) {
        if (!entry.last_good.has_value()) continue;
        std::string ip = entry.last_good->endpoints.empty()
                             ? ""
                             : entry.last_good->endpoints.front().addresses.front();
        out.insert(name + "=" + ip);
      }
    }
    return out;
  }
  int state_changes() const { return state_changes_.load(); }

 private:
  mutable absl::Mutex mu_;
  model::ObjectStore store_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> state_changes_{0};
};

// Simulated time that moves by itself, so a reflector runs through its
// retries without real waits: every reading of the clock moves it a second
// on, and a wait that would block jumps straight to its deadline, recording
// how long it waited. Random picks by `pick` (default: the top of the range).
class FakeTime final : public Clock {
 public:
  TimePoint Now() const override {
    absl::MutexLock lock(&mu_);
    elapsed_ += std::chrono::seconds(1);
    return TimePoint(kSteadyStart + elapsed_);
  }
  std::chrono::system_clock::time_point WallNow() const override {
    absl::MutexLock lock(&mu_);
    elapsed_ += std::chrono::seconds(1);
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(kWallStart + elapsed_));
  }
  bool AwaitUntil(absl::Mutex& mu, const absl::Condition& condition, TimePoint deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    static_cast<void>(mu);  // held by the caller throughout: nothing waits
    if (condition.Eval()) return true;
    {
      absl::MutexLock lock(&mu_);
      const TimePoint now(kSteadyStart + elapsed_);
      sleeps_.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
      if (deadline > now) elapsed_ = deadline - TimePoint(kSteadyStart);
    }
    return condition.Eval();
  }

  ReflectorHooks Hooks() {
    return ReflectorHooks{
        .random =
            [this](int64_t lo, int64_t hi) {
              absl::MutexLock lock(&mu_);
              ranges_.push_back({lo, hi});
              return pick_ ? pick_(lo, hi) : hi;
            },
    };
  }
  void set_pick(std::function<int64_t(int64_t, int64_t)> pick) {
    absl::MutexLock lock(&mu_);
    pick_ = std::move(pick);
  }
  std::vector<std::chrono::milliseconds> sleeps() const {
    absl::MutexLock lock(&mu_);
    return sleeps_;
  }
  std::vector<std::pair<int64_t, int64_t>> ranges() const {
    absl::MutexLock lock(&mu_);
    return ranges_;
  }

 private:
  static constexpr std::chrono::seconds kSteadyStart{1'000'000};
  static constexpr std::chrono::seconds kWallStart{1'700'000'000};

  mutable absl::Mutex mu_;
  mutable Duration elapsed_ ABSL_GUARDED_BY(mu_){0};
  std::vector<std::chrono::milliseconds> sleeps_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<int64_t, int64_t>> ranges_ ABSL_GUARDED_BY(mu_);
  std::function<int64_t(int64_t, int64_t)> pick_ ABSL_GUARDED_BY(mu_);
};

}  // namespace propsy::kube::testing
