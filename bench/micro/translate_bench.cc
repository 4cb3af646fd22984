// Translating one node's configuration at the scale: Translate for
// one node (~200 services of 2,000), the conversion of its resources into an
// interned xDS snapshot, and both together (what a node costs the control
// plane whenever its configuration must be rebuilt).

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench_scale.h"
#include "bench_world.h"
#include "control/snapshot_conversion.h"
#include "translate/translate.h"
#include "xds/resource.h"
#include "xds/snapshot.h"

namespace propsy::bench {
namespace {

const translate::TranslateOptions kOptions{.default_zone = kLocalZone,
                                           .xds_cluster_name = "xds_cluster"};

translate::NodeContext Node(int node) {
  return {.id = NodeId(node), .zone = NodeZone(node), .uses_ads = true};
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "translate benchmark: %s\n", what.c_str());
  std::exit(1);
}

size_t ResourceCount(const translate::NodeResources& resources) {
  return resources.listeners.size() + resources.routes.size() + resources.clusters.size() +
         resources.endpoints.size() + resources.secrets.size();
}

size_t SerializedBytes(const xds::NodeSnapshot& snapshot) {
  size_t bytes = 0;
  for (xds::ResourceType type : xds::kAllResourceTypes) {
    for (const auto& [name, resource] : snapshot.Of(type).by_name) {
      bytes += resource->body.value().size();
    }
  }
  return bytes;
}

xds::SnapshotPtr SnapshotOrFail(const translate::NodeResources& resources,
                                xds::ResourceInterner& interner) {
  absl::StatusOr<xds::SnapshotPtr> snapshot = control::ToSnapshot(resources, interner);
  if (!snapshot.ok()) {
    Fail("inconsistent snapshot: " + std::string(snapshot.status().message()));
  }
  return *snapshot;
}

// Every service the node should get must be there, or the figures would
// describe a smaller configuration than intended.
void CheckTranslation(const WorkloadShape& shape, int node,
                      const translate::NodeResources& resources) {
  int primaries = 0;
  for (const auto& cluster : resources.clusters) {
    if (cluster.name().ends_with("/primary")) ++primaries;
  }
  if (primaries != ServicesPerNode(shape, node)) {
    Fail(fmt::format("{} got {} services, expected {}", NodeId(node), primaries,
                     ServicesPerNode(shape, node)));
  }
}

void ReportNode(benchmark::State& state, const WorkloadShape& shape, int node,
                const translate::NodeResources& resources, const xds::NodeSnapshot& snapshot) {
  state.counters["services"] = ServicesPerNode(shape, node);
  state.counters["resources"] = static_cast<double>(ResourceCount(resources));
  state.counters["snapshot_bytes"] = static_cast<double>(SerializedBytes(snapshot));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(ResourceCount(resources)));
  state.SetLabel(fmt::format("{} {}", NodeId(node), NodeZone(node)));
}

void BM_Translate(benchmark::State& state, const model::World* world, const WorkloadShape& shape) {
  const int node = static_cast<int>(state.range(0));
  const translate::NodeContext context = Node(node);
  for (auto _ : state) {
    translate::NodeResources resources = translate::Translate(*world, context, kOptions);
    benchmark::DoNotOptimize(resources.clusters.data());
  }
  const translate::NodeResources resources = translate::Translate(*world, context, kOptions);
  xds::ResourceInterner interner;
  ReportNode(state, shape, node, resources, *SnapshotOrFail(resources, interner));
}

// Serializing, hashing and interning. The interner is warm (another node
// holds the same resources), as it is for every node but the first.
void BM_ToSnapshot(benchmark::State& state, const model::World* world, const WorkloadShape& shape) {
  const int node = static_cast<int>(state.range(0));
  const translate::NodeResources resources = translate::Translate(*world, Node(node), kOptions);
  xds::ResourceInterner interner;
  const xds::SnapshotPtr resident = SnapshotOrFail(resources, interner);
  for (auto _ : state) {
    benchmark::DoNotOptimize(control::ToSnapshot(resources, interner));
  }
  ReportNode(state, shape, node, resources, *resident);
}

void BM_TranslateAndSnapshot(benchmark::State& state, const model::World* world,
                             const WorkloadShape& shape) {
  const int node = static_cast<int>(state.range(0));
  const translate::NodeContext context = Node(node);
  xds::ResourceInterner interner;
  const translate::NodeResources first = translate::Translate(*world, context, kOptions);
  const xds::SnapshotPtr resident = SnapshotOrFail(first, interner);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        control::ToSnapshot(translate::Translate(*world, context, kOptions), interner));
  }
  ReportNode(state, shape, node, first, *resident);
}

}  // namespace
}  // namespace propsy::bench

int main(int argc, char** argv) {
  using namespace propsy::bench;
  const Scale scale = InitBenchmarks(&argc, argv);
  const WorkloadShape shape = ShapeFor(scale);
  const propsy::model::WorldPtr world = BuildWorld(shape);
  benchmark::AddCustomContext(
      "workload",
      fmt::format("{} nodes, {} services, {} endpoints, {} endpoint clusters", shape.nodes,
                  shape.services, shape.endpoints, shape.endpoint_clusters));
  // Node 0 is in the local zone (zone-a), node 1 in the other one: their
  // endpoint cluster order and traffic split differ.
  for (int node : {0, 1}) {
    CheckTranslation(shape, node, propsy::translate::Translate(*world, Node(node), kOptions));
  }
  for (auto* bench : {
           benchmark::RegisterBenchmark("BM_Translate", BM_Translate, world.get(), shape),
           benchmark::RegisterBenchmark("BM_ToSnapshot", BM_ToSnapshot, world.get(), shape),
           benchmark::RegisterBenchmark("BM_TranslateAndSnapshot", BM_TranslateAndSnapshot,
                                        world.get(), shape),
       }) {
    bench->ArgName("node")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
  }
  return RunBenchmarks();
}
