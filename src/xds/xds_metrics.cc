#include "xds/xds_metrics.h"

#include <functional>
#include <string>
#include <vector>

namespace propsy::xds {
namespace {

// One sample per resource type of a per-type total.
metrics::Collector PerType(const NodeStatusRegistry& nodes,
                           uint64_t NodeStatusRegistry::TypeTotals::*field) {
  return [&nodes, field] {
    const NodeStatusRegistry::Totals totals = nodes.totals();
    std::vector<metrics::Sample> samples;
    for (ResourceType type : kAllResourceTypes) {
      samples.push_back({.labels = {std::string(ShortName(type))},
                         .value = double(totals.by_type[Index(type)].*field)});
    }
    return samples;
  };
}

metrics::Collector One(std::function<double()> value) {
  return [value = std::move(value)] {
    return std::vector<metrics::Sample>{{.labels = {}, .value = value()}};
  };
}

}  // namespace

void RegisterXdsMetrics(metrics::Registry& registry, const NodeStatusRegistry& nodes,
                        const WriteBudget& budget) {
  registry.AddGaugeCollector("propsy_xds_connected_streams", "xDS streams currently open.", {},
                             One([&nodes] { return double(nodes.ConnectedStreams()); }));
  registry.AddGaugeCollector("propsy_xds_connected_nodes",
                             "Distinct Envoy node ids with at least one open xDS stream.", {},
                             One([&nodes] { return double(nodes.ConnectedNodes()); }));
  registry.AddCounterCollector("propsy_xds_responses_total",
                               "xDS responses sent, by resource type.", {"type"},
                               PerType(nodes, &NodeStatusRegistry::TypeTotals::responses));
  registry.AddCounterCollector("propsy_xds_response_resources_total",
                               "Resources carried by the xDS responses sent, by resource type.",
                               {"type"},
                               PerType(nodes, &NodeStatusRegistry::TypeTotals::resources));
  registry.AddCounterCollector("propsy_xds_acks_total",
                               "xDS responses a client accepted (ACK), by resource type.", {"type"},
                               PerType(nodes, &NodeStatusRegistry::TypeTotals::acks));
  registry.AddCounterCollector(
      "propsy_xds_nacks_total",
      "xDS responses a client rejected (NACK), by resource type; the node keeps its last good "
      "version.",
      {"type"}, PerType(nodes, &NodeStatusRegistry::TypeTotals::nacks));
  registry.AddCounterCollector(
      "propsy_xds_unserved_type_requests_total",
      "Requests of xDS types ProPsy does not serve (answered as empty sets), by type URL (at most "
      "32 by name, the rest as \"other\"); not part of the responses, ACKs and NACKs above.",
      {"type_url"}, [&nodes] {
        std::vector<metrics::Sample> samples;
        for (const auto& [url, count] : nodes.UnservedRequestsByType()) {
          samples.push_back({.labels = {url}, .value = double(count)});
        }
        return samples;
      });
  registry.AddCounterCollector(
      "propsy_xds_identity_rejections_total",
      "Requests refused because the node id did not match the client certificate (mutual TLS).", {},
      One([&nodes] { return double(nodes.totals().identity_rejections); }));

  registry.AddGaugeCollector("propsy_xds_write_budget_bytes",
                             "Bytes of responses that may be in flight at once over all streams.",
                             {}, One([&budget] { return double(budget.max_bytes()); }));
  registry.AddGaugeCollector(
      "propsy_xds_write_in_flight_bytes",
      "Bytes of responses being written now that count against the write budget.", {},
      One([&budget] { return double(budget.stats().bytes_in_flight); }));
  registry.AddGaugeCollector("propsy_xds_writes_waiting",
                             "Responses waiting for their turn in the write budget.", {},
                             One([&budget] { return double(budget.stats().waiting); }));
  registry.AddCounterCollector(
      "propsy_xds_writes_stalled_total",
      "Writes still in flight after the stall time (a client not reading), which then stopped "
      "counting against the write budget.",
      {}, One([&budget] { return double(budget.stats().stalled); }));
}

}  // namespace propsy::xds
