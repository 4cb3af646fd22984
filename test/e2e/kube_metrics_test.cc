// /metrics of a propsy that serves a real Envoy from real API servers, held
// to Prometheus' conventions by promtool (Debian package prometheus): every
// family has samples (so every family is checked), counters are counters
// ending in _total, and `promtool check metrics` prints nothing.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "e2e/kube_e2e_fixture.h"
#include "support/subprocess.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;

// Families by their TYPE lines and the number of samples of each.
struct Families {
  std::map<std::string, std::string> types;
  std::map<std::string, int> samples;
};

Families ReadFamilies(const std::string& page) {
  Families families;
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# TYPE ")) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      families.types[name] = type;
      continue;
    }
    if (line.empty() || line.starts_with("#")) continue;
    std::string series = line.substr(0, line.find_first_of("{ "));
    // Histogram series belong to the family without the suffix.
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string base = series.substr(0, series.size() - std::string(suffix).size());
      if (series.ends_with(suffix) && families.types.contains(base) &&
          families.types[base] == "histogram") {
        series = base;
      }
    }
    ++families.samples[series];
  }
  return families;
}

using KubeMetricsTest = KubePropsyTest;

TEST_F(KubeMetricsTest, LivePagePassesPromtool) {
  ASSERT_EQ(access(PROPSY_PROMTOOL_PATH, X_OK), 0)
      << "promtool is missing (Debian package prometheus; scripts/install-deps.sh): "
      << PROPSY_PROMTOOL_PATH;
  // Envoy also asks for a type ProPsy does not serve (an RTDS layer), so the
  // unserved-types family has samples too.
  rtds_layer_ = true;
  test::HttpBackend& backend = AddKubeBackend("web-zone-a");
  test::HttpBackend& remote = AddKubeBackend("web-zone-b");
  const int port = FreePort();
  ServiceManifest web;
  web.name = "web";
  web.service = "web";
  web.listen_port = port;
  web.percent = 80;
  Apply(kZoneA, Documents({ServiceYaml(web), Slice("web-a", "web", backend)}));
  Apply(kZoneB, Slice("web-b", "web", remote));
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  ASSERT_NO_FATAL_FAILURE(WaitForListener(port));
  Answer last;
  ASSERT_TRUE(WaitForBody(port, "/", "web-zone-a", 20s, &last)) << last.status << " " << last.body;

  const std::string page = PropsyGet("/metrics");
  ASSERT_FALSE(page.empty());
  const Families families = ReadFamilies(page);
  // Every family of docs/metrics.md, each with samples.
  for (const char* family : {"propsy_xds_connected_streams",
                             "propsy_xds_connected_nodes",
                             "propsy_xds_responses_total",
                             "propsy_xds_response_resources_total",
                             "propsy_xds_acks_total",
                             "propsy_xds_nacks_total",
                             "propsy_xds_identity_rejections_total",
                             "propsy_xds_write_budget_bytes",
                             "propsy_xds_write_in_flight_bytes",
                             "propsy_xds_writes_waiting",
                             "propsy_xds_writes_stalled_total",
                             "propsy_xds_unserved_type_requests_total",
                             "propsy_world_publishes_total",
                             "propsy_publish_delay_seconds",
                             "propsy_publish_duration_seconds",
                             "propsy_translation_services_translated_total",
                             "propsy_translation_services_reused_total",
                             "propsy_translation_node_classes_built_total",
                             "propsy_translation_inconsistent_snapshots_total",
                             "propsy_cluster_objects",
                             "propsy_cluster_stale",
                             "propsy_cluster_stale_since_timestamp_seconds",
                             "propsy_cluster_input_problems",
                             "propsy_source_lists_total",
                             "propsy_source_relists_total",
                             "propsy_source_watches_total",
                             "propsy_source_watch_restarts_total",
                             "propsy_source_decode_errors_total",
                             "propsy_status_leader",
                             "propsy_status_lease_acquisitions_total",
                             "propsy_status_writes_total",
                             "propsy_status_write_conflicts_total",
                             "propsy_status_write_errors_total",
                             "propsy_status_events_created_total",
                             "propsy_status_event_repeats_total",
                             "propsy_status_queued_objects",
                             "propsy_status_report_writes_total",
                             "propsy_status_report_write_errors_total",
                             "propsy_status_peer_reports"}) {
    EXPECT_TRUE(families.types.contains(family)) << family << " is not exported";
  }
  for (const auto& [family, type] : families.types) {
    EXPECT_GT(families.samples.count(family) ? families.samples.at(family) : 0, 0)
        << family << " has no samples, so promtool would not check them";
    EXPECT_EQ(type == "counter", family.ends_with("_total")) << family << " is a " << type;
  }
  // The figures of real work are there.
  EXPECT_GT(propsy_->MetricSum("propsy_xds_acks_total", {{"type", "listener"}}).value_or(-1), 0);
  EXPECT_GT(
      propsy_
          ->MetricSum("propsy_source_lists_total",
                      {{"cluster", "zone-a"}, {"role", "endpoint"}, {"resource", "endpointslices"}})
          .value_or(-1),
      0);
  EXPECT_EQ(propsy_->Metric("propsy_xds_connected_nodes").value_or(-1), 1);
  EXPECT_GT(propsy_
                ->MetricSum("propsy_xds_unserved_type_requests_total",
                            {{"type_url", "type.googleapis.com/envoy.service.runtime.v3.Runtime"}})
                .value_or(-1),
            0);

  const std::string page_file = dir_.File("metrics.txt");
  {
    std::ofstream out(page_file);
    out << page;
  }
  // promtool reads the page on stdin; its findings go to the log.
  absl::StatusOr<test::RunResult> checked = test::RunToCompletion(
      {.program = "/bin/sh",
       .args = {"-c",
                fmt::format("exec '{}' check metrics < '{}'", PROPSY_PROMTOOL_PATH, page_file)},
       .env = {},
       .log_path = dir_.File("promtool.log")},
      60s);
  ASSERT_TRUE(checked.ok()) << checked.status().ToString();
  EXPECT_EQ(checked->exit_code, 0) << checked->output;
  EXPECT_EQ(checked->output, "") << "promtool complained:\n" << checked->output;
  std::cout << fmt::format("[metrics] {} families, {} bytes: promtool check metrics is silent\n",
                           families.types.size(), page.size());
}

}  // namespace
}  // namespace propsy::e2e
