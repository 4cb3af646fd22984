// EndpointSlice decoding: how fast a LIST of EndpointSlices, as an API
// server returns it, becomes ClusterObjects. Reported per stage: the JSON
// parse alone, the decoder alone, and parse + ObjectStore as a relist does it
// (bytes/s of JSON, slices/s, endpoints/s).

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench_scale.h"
#include "model/cluster_objects.h"
#include "model/endpoints.h"

namespace propsy::bench {
namespace {

constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag;

struct ListShape {
  int slices = 0;
  int endpoints_per_slice = 0;
};

ListShape ListShapeFor(Scale scale) {
  if (scale == Scale::kSmall) return {.slices = 50, .endpoints_per_slice = 25};
  return {.slices = 1000, .endpoints_per_slice = 25};
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Field(Writer& out, const char* key, const std::string& value) {
  out.Key(key);
  out.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
}

std::string Uid(int a, int b) { return fmt::format("6f1c2a3e-{:04x}-4b5c-8d9e-{:012x}", a, b); }

// metadata as the endpoint slice controller writes it, managedFields included
// (a list does not strip them).
void WriteMetadata(Writer& out, int slice, const std::string& service,
                   const std::string& namespace_name) {
  out.Key("metadata");
  out.StartObject();
  Field(out, "name", fmt::format("{}-{:05x}", service, slice * 7919 % 0xfffff));
  Field(out, "generateName", service + "-");
  Field(out, "namespace", namespace_name);
  Field(out, "uid", Uid(slice, slice));
  Field(out, "resourceVersion", std::to_string(1000000 + slice));
  out.Key("generation");
  out.Int(3);
  Field(out, "creationTimestamp", "2025-03-01T10:00:00Z");
  out.Key("labels");
  out.StartObject();
  Field(out, "endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io");
  Field(out, "kubernetes.io/service-name", service);
  Field(out, "app.kubernetes.io/name", service);
  out.EndObject();
  out.Key("annotations");
  out.StartObject();
  Field(out, "endpoints.kubernetes.io/last-change-trigger-time", "2025-03-01T10:00:00Z");
  out.EndObject();
  out.Key("ownerReferences");
  out.StartArray();
  out.StartObject();
  Field(out, "apiVersion", "v1");
  Field(out, "kind", "Service");
  Field(out, "name", service);
  Field(out, "uid", Uid(slice, 0));
  out.Key("controller");
  out.Bool(true);
  out.Key("blockOwnerDeletion");
  out.Bool(true);
  out.EndObject();
  out.EndArray();
  out.Key("managedFields");
  out.StartArray();
  out.StartObject();
  Field(out, "manager", "kube-controller-manager");
  Field(out, "operation", "Update");
  Field(out, "apiVersion", "discovery.k8s.io/v1");
  Field(out, "time", "2025-03-01T10:00:00Z");
  Field(out, "fieldsType", "FieldsV1");
  out.Key("fieldsV1");
  out.StartObject();
  out.Key("f:addressType");
  out.StartObject();
  out.EndObject();
  out.Key("f:endpoints");
  out.StartObject();
  out.EndObject();
  out.Key("f:ports");
  out.StartObject();
  out.EndObject();
  out.EndObject();
  out.EndObject();
  out.EndArray();
  out.EndObject();
}

void WriteEndpoint(Writer& out, int slice, int index, const std::string& service,
                   const std::string& namespace_name) {
  const int host = slice * 64 + index;
  out.StartObject();
  out.Key("addresses");
  out.StartArray();
  const std::string address =
      fmt::format("10.{}.{}.{}", 100 + host / 65536, host / 256 % 256, host % 256);
  out.String(address.c_str(), static_cast<rapidjson::SizeType>(address.size()));
  out.EndArray();
  // One endpoint in 20 is on its way out, as during a rollout.
  const bool terminating = index % 20 == 19;
  out.Key("conditions");
  out.StartObject();
  out.Key("ready");
  out.Bool(!terminating);
  out.Key("serving");
  out.Bool(true);
  out.Key("terminating");
  out.Bool(terminating);
  out.EndObject();
  Field(out, "nodeName", fmt::format("worker-{:03d}", host % 300));
  out.Key("targetRef");
  out.StartObject();
  Field(out, "kind", "Pod");
  Field(out, "namespace", namespace_name);
  Field(out, "name", fmt::format("{}-7d9f8b6c5d-{:05x}", service, host));
  Field(out, "uid", Uid(slice, host));
  out.EndObject();
  Field(out, "zone", host % 2 == 0 ? "zone-a" : "zone-b");
  out.EndObject();
}

// An EndpointSliceList page: items without apiVersion/kind, as lists return
// built-in kinds.
std::string MakeSliceList(const ListShape& shape) {
  rapidjson::StringBuffer buffer;
  Writer out(buffer);
  out.StartObject();
  Field(out, "kind", "EndpointSliceList");
  Field(out, "apiVersion", "discovery.k8s.io/v1");
  out.Key("metadata");
  out.StartObject();
  Field(out, "resourceVersion", "2000000");
  out.EndObject();
  out.Key("items");
  out.StartArray();
  for (int slice = 0; slice < shape.slices; ++slice) {
    const std::string service = fmt::format("svc-{:04d}", slice);
    const std::string namespace_name = fmt::format("ns-{:02d}", slice % 20);
    out.StartObject();
    WriteMetadata(out, slice, service, namespace_name);
    Field(out, "addressType", "IPv4");
    out.Key("endpoints");
    out.StartArray();
    for (int index = 0; index < shape.endpoints_per_slice; ++index) {
      WriteEndpoint(out, slice, index, service, namespace_name);
    }
    out.EndArray();
    out.Key("ports");
    out.StartArray();
    out.StartObject();
    Field(out, "name", "http");
    Field(out, "protocol", "TCP");
    out.Key("port");
    out.Int(8080);
    out.EndObject();
    out.EndArray();
    out.EndObject();
  }
  out.EndArray();
  out.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "decode benchmark: %s\n", what.c_str());
  std::exit(1);
}

void ParseOrFail(const std::string& json, rapidjson::Document& document) {
  document.Parse<kParseFlags>(json.data(), json.size());
  if (document.HasParseError() || !document.IsObject() || !document["items"].IsArray()) {
    Fail("the generated EndpointSliceList does not parse");
  }
}

// Figures every decoding benchmark reports, per second of CPU time. Bytes
// are those of the JSON text even where the parse is not timed
// (BM_DecodeSlices), so the stages compare on one scale.
void Report(benchmark::State& state, const std::string& json, const ListShape& shape) {
  const int64_t iterations = state.iterations();
  state.SetBytesProcessed(iterations * static_cast<int64_t>(json.size()));
  state.SetItemsProcessed(iterations * shape.slices);
  state.counters["endpoints/s"] =
      benchmark::Counter(static_cast<double>(iterations) * shape.slices * shape.endpoints_per_slice,
                         benchmark::Counter::kIsRate);
  state.counters["json_bytes"] = static_cast<double>(json.size());
}

void BM_ParseJson(benchmark::State& state, const std::string& json, const ListShape& shape) {
  for (auto _ : state) {
    rapidjson::Document document;
    document.Parse<kParseFlags>(json.data(), json.size());
    benchmark::DoNotOptimize(document.HasParseError());
  }
  Report(state, json, shape);
}

void BM_DecodeSlices(benchmark::State& state, const std::string& json, const ListShape& shape) {
  rapidjson::Document document;
  ParseOrFail(json, document);
  const rapidjson::Value& items = document["items"];
  for (auto _ : state) {
    for (const rapidjson::Value& item : items.GetArray()) {
      absl::StatusOr<model::EndpointSlice> slice = model::DecodeEndpointSlice(item);
      if (!slice.ok()) Fail(std::string(slice.status().message()));
      benchmark::DoNotOptimize(slice->endpoints.data());
    }
  }
  Report(state, json, shape);
}

// Parse + decode + keep-last-good bookkeeping into an empty store: the
// initial LIST of one endpoint cluster.
void BM_ParseAndUpsert(benchmark::State& state, const std::string& json, const ListShape& shape) {
  for (auto _ : state) {
    rapidjson::Document document;
    ParseOrFail(json, document);
    model::ObjectStore store;
    for (const rapidjson::Value& item : document["items"].GetArray()) {
      absl::Status status = store.Upsert(model::ObjectKind::kEndpointSlice, item);
      if (!status.ok()) Fail(std::string(status.message()));
    }
    benchmark::DoNotOptimize(store.Snapshot());
  }
  Report(state, json, shape);
}

// Parse + upsert of equal objects into a store that holds them already: a
// relist after a watch expired, where nothing changed.
void BM_RelistUnchanged(benchmark::State& state, const std::string& json, const ListShape& shape) {
  model::ObjectStore store;
  {
    rapidjson::Document document;
    ParseOrFail(json, document);
    for (const rapidjson::Value& item : document["items"].GetArray()) {
      absl::Status status = store.Upsert(model::ObjectKind::kEndpointSlice, item);
      if (!status.ok()) Fail(std::string(status.message()));
    }
  }
  const model::ClusterObjectsPtr before = store.Snapshot();
  for (auto _ : state) {
    rapidjson::Document document;
    ParseOrFail(json, document);
    for (const rapidjson::Value& item : document["items"].GetArray()) {
      benchmark::DoNotOptimize(store.Upsert(model::ObjectKind::kEndpointSlice, item));
    }
    if (store.Snapshot() != before) Fail("an unchanged relist changed the snapshot");
  }
  Report(state, json, shape);
}

}  // namespace
}  // namespace propsy::bench

int main(int argc, char** argv) {
  using namespace propsy::bench;
  const Scale scale = InitBenchmarks(&argc, argv);
  const ListShape shape = ListShapeFor(scale);
  const std::string json = MakeSliceList(shape);
  benchmark::AddCustomContext("slice_list",
                              fmt::format("{} slices x {} endpoints, {} bytes", shape.slices,
                                          shape.endpoints_per_slice, json.size()));
  for (auto* bench : {
           benchmark::RegisterBenchmark("BM_ParseJson", BM_ParseJson, json, shape),
           benchmark::RegisterBenchmark("BM_DecodeSlices", BM_DecodeSlices, json, shape),
           benchmark::RegisterBenchmark("BM_ParseAndUpsert", BM_ParseAndUpsert, json, shape),
           benchmark::RegisterBenchmark("BM_RelistUnchanged", BM_RelistUnchanged, json, shape),
       }) {
    bench->Unit(benchmark::kMillisecond);
  }
  return RunBenchmarks();
}
