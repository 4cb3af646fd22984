#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace propsy::metrics {

// A small Prometheus registry: counters, gauges and histograms with labels,
// plus collectors for values owned elsewhere, rendered in the text
// exposition format 0.0.4.
//
// There is no global registry: the program owns one and hands it to the
// components, which define their metrics beside themselves (each folder has
// a `*_metrics.h`). Everything here is thread-safe. A metric returned by
// Family::WithLabels lives as long as the registry and is cheap to update
// (atomics; a histogram takes a short lock).
//
// Prometheus' conventions are checked when a family is registered, as
// `promtool check metrics` would: names and label names are snake_case
// identifiers, counters end in `_total` and nothing else does, `le` is a
// label only histograms set, help is not empty. A family that breaks them
// is not exported; the reason is logged and kept in Problems().

enum class MetricType { kCounter, kGauge, kHistogram };

// A monotonically increasing value.
class Counter {
 public:
  void Increment(double amount = 1);  // amount >= 0; negative amounts are ignored
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Increment(double amount = 1);
  void Decrement(double amount = 1) { Increment(-amount); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (upper bounds, ascending; +Inf is
// implicit), with their sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Take() const;

 private:
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> counts_ ABSL_GUARDED_BY(mu_);  // per bucket, not cumulative
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
};

// Label values in the order of the family's label names.
using LabelValues = std::vector<std::string>;

// All series of one metric name. Series are created on first use and never
// removed, so the returned references stay valid.
template <typename Metric>
class Family {
 public:
  using Factory = std::function<std::unique_ptr<Metric>()>;
  Family(std::vector<std::string> label_names, Factory factory)
      : label_names_(std::move(label_names)), factory_(std::move(factory)) {}

  // The series with these label values. Missing values count as "", extra
  // values are dropped: a programming error must not take the process down.
  Metric& WithLabels(LabelValues values);
  // The series without labels (for families without label names).
  Metric& Get() { return WithLabels({}); }

  const std::vector<std::string>& label_names() const { return label_names_; }
  // Calls `fn` for every series, in label order, under the family's lock.
  void ForEach(const std::function<void(const LabelValues&, const Metric&)>& fn) const;

 private:
  const std::vector<std::string> label_names_;
  const Factory factory_;
  mutable absl::Mutex mu_;
  std::map<LabelValues, std::unique_ptr<Metric>> series_ ABSL_GUARDED_BY(mu_);
};

// One sample a collector reports at scrape time.
struct Sample {
  LabelValues labels;
  double value = 0;
};
using Collector = std::function<std::vector<Sample>()>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family. Registering a name again with the same type (and
  // labels) returns the existing family. A family that clashes with a
  // registered one, or breaks the conventions above, works but is not
  // exported.
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bucket_bounds);

  // A family whose samples come from `collect`, called at every scrape
  // (without any registry lock held), for values owned elsewhere (a
  // component's own totals). `collect` and what it reads must outlive every
  // scrape: stop the admin server before destroying them. A counter
  // collector must report values that never go down.
  void AddCounterCollector(const std::string& name, const std::string& help,
                           std::vector<std::string> label_names, Collector collect);
  void AddGaugeCollector(const std::string& name, const std::string& help,
                         std::vector<std::string> label_names, Collector collect);

  // Every exported family, sorted by name, in the Prometheus text format
  // 0.0.4.
  std::string Exposition() const;

  // Why families were refused (convention or clash), one line each.
  std::vector<std::string> Problems() const;

 private:
  struct Entry;
  Entry* Register(const std::string& name, std::unique_ptr<Entry> entry);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  // Families that were refused: kept alive for their callers, not exported.
  std::vector<std::unique_ptr<Entry>> refused_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> problems_ ABSL_GUARDED_BY(mu_);
};

// Whether a family of `type` named `name` with `label_names` follows
// Prometheus' conventions; the error names what is wrong.
absl::Status CheckConventions(std::string_view name, MetricType type,
                              const std::vector<std::string>& label_names, std::string_view help);

// Text helpers of the exposition format, exposed for tests.
std::string EscapeLabelValue(const std::string& value);
std::string EscapeHelp(const std::string& help);
std::string FormatSampleValue(double value);

// Buckets Prometheus clients use by default (seconds): 5 ms .. 10 s.
std::vector<double> DefaultLatencyBuckets();

}  // namespace propsy::metrics
