// The whole World after one change: a WorldConfigWatcher with one watch per
// node, as the xDS server holds them, and a World published in which one
// endpoint of one service changed. Reports the time per publish and how
// many nodes were pushed a new snapshot (pushes per publish). Also: the
// first publish to every node (start-up), and a publish that changes
// nothing.

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench_scale.h"
#include "bench_world.h"
#include "control/world_config_watcher.h"
#include "xds/config_watcher.h"

namespace propsy::bench {
namespace {

// The service whose endpoint changes, and where.
constexpr int kChangedService = 0;
constexpr size_t kChangedCluster = 0;
// Outside 10.0.0.0/8, where every generated endpoint lives.
constexpr char kChangedAddress[] = "192.0.2.1";

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "world benchmark: %s\n", what.c_str());
  std::exit(1);
}

// A watcher with every node of the workload watching it, counting the
// wakes (snapshot changes) its streams get.
class WatchedNodes {
 public:
  explicit WatchedNodes(const WorkloadShape& shape)
      : watcher_(translate::TranslateOptions{.default_zone = kLocalZone,
                                             .xds_cluster_name = "xds_cluster"}) {
    for (int node = 0; node < shape.nodes; ++node) {
      xds::NodeInfo info{.id = NodeId(node), .zone = NodeZone(node), .uses_ads = true};
      handles_.push_back(watcher_.Watch(info, [this] { ++pushes_; }));
    }
  }

  // Publishes `world`; returns the number of pushes it caused.
  uint64_t Publish(model::WorldPtr world) {
    const uint64_t before = pushes_;
    watcher_.Publish(std::move(world));
    return pushes_ - before;
  }

 private:
  control::WorldConfigWatcher watcher_;
  // Wakes of different watches may run on different threads.
  std::atomic<uint64_t> pushes_ = 0;
  // Declared last: the watches end before the watcher goes.
  std::vector<std::unique_ptr<xds::WatchHandle>> handles_;
};

// The worlds the benchmarks publish: `base` and `changed` differ in one
// endpoint address of one service, so publishing them in turn is a real
// change each time.
struct Worlds {
  WorkloadShape shape;
  model::WorldPtr base;
  model::WorldPtr changed;
};

void ReportPushes(benchmark::State& state, uint64_t pushes, int expected) {
  state.counters["pushes"] =
      benchmark::Counter(static_cast<double>(pushes), benchmark::Counter::kAvgIterations);
  state.counters["expected"] = expected;
}

// Start-up: every node is watching, the first World arrives.
void BM_FirstPublish(benchmark::State& state, const Worlds* worlds) {
  uint64_t pushes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto nodes = std::make_unique<WatchedNodes>(worlds->shape);
    state.ResumeTiming();
    pushes += nodes->Publish(worlds->base);
    state.PauseTiming();
    nodes.reset();
    state.ResumeTiming();
  }
  ReportPushes(state, pushes, worlds->shape.nodes);
}

// `nodes` holds `*showing_changed ? changed : base`; each iteration
// publishes the other one.
void BM_PublishEndpointChange(benchmark::State& state, const Worlds* worlds, WatchedNodes* nodes,
                              bool* showing_changed) {
  uint64_t pushes = 0;
  for (auto _ : state) {
    *showing_changed = !*showing_changed;
    pushes += nodes->Publish(*showing_changed ? worlds->changed : worlds->base);
  }
  ReportPushes(state, pushes, NodesPerService(worlds->shape, kChangedService));
}

// A new World equal to the current one (as when a source reports an object
// that did not change in content): nobody should get a push.
void BM_PublishUnchanged(benchmark::State& state, const Worlds* worlds, WatchedNodes* nodes,
                         bool* showing_changed) {
  const model::WorldPtr& current = *showing_changed ? worlds->changed : worlds->base;
  uint64_t pushes = 0;
  for (auto _ : state) {
    pushes += nodes->Publish(std::make_shared<model::World>(*current));
  }
  ReportPushes(state, pushes, 0);
}

void ExpectPushes(const char* what, uint64_t pushes, int expected) {
  if (pushes != static_cast<uint64_t>(expected)) {
    Fail(fmt::format("{}: {} nodes were pushed a snapshot, expected {}", what, pushes, expected));
  }
}

}  // namespace
}  // namespace propsy::bench

int main(int argc, char** argv) {
  using namespace propsy::bench;
  const Scale scale = InitBenchmarks(&argc, argv);
  Worlds worlds{.shape = ShapeFor(scale), .base = nullptr, .changed = nullptr};
  worlds.base = BuildWorld(worlds.shape);
  worlds.changed = WithEndpointAddress(*worlds.base, kChangedCluster, ServiceKey(kChangedService),
                                       kChangedAddress);
  const int affected = NodesPerService(worlds.shape, kChangedService);
  benchmark::AddCustomContext(
      "workload", fmt::format("{} nodes, {} services, {} endpoints, {} endpoint clusters; "
                              "the change reaches {} nodes",
                              worlds.shape.nodes, worlds.shape.services, worlds.shape.endpoints,
                              worlds.shape.endpoint_clusters, affected));

  // The steady state the change benchmarks start from, checked once: the
  // figures mean nothing if the watcher pushes to the wrong nodes.
  WatchedNodes nodes(worlds.shape);
  bool showing_changed = false;
  ExpectPushes("first publish", nodes.Publish(worlds.base), worlds.shape.nodes);
  ExpectPushes("endpoint change", nodes.Publish(worlds.changed), affected);
  ExpectPushes("endpoint change back", nodes.Publish(worlds.base), affected);
  ExpectPushes("equal world", nodes.Publish(std::make_shared<propsy::model::World>(*worlds.base)),
               0);

  // The argument only names the scale in the output ("nodes:1000").
  const int64_t node_count = worlds.shape.nodes;
  for (auto* bench : {
           benchmark::RegisterBenchmark("BM_FirstPublish", BM_FirstPublish, &worlds),
           benchmark::RegisterBenchmark("BM_PublishEndpointChange", BM_PublishEndpointChange,
                                        &worlds, &nodes, &showing_changed),
           benchmark::RegisterBenchmark("BM_PublishUnchanged", BM_PublishUnchanged, &worlds, &nodes,
                                        &showing_changed),
       }) {
    bench->ArgName("nodes")->Arg(node_count)->Unit(benchmark::kMillisecond);
  }
  return RunBenchmarks();
}
