#include "admin/metrics.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace propsy::admin {

void Counter::Increment(double amount) {
  if (!(amount >= 0)) return;  // also drops NaN: a counter never goes down
  value_.fetch_add(amount, std::memory_order_relaxed);
}

void Gauge::Increment(double amount) { value_.fetch_add(amount, std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_([&bounds] {
        // Ascending, unique, finite: +Inf is always the implicit last bucket.
        std::erase_if(bounds, [](double b) { return !std::isfinite(b); });
        std::sort(bounds.begin(), bounds.end());
        bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
        return bounds;
      }()),
      counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  // The first bucket whose upper bound is >= value (le is inclusive).
  size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t running = 0;
  for (uint64_t count : counts_) {
    running += count;
    snapshot.cumulative_counts.push_back(running);
  }
  snapshot.sum = sum_;
  snapshot.count = running;
  return snapshot;
}

template <typename Metric>
Metric& Family<Metric>::WithLabels(LabelValues values) {
  values.resize(label_names_.size());
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Metric>& metric = series_[std::move(values)];
  if (!metric) metric = factory_();
  return *metric;
}

template <typename Metric>
void Family<Metric>::ForEach(
    const std::function<void(const LabelValues&, const Metric&)>& fn) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [labels, metric] : series_) fn(labels, *metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);  // shortest text that reads back exactly
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

namespace {

// `{a="x",b="y"}`, with an extra trailing label (histogram `le`) if given;
// empty when there are no labels at all.
std::string LabelText(const std::vector<std::string>& names, const LabelValues& values,
                      const std::string& extra_name = "", const std::string& extra_value = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", names[i],
                       EscapeLabelValue(i < values.size() ? values[i] : ""));
  }
  if (!extra_name.empty()) {
    out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", extra_name,
                       EscapeLabelValue(extra_value));
  }
  return out.empty() ? out : "{" + out + "}";
}

}  // namespace

struct Registry::Entry {
  enum class Type { kCounter, kGauge, kHistogram, kCollector };
  Type type;
  std::string help;
  std::unique_ptr<Family<Counter>> counter;
  std::unique_ptr<Family<Gauge>> gauge;
  std::unique_ptr<Family<Histogram>> histogram;
  std::vector<std::string> collector_labels;
  Collector collect;

  const char* TypeName() const {
    switch (type) {
      case Type::kCounter:
        return "counter";
      case Type::kHistogram:
        return "histogram";
      case Type::kGauge:
      case Type::kCollector:
        break;
    }
    return "gauge";
  }

  void Render(const std::string& name, std::string& out) const {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(help), name, TypeName());
    switch (type) {
      case Type::kCounter:
        counter->ForEach([&](const LabelValues& labels, const Counter& metric) {
          out += fmt::format("{}{} {}\n", name, LabelText(counter->label_names(), labels),
                             FormatSampleValue(metric.Value()));
        });
        break;
      case Type::kGauge:
        gauge->ForEach([&](const LabelValues& labels, const Gauge& metric) {
          out += fmt::format("{}{} {}\n", name, LabelText(gauge->label_names(), labels),
                             FormatSampleValue(metric.Value()));
        });
        break;
      case Type::kHistogram:
        histogram->ForEach([&](const LabelValues& labels, const Histogram& metric) {
          const std::vector<std::string>& names = histogram->label_names();
          Histogram::Snapshot snapshot = metric.Take();
          for (size_t i = 0; i < snapshot.cumulative_counts.size(); ++i) {
            std::string le =
                i < snapshot.bounds.size() ? FormatSampleValue(snapshot.bounds[i]) : "+Inf";
            out += fmt::format("{}_bucket{} {}\n", name, LabelText(names, labels, "le", le),
                               snapshot.cumulative_counts[i]);
          }
          out += fmt::format("{}_sum{} {}\n", name, LabelText(names, labels),
                             FormatSampleValue(snapshot.sum));
          out += fmt::format("{}_count{} {}\n", name, LabelText(names, labels), snapshot.count);
        });
        break;
      case Type::kCollector: {
        std::vector<GaugeSample> samples = collect();
        std::sort(samples.begin(), samples.end(),
                  [](const GaugeSample& a, const GaugeSample& b) { return a.labels < b.labels; });
        for (const GaugeSample& sample : samples) {
          out += fmt::format("{}{} {}\n", name, LabelText(collector_labels, sample.labels),
                             FormatSampleValue(sample.value));
        }
        break;
      }
    }
  }
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Entry* Registry::Register(const std::string& name, std::unique_ptr<Entry> entry) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = entries_.try_emplace(name, nullptr);
  if (inserted) {
    it->second = std::move(entry);
    return it->second.get();
  }
  if (it->second->type == entry->type && entry->type != Entry::Type::kCollector) {
    return it->second.get();
  }
  spdlog::error("metrics: {} is already registered as a {}; the new {} is not exported", name,
                it->second->TypeName(), entry->TypeName());
  orphans_.push_back(std::move(entry));
  return orphans_.back().get();
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  auto entry = std::make_unique<Entry>();
  entry->type = Entry::Type::kCounter;
  entry->help = help;
  const bool unlabelled = label_names.empty();
  entry->counter = std::make_unique<Family<Counter>>(std::move(label_names),
                                                     [] { return std::make_unique<Counter>(); });
  // A series without labels exists from the start, so it is exported as 0.
  if (unlabelled) entry->counter->Get();
  return *Register(name, std::move(entry))->counter;
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  auto entry = std::make_unique<Entry>();
  entry->type = Entry::Type::kGauge;
  entry->help = help;
  const bool unlabelled = label_names.empty();
  entry->gauge = std::make_unique<Family<Gauge>>(std::move(label_names),
                                                 [] { return std::make_unique<Gauge>(); });
  if (unlabelled) entry->gauge->Get();
  return *Register(name, std::move(entry))->gauge;
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bucket_bounds) {
  auto entry = std::make_unique<Entry>();
  entry->type = Entry::Type::kHistogram;
  entry->help = help;
  const bool unlabelled = label_names.empty();
  entry->histogram = std::make_unique<Family<Histogram>>(
      std::move(label_names),
      [bounds = std::move(bucket_bounds)] { return std::make_unique<Histogram>(bounds); });
  if (unlabelled) entry->histogram->Get();
  return *Register(name, std::move(entry))->histogram;
}

void Registry::AddCollector(const std::string& name, const std::string& help,
                            std::vector<std::string> label_names, Collector collect) {
  auto entry = std::make_unique<Entry>();
  entry->type = Entry::Type::kCollector;
  entry->help = help;
  entry->collector_labels = std::move(label_names);
  entry->collect = std::move(collect);
  Register(name, std::move(entry));
}

std::string Registry::Exposition() const {
  // Entries are never removed, so the pointers outlive the lock; rendering
  // without it lets collectors take their own locks (or even register).
  std::vector<std::pair<std::string, const Entry*>> entries;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, entry] : entries_) entries.emplace_back(name, entry.get());
  }
  std::string out;
  for (const auto& [name, entry] : entries) entry->Render(name, out);
  return out;
}

}  // namespace propsy::admin
