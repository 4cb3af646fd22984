#include "common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace propsy::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, CounterWithoutLabelsIsExportedFromTheStart) {
  Registry registry;
  Family<Counter>& pushes = registry.AddCounter("propsy_pushes_total", "Pushes sent.");
  EXPECT_EQ(registry.Exposition(),
            "# HELP propsy_pushes_total Pushes sent.\n"
            "# TYPE propsy_pushes_total counter\n"
            "propsy_pushes_total 0\n");
  pushes.Get().Increment();
  pushes.Get().Increment(2.5);
  pushes.Get().Increment(-10);  // ignored: counters never go down
  EXPECT_DOUBLE_EQ(pushes.Get().Value(), 3.5);
  EXPECT_THAT(registry.Exposition(), HasSubstr("\npropsy_pushes_total 3.5\n"));
}

TEST(MetricsTest, LabelledGaugeSeriesAreSortedAndStable) {
  Registry registry;
  Family<Gauge>& objects =
      registry.AddGauge("propsy_objects", "Objects per cluster and kind.", {"cluster", "kind"});
  Gauge& b = objects.WithLabels({"zone-b", "Secret"});
  Gauge& a = objects.WithLabels({"zone-a", "ProPsyService"});
  a.Set(4);
  b.Set(1);
  b.Decrement();
  a.Increment(0.25);
  EXPECT_EQ(&objects.WithLabels({"zone-a", "ProPsyService"}), &a);
  EXPECT_EQ(registry.Exposition(),
            "# HELP propsy_objects Objects per cluster and kind.\n"
            "# TYPE propsy_objects gauge\n"
            "propsy_objects{cluster=\"zone-a\",kind=\"ProPsyService\"} 4.25\n"
            "propsy_objects{cluster=\"zone-b\",kind=\"Secret\"} 0\n");
}

TEST(MetricsTest, WrongNumberOfLabelValuesIsPaddedNotFatal) {
  Registry registry;
  Family<Gauge>& family = registry.AddGauge("g", "h", {"a", "b"});
  family.WithLabels({"x"}).Set(1);
  family.WithLabels({"x", "", "extra"}).Increment();
  EXPECT_THAT(registry.Exposition(), HasSubstr("g{a=\"x\",b=\"\"} 2\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithSumCountAndInf) {
  Registry registry;
  Family<Histogram>& latency = registry.AddHistogram(
      "propsy_push_seconds", "Push latency.", {"type"}, {0.5, 0.125, 1});  // unsorted on purpose
  Histogram& h = latency.WithLabels({"cds"});
  // 0.125 lands in le="0.125": bounds are inclusive.
  for (double v : {0.0625, 0.125, 0.25, 0.75, 0.75, 5.0}) h.Observe(v);
  EXPECT_EQ(registry.Exposition(),
            "# HELP propsy_push_seconds Push latency.\n"
            "# TYPE propsy_push_seconds histogram\n"
            "propsy_push_seconds_bucket{type=\"cds\",le=\"0.125\"} 2\n"
            "propsy_push_seconds_bucket{type=\"cds\",le=\"0.5\"} 3\n"
            "propsy_push_seconds_bucket{type=\"cds\",le=\"1\"} 5\n"
            "propsy_push_seconds_bucket{type=\"cds\",le=\"+Inf\"} 6\n"
            "propsy_push_seconds_sum{type=\"cds\"} 6.9375\n"
            "propsy_push_seconds_count{type=\"cds\"} 6\n");
}

TEST(MetricsTest, UnlabelledHistogramStartsEmpty) {
  Registry registry;
  registry.AddHistogram("h_seconds", "x", {}, DefaultLatencyBuckets());
  std::string text = registry.Exposition();
  EXPECT_THAT(text, HasSubstr("h_seconds_bucket{le=\"0.005\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("h_seconds_bucket{le=\"10\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("h_seconds_bucket{le=\"+Inf\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("h_seconds_sum 0\nh_seconds_count 0\n"));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeHelp("line 1\nback\\slash \"quotes\""), "line 1\\nback\\\\slash \"quotes\"");
  Registry registry;
  registry.AddCounter("c_total", "Two\nlines", {"node"}).WithLabels({"say \"hi\"\n"}).Increment();
  std::string text = registry.Exposition();
  EXPECT_THAT(text, HasSubstr("# HELP c_total Two\\nlines\n"));
  EXPECT_THAT(text, HasSubstr("c_total{node=\"say \\\"hi\\\"\\n\"} 1\n"));
}

TEST(MetricsTest, SampleValues) {
  EXPECT_EQ(FormatSampleValue(0), "0");
  EXPECT_EQ(FormatSampleValue(42), "42");
  EXPECT_EQ(FormatSampleValue(0.25), "0.25");
  EXPECT_EQ(FormatSampleValue(-3), "-3");
  EXPECT_EQ(FormatSampleValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatSampleValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatSampleValue(std::nan("")), "NaN");
  EXPECT_EQ(std::stod(FormatSampleValue(1e21)), 1e21);
}

TEST(MetricsTest, CollectorIsCalledAtEveryScrape) {
  Registry registry;
  int connected = 0;
  registry.AddGaugeCollector("propsy_connected_nodes", "Connected Envoy nodes.", {"zone"}, [&] {
    return std::vector<Sample>{{.labels = {"zone-b"}, .value = 1.0 * connected},
                               {.labels = {"zone-a"}, .value = 2.0 * connected}};
  });
  connected = 1;
  EXPECT_EQ(registry.Exposition(),
            "# HELP propsy_connected_nodes Connected Envoy nodes.\n"
            "# TYPE propsy_connected_nodes gauge\n"
            "propsy_connected_nodes{zone=\"zone-a\"} 2\n"
            "propsy_connected_nodes{zone=\"zone-b\"} 1\n");
  connected = 3;
  EXPECT_THAT(registry.Exposition(), HasSubstr("propsy_connected_nodes{zone=\"zone-a\"} 6\n"));
}

TEST(MetricsTest, CounterCollectorIsTypedCounter) {
  Registry registry;
  uint64_t restarts = 7;
  registry.AddCounterCollector("propsy_watch_restarts_total", "Watch restarts.", {"cluster"}, [&] {
    return std::vector<Sample>{{.labels = {"zone-a"}, .value = double(restarts)}};
  });
  EXPECT_EQ(registry.Exposition(),
            "# HELP propsy_watch_restarts_total Watch restarts.\n"
            "# TYPE propsy_watch_restarts_total counter\n"
            "propsy_watch_restarts_total{cluster=\"zone-a\"} 7\n");
  EXPECT_THAT(registry.Problems(), ::testing::IsEmpty());
}

TEST(MetricsTest, CollectorSamplesWithTooFewLabelsArePadded) {
  Registry registry;
  registry.AddGaugeCollector("g", "h", {"a", "b"},
                             [] { return std::vector<Sample>{{.labels = {"x"}, .value = 1}}; });
  EXPECT_THAT(registry.Exposition(), HasSubstr("g{a=\"x\",b=\"\"} 1\n"));
}

// Each case breaks one convention that `promtool check metrics` enforces.
TEST(MetricsTest, FamiliesBreakingConventionsAreRefusedWithAReason) {
  struct Case {
    std::string name;
    MetricType type;
    std::vector<std::string> labels;
    std::string help;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"propsy_pushes", MetricType::kCounter, {}, "h", "ends in _total"},
      {"propsy_streams_total", MetricType::kGauge, {}, "h", "only counters end in _total"},
      {"propsy_delay_total", MetricType::kHistogram, {}, "h", "only counters end in _total"},
      {"propsyPushes_total", MetricType::kCounter, {}, "h", "[a-z_][a-z0-9_]*"},
      {"propsy:pushes_total", MetricType::kCounter, {}, "h", "[a-z_][a-z0-9_]*"},
      {"9lives", MetricType::kGauge, {}, "h", "[a-z_][a-z0-9_]*"},
      {"propsy_objects", MetricType::kGauge, {}, "", "no help text"},
      {"propsy_delay_ms", MetricType::kHistogram, {}, "h", "base unit seconds, not ms"},
      {"propsy_cache_megabytes", MetricType::kGauge, {}, "h", "base unit bytes"},
      {"propsy_push_milliseconds", MetricType::kHistogram, {}, "h", "base unit seconds"},
      {"propsy_objects_count", MetricType::kGauge, {}, "h", "_count is a suffix"},
      {"propsy_streams_gauge", MetricType::kGauge, {}, "h", "type (gauge)"},
      {"propsy_pushes_counter_total", MetricType::kCounter, {}, "h", "type (counter)"},
      {"propsy_objects", MetricType::kGauge, {"Cluster"}, "h", "label \"Cluster\""},
      {"propsy_objects", MetricType::kGauge, {"__name"}, "h", "label \"__name\""},
      {"propsy_objects", MetricType::kGauge, {"le"}, "h", "reserved"},
      {"propsy_delay_seconds", MetricType::kHistogram, {"le"}, "h", "reserved"},
      {"propsy_objects", MetricType::kGauge, {"kind", "kind"}, "h", "twice"},
  };
  for (const Case& c : cases) {
    absl::Status status = CheckConventions(c.name, c.type, c.labels, c.help);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(status.message(), HasSubstr(c.reason)) << c.name;
    EXPECT_THAT(status.message(), HasSubstr(c.name)) << c.name;
  }
  for (const auto& [name, type] : std::vector<std::pair<std::string, MetricType>>{
           {"propsy_xds_responses_total", MetricType::kCounter},
           {"propsy_publish_delay_seconds", MetricType::kHistogram},
           {"propsy_xds_write_in_flight_bytes", MetricType::kGauge},
           {"propsy_status_writes_total", MetricType::kCounter},
           {"propsy_secrets", MetricType::kGauge},
           {"propsy_cluster_stale_since_timestamp_seconds", MetricType::kGauge}}) {
    EXPECT_TRUE(CheckConventions(name, type, {"cluster", "role"}, "help").ok()) << name;
  }
}

TEST(MetricsTest, RefusedFamilyWorksButIsNotExported) {
  Registry registry;
  Counter& refused = registry.AddCounter("propsy_pushes", "Pushes.").Get();
  refused.Increment();  // usable: a naming mistake must not crash the process
  registry.AddGaugeCollector("propsy_objects_total", "Objects.", {},
                             [] { return std::vector<Sample>{{.labels = {}, .value = 1}}; });
  EXPECT_EQ(registry.Exposition(), "");
  EXPECT_THAT(registry.Problems(),
              ::testing::ElementsAre(HasSubstr("propsy_pushes: a counter's name ends in _total"),
                                     HasSubstr("propsy_objects_total: only counters")));
}

TEST(MetricsTest, FamiliesAreSortedByNameAndRegisteredOnce) {
  Registry registry;
  registry.AddGauge("b_value", "b");
  Family<Counter>& first = registry.AddCounter("a_total", "a");
  Family<Counter>& again = registry.AddCounter("a_total", "a again");
  EXPECT_EQ(&first, &again);
  // Same name with other labels, or as a collector: works, but is not
  // exported twice.
  Family<Counter>& clash = registry.AddCounter("a_total", "clash", {"other"});
  clash.WithLabels({"x"}).Increment(99);
  registry.AddCounterCollector("a_total", "collected", {},
                               [] { return std::vector<Sample>{{.labels = {}, .value = 5}}; });
  std::string text = registry.Exposition();
  EXPECT_LT(text.find("a_total"), text.find("b_value"));
  EXPECT_THAT(text, Not(HasSubstr("99")));
  EXPECT_THAT(text, Not(HasSubstr("clash")));
  EXPECT_THAT(text, Not(HasSubstr("collected")));
  EXPECT_THAT(registry.Problems(),
              ::testing::ElementsAre(HasSubstr("a_total is already registered as a counter"),
                                     HasSubstr("a_total is already registered as a counter")));
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry registry;
  Family<Counter>& family = registry.AddCounter("n_total", "n", {"t"});
  Family<Histogram>& histogram = registry.AddHistogram("h", "h", {}, {1});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        family.WithLabels({"x"}).Increment();
        histogram.Get().Observe(0.5);
        if (i % 1000 == 0) (void)registry.Exposition();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_DOUBLE_EQ(family.WithLabels({"x"}).Value(), kThreads * kPerThread);
  EXPECT_EQ(histogram.Get().Take().count, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_THAT(registry.Exposition(), HasSubstr("n_total{t=\"x\"} 40000\n"));
}

}  // namespace
}  // namespace propsy::metrics
