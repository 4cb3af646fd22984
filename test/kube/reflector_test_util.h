#pragma once

// Pieces the reflector and Kubernetes source tests share: API objects as
// JSON text, list bodies and watch lines, a recording sink, and injectable
// time and randomness.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

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
    std::lock_guard lock(mu_);
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
    std::lock_guard lock(mu_);
    return log_;
  }
  size_t log_size() const {
    std::lock_guard lock(mu_);
    return log_.size();
  }
  // "name=ip" of every slice with a good version, sorted.
  std::set<std::string> Slices() {
    std::lock_guard lock(mu_);
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
  mutable std::mutex mu_;
  model::ObjectStore store_;
  std::vector<std::string> log_;
  std::atomic<int> state_changes_{0};
};

// Records sleeps instead of sleeping; random picks by `pick` (default: the
// top of the range); the clock advances a second per reading.
class FakeTime {
 public:
  ReflectorHooks Hooks() {
    return ReflectorHooks{
        .sleep =
            [this](std::chrono::milliseconds delay) {
              std::lock_guard lock(mu_);
              sleeps_.push_back(delay);
            },
        .random =
            [this](int64_t lo, int64_t hi) {
              std::lock_guard lock(mu_);
              ranges_.push_back({lo, hi});
              return pick_ ? pick_(lo, hi) : hi;
            },
        .now =
            [this] {
              std::lock_guard lock(mu_);
              now_ += std::chrono::seconds(1);
              return now_;
            },
    };
  }
  void set_pick(std::function<int64_t(int64_t, int64_t)> pick) {
    std::lock_guard lock(mu_);
    pick_ = std::move(pick);
  }
  std::vector<std::chrono::milliseconds> sleeps() const {
    std::lock_guard lock(mu_);
    return sleeps_;
  }
  std::vector<std::pair<int64_t, int64_t>> ranges() const {
    std::lock_guard lock(mu_);
    return ranges_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::chrono::milliseconds> sleeps_;
  std::vector<std::pair<int64_t, int64_t>> ranges_;
  std::function<int64_t(int64_t, int64_t)> pick_;
  std::chrono::system_clock::time_point now_{std::chrono::seconds(1700000000)};
};

}  // namespace propsy::kube::testing
