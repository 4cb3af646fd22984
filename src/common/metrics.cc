#include "common/metrics.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

namespace propsy::metrics {

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
  absl::MutexLock lock(&mu_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  absl::MutexLock lock(&mu_);
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
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Metric>& metric = series_[std::move(values)];
  if (!metric) metric = factory_();
  return *metric;
}

template <typename Metric>
void Family<Metric>::ForEach(
    const std::function<void(const LabelValues&, const Metric&)>& fn) const {
  absl::MutexLock lock(&mu_);
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

bool IsSnakeCaseIdentifier(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// "_" + word + "_" inside, or "_" + word at the end of `name`.
bool HasWord(std::string_view name, std::string_view word) {
  const std::string inner = fmt::format("_{}_", word);
  const std::string last = fmt::format("_{}", word);
  return name.find(inner) != std::string_view::npos || name.ends_with(last) ||
         name.starts_with(fmt::format("{}_", word));
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kGauge:
      break;
  }
  return "gauge";
}

}  // namespace

absl::Status CheckConventions(std::string_view name, MetricType type,
                              const std::vector<std::string>& label_names, std::string_view help) {
  auto refuse = [name](std::string_view why) {
    return absl::InvalidArgumentError(fmt::format("metric {}: {}", name, why));
  };
  // Lower case only: promtool calls anything else camelCase, and ':' is
  // reserved for recording rules.
  if (!IsSnakeCaseIdentifier(name)) return refuse("the name must match [a-z_][a-z0-9_]*");
  if (help.empty()) return refuse("no help text");
  const bool total = name.ends_with("_total");
  if (type == MetricType::kCounter && !total) return refuse("a counter's name ends in _total");
  if (type != MetricType::kCounter && total) {
    return refuse("only counters end in _total");
  }
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.ends_with(suffix)) {
      return refuse(fmt::format("{} is a suffix of histogram series", suffix));
    }
  }
  for (std::string_view type_word : {"counter", "gauge", "histogram", "summary"}) {
    if (HasWord(name, type_word)) {
      return refuse(fmt::format("the type ({}) does not belong in the name", type_word));
    }
  }
  // Base units in the name (seconds, bytes), never abbreviated or scaled.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 14> kUnits = {{
      {"ms", "seconds"},
      {"us", "seconds"},
      {"ns", "seconds"},
      {"sec", "seconds"},
      {"secs", "seconds"},
      {"milliseconds", "seconds"},
      {"microseconds", "seconds"},
      {"nanoseconds", "seconds"},
      {"minutes", "seconds"},
      {"hours", "seconds"},
      {"kb", "bytes"},
      {"kilobytes", "bytes"},
      {"mb", "bytes"},
      {"megabytes", "bytes"},
  }};
  for (const auto& [unit, base] : kUnits) {
    if (HasWord(name, unit)) return refuse(fmt::format("use the base unit {}, not {}", base, unit));
  }
  std::set<std::string_view> seen;
  for (const std::string& label : label_names) {
    if (!IsSnakeCaseIdentifier(label) || label.starts_with("__")) {
      return refuse(
          fmt::format("label \"{}\" must match [a-z_][a-z0-9_]* and not start with __", label));
    }
    if (label == "le" || label == "quantile") {
      return refuse(fmt::format("label \"{}\" is reserved for histograms and summaries", label));
    }
    if (!seen.insert(label).second) return refuse(fmt::format("label \"{}\" twice", label));
  }
  return absl::OkStatus();
}

struct Registry::Entry {
  MetricType type = MetricType::kGauge;
  std::string help;
  std::vector<std::string> label_names;
  std::unique_ptr<Family<Counter>> counter;
  std::unique_ptr<Family<Gauge>> gauge;
  std::unique_ptr<Family<Histogram>> histogram;
  Collector collect;  // set for collector families (counter or gauge)

  // Another registration of the same name may share this family.
  bool SameShapeAs(const Entry& other) const {
    return type == other.type && label_names == other.label_names && !collect && !other.collect;
  }

  void RenderSample(const std::string& name, const LabelValues& labels, double value,
                    std::string& out) const {
    out += fmt::format("{}{} {}\n", name, LabelText(label_names, labels), FormatSampleValue(value));
  }

  void Render(const std::string& name, std::string& out) const {
    out +=
        fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(help), name, TypeName(type));
    if (collect) {
      std::vector<Sample> samples = collect();
      std::sort(samples.begin(), samples.end(),
                [](const Sample& a, const Sample& b) { return a.labels < b.labels; });
      for (Sample& sample : samples) {
        sample.labels.resize(label_names.size());
        RenderSample(name, sample.labels, sample.value, out);
      }
      return;
    }
    switch (type) {
      case MetricType::kCounter:
        counter->ForEach([&](const LabelValues& labels, const Counter& metric) {
          RenderSample(name, labels, metric.Value(), out);
        });
        break;
      case MetricType::kGauge:
        gauge->ForEach([&](const LabelValues& labels, const Gauge& metric) {
          RenderSample(name, labels, metric.Value(), out);
        });
        break;
      case MetricType::kHistogram:
        histogram->ForEach([&](const LabelValues& labels, const Histogram& metric) {
          Histogram::Snapshot snapshot = metric.Take();
          for (size_t i = 0; i < snapshot.cumulative_counts.size(); ++i) {
            std::string le =
                i < snapshot.bounds.size() ? FormatSampleValue(snapshot.bounds[i]) : "+Inf";
            out += fmt::format("{}_bucket{} {}\n", name, LabelText(label_names, labels, "le", le),
                               snapshot.cumulative_counts[i]);
          }
          out += fmt::format("{}_sum{} {}\n", name, LabelText(label_names, labels),
                             FormatSampleValue(snapshot.sum));
          out +=
              fmt::format("{}_count{} {}\n", name, LabelText(label_names, labels), snapshot.count);
        });
        break;
    }
  }
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Entry* Registry::Register(const std::string& name, std::unique_ptr<Entry> entry) {
  absl::Status conventions = CheckConventions(name, entry->type, entry->label_names, entry->help);
  absl::MutexLock lock(&mu_);
  std::string problem;
  if (!conventions.ok()) {
    problem = fmt::format("{}; not exported", std::string(conventions.message()));
  } else {
    auto [it, inserted] = entries_.try_emplace(name, nullptr);
    if (inserted) {
      it->second = std::move(entry);
      return it->second.get();
    }
    if (it->second->SameShapeAs(*entry)) return it->second.get();
    problem = fmt::format(
        "metric {} is already registered as a {} with labels [{}]; the new one "
        "is not exported",
        name, TypeName(it->second->type), fmt::join(it->second->label_names, ","));
  }
  spdlog::error("{}", problem);
  problems_.push_back(std::move(problem));
  refused_.push_back(std::move(entry));
  return refused_.back().get();
}

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  auto entry = std::make_unique<Entry>();
  entry->type = MetricType::kCounter;
  entry->help = help;
  entry->label_names = label_names;
  entry->counter = std::make_unique<Family<Counter>>(std::move(label_names),
                                                     [] { return std::make_unique<Counter>(); });
  // A series without labels exists from the start, so it is exported as 0.
  if (entry->label_names.empty()) entry->counter->Get();
  return *Register(name, std::move(entry))->counter;
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  auto entry = std::make_unique<Entry>();
  entry->type = MetricType::kGauge;
  entry->help = help;
  entry->label_names = label_names;
  entry->gauge = std::make_unique<Family<Gauge>>(std::move(label_names),
                                                 [] { return std::make_unique<Gauge>(); });
  if (entry->label_names.empty()) entry->gauge->Get();
  return *Register(name, std::move(entry))->gauge;
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bucket_bounds) {
  auto entry = std::make_unique<Entry>();
  entry->type = MetricType::kHistogram;
  entry->help = help;
  entry->label_names = label_names;
  entry->histogram = std::make_unique<Family<Histogram>>(
      std::move(label_names),
      [bounds = std::move(bucket_bounds)] { return std::make_unique<Histogram>(bounds); });
  if (entry->label_names.empty()) entry->histogram->Get();
  return *Register(name, std::move(entry))->histogram;
}

void Registry::AddCounterCollector(const std::string& name, const std::string& help,
                                   std::vector<std::string> label_names, Collector collect) {
  auto entry = std::make_unique<Entry>();
  entry->type = MetricType::kCounter;
  entry->help = help;
  entry->label_names = std::move(label_names);
  entry->collect = std::move(collect);
  Register(name, std::move(entry));
}

void Registry::AddGaugeCollector(const std::string& name, const std::string& help,
                                 std::vector<std::string> label_names, Collector collect) {
  auto entry = std::make_unique<Entry>();
  entry->type = MetricType::kGauge;
  entry->help = help;
  entry->label_names = std::move(label_names);
  entry->collect = std::move(collect);
  Register(name, std::move(entry));
}

std::string Registry::Exposition() const {
  // Entries are never removed, so the pointers outlive the lock; rendering
  // without it lets collectors take their own locks (or even register).
  std::vector<std::pair<std::string, const Entry*>> entries;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, entry] : entries_) entries.emplace_back(name, entry.get());
  }
  std::string out;
  for (const auto& [name, entry] : entries) entry->Render(name, out);
  return out;
}

std::vector<std::string> Registry::Problems() const {
  absl::MutexLock lock(&mu_);
  return problems_;
}

}  // namespace propsy::metrics
