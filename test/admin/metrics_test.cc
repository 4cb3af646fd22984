#include "admin/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace propsy::admin {
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
  registry.AddCollector("propsy_connected_nodes", "Connected Envoy nodes.", {"zone"}, [&] {
    return std::vector<GaugeSample>{{.labels = {"zone-b"}, .value = 1.0 * connected},
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

TEST(MetricsTest, FamiliesAreSortedByNameAndRegisteredOnce) {
  Registry registry;
  registry.AddGauge("b_gauge", "b");
  Family<Counter>& first = registry.AddCounter("a_total", "a");
  Family<Counter>& again = registry.AddCounter("a_total", "a again");
  EXPECT_EQ(&first, &again);
  // Same name, other type: works, but is not exported twice.
  Family<Gauge>& clash = registry.AddGauge("a_total", "clash");
  clash.Get().Set(99);
  std::string text = registry.Exposition();
  EXPECT_LT(text.find("a_total"), text.find("b_gauge"));
  EXPECT_THAT(text, Not(HasSubstr("99")));
  EXPECT_THAT(text, Not(HasSubstr("clash")));
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
}  // namespace propsy::admin
