#include "status/status_metrics.h"

#include <functional>
#include <string>
#include <vector>

namespace propsy::status {
namespace {

// One sample per config cluster that has status to write (label cluster).
metrics::Collector PerCluster(
    const StatusWriter& writer,
    std::function<double(const StatusCounters&, const StatusTarget&)> value) {
  return [&writer, value = std::move(value)] {
    std::vector<metrics::Sample> samples;
    for (size_t i = 0; i < writer.targets().size(); ++i) {
      const StatusTarget& target = writer.targets()[i];
      if (target.transport == nullptr) continue;  // dir: has no status
      samples.push_back({.labels = {target.name}, .value = value(writer.counters(i), target)});
    }
    return samples;
  };
}

}  // namespace

void RegisterStatusMetrics(metrics::Registry& registry, const StatusWriter& writer) {
  registry.AddGaugeCollector(
      "propsy_status_leader",
      "1 while this replica writes status to the config cluster (holds its Lease, or leader "
      "election is off).",
      {"cluster"}, PerCluster(writer, [](const StatusCounters& c, const StatusTarget&) {
        return c.leader ? 1.0 : 0.0;
      }));
  registry.AddCounterCollector(
      "propsy_status_lease_acquisitions_total",
      "Times this replica acquired the config cluster's Lease.", {"cluster"},
      PerCluster(writer, [](const StatusCounters&, const StatusTarget& target) {
        return target.elector == nullptr ? 0.0 : double(target.elector->acquisitions());
      }));
  registry.AddCounterCollector(
      "propsy_status_writes_total",
      "ProPsyService status patches the config cluster's API server accepted.", {"cluster"},
      PerCluster(writer,
                 [](const StatusCounters& c, const StatusTarget&) { return double(c.writes); }));
  registry.AddCounterCollector(
      "propsy_status_write_conflicts_total",
      "Status patches answered 409 Conflict (the object changed meanwhile; re-read and retried).",
      {"cluster"}, PerCluster(writer, [](const StatusCounters& c, const StatusTarget&) {
        return double(c.conflicts);
      }));
  registry.AddCounterCollector("propsy_status_write_errors_total",
                               "Status patches that failed otherwise (retried later).", {"cluster"},
                               PerCluster(writer, [](const StatusCounters& c, const StatusTarget&) {
                                 return double(c.errors);
                               }));
  registry.AddCounterCollector("propsy_status_events_created_total",
                               "Warning Events created about rejected ProPsyServices.", {"cluster"},
                               PerCluster(writer, [](const StatusCounters& c, const StatusTarget&) {
                                 return double(c.events_created);
                               }));
  registry.AddCounterCollector(
      "propsy_status_event_repeats_total",
      "Repeats of a rejection counted in an existing Warning Event's series.", {"cluster"},
      PerCluster(writer, [](const StatusCounters& c, const StatusTarget&) {
        return double(c.events_bumped);
      }));
  registry.AddCounterCollector(
      "propsy_status_report_writes_total",
      "Writes of this replica's progress report (its nodes' progress, for the leader).",
      {"cluster"}, PerCluster(writer, [](const StatusCounters& c, const StatusTarget&) {
        return double(c.report_writes);
      }));
  registry.AddCounterCollector("propsy_status_report_write_errors_total",
                               "Writes of this replica's progress report that failed (retried).",
                               {"cluster"},
                               PerCluster(writer, [](const StatusCounters& c, const StatusTarget&) {
                                 return double(c.report_errors);
                               }));
  registry.AddGaugeCollector(
      "propsy_status_peer_reports",
      "Leader: other replicas' progress reports that count (not stale), as last read.", {"cluster"},
      PerCluster(writer, [](const StatusCounters& c, const StatusTarget&) {
        return double(c.live_peer_reports);
      }));
  registry.AddGaugeCollector(
      "propsy_status_queued_objects", "Objects whose status waits to be written.", {"cluster"},
      PerCluster(writer,
                 [](const StatusCounters& c, const StatusTarget&) { return double(c.queued); }));
}

}  // namespace propsy::status
