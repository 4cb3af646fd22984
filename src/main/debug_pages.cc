#include "main/debug_pages.h"

#include <google/protobuf/util/json_util.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "envoy/service/status/v3/csds.pb.h"

namespace propsy {
namespace {

using JsonWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

// Embeds a protobuf message as JSON (Any payloads are resolved through the
// linked-in descriptors).
void WriteMessage(JsonWriter& out, const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    std::string error = "unprintable: " + std::string(status.message());
    out.String(error.data(), error.size());
    return;
  }
  out.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

void Key(JsonWriter& out, const std::string& key) { out.Key(key.data(), key.size()); }
void Str(JsonWriter& out, const std::string& value) { out.String(value.data(), value.size()); }

}  // namespace

std::string ConfigDumpJson(const std::string& node_id, const xds::SnapshotPtr& snapshot) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  Key(out, "node");
  Str(out, node_id);
  Key(out, "ready");
  out.Bool(snapshot != nullptr);
  if (snapshot != nullptr) {
    Key(out, "types");
    out.StartObject();
    for (int i = 0; i < xds::kResourceTypeCount; ++i) {
      auto type = static_cast<xds::ResourceType>(i);
      const xds::TypeResources& resources = snapshot->Of(type);
      Key(out, std::string(xds::ShortName(type)));
      out.StartObject();
      Key(out, "version");
      Str(out, resources.version);
      Key(out, "resources");
      out.StartArray();
      for (const auto& [name, resource] : resources.by_name) WriteMessage(out, resource->body);
      out.EndArray();
      out.EndObject();
    }
    out.EndObject();
  }
  out.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

std::string NodesJson(const xds::NodeStatusRegistry& registry) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  xds::NodeStatusRegistry::Totals totals = registry.totals();
  out.StartObject();
  Key(out, "connected_streams");
  out.Uint64(registry.ConnectedStreams());
  Key(out, "totals");
  out.StartObject();
  Key(out, "responses");
  out.Uint64(totals.responses);
  Key(out, "acks");
  out.Uint64(totals.acks);
  Key(out, "nacks");
  out.Uint64(totals.nacks);
  Key(out, "identity_rejections");
  out.Uint64(totals.identity_rejections);
  out.EndObject();
  Key(out, "client_status");
  WriteMessage(out, registry.ClientStatus(envoy::service::status::v3::ClientStatusRequest()));
  out.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

std::string ServicesJson(const std::vector<translate::ServiceReport>& services) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartArray();
  for (const translate::ServiceReport& service : services) {
    out.StartObject();
    Key(out, "service");
    Str(out, service.key.ToString());
    Key(out, "governing_cluster");
    Str(out, service.governing_cluster);
    Key(out, "governing_is_local");
    out.Bool(service.governing_is_local);
    Key(out, "definitions");
    out.StartArray();
    for (const std::string& definition : service.definitions) Str(out, definition);
    out.EndArray();
    Key(out, "conditions");
    out.StartArray();
    for (const translate::ServiceCondition& condition : service.conditions) {
      out.StartObject();
      Key(out, "type");
      Str(out, condition.type);
      Key(out, "status");
      Str(out, condition.status ? "True" : "False");
      Key(out, "reason");
      Str(out, condition.reason);
      Key(out, "message");
      Str(out, condition.message);
      out.EndObject();
    }
    out.EndArray();
    out.EndObject();
  }
  out.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

std::string ClustersJson(const std::vector<control::Controller::ClusterStatus>& clusters) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartArray();
  for (const control::Controller::ClusterStatus& cluster : clusters) {
    out.StartObject();
    Key(out, "name");
    Str(out, cluster.info.name);
    Key(out, "role");
    Str(out, cluster.is_config ? "config" : "endpoint");
    Key(out, "source");
    Str(out, cluster.info.source);
    Key(out, "zone");
    Str(out, cluster.info.zone);
    if (!cluster.is_config) {
      Key(out, "priority");
      out.Int(cluster.info.priority);
    }
    Key(out, "synced");
    out.Bool(cluster.synced);
    Key(out, "stale");
    out.Bool(cluster.stale);
    if (cluster.stale) {
      Key(out, "stale_since_unix_ms");
      out.Int64(cluster.stale_since_unix_ms);
    }
    Key(out, "objects");
    out.StartObject();
    Key(out, "services");
    out.Uint64(cluster.services);
    Key(out, "secrets");
    out.Uint64(cluster.secrets);
    Key(out, "endpoint_services");
    out.Uint64(cluster.endpoint_services);
    out.EndObject();
    Key(out, "problems");
    out.StartArray();
    for (const std::string& problem : cluster.problems) Str(out, problem);
    out.EndArray();
    out.EndObject();
  }
  out.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

std::string StatusJson(const status::StatusWriter& writer) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartArray();
  for (size_t i = 0; i < writer.targets().size(); ++i) {
    const status::StatusTarget& target = writer.targets()[i];
    const status::StatusCounters counters = writer.counters(i);
    out.StartObject();
    Key(out, "cluster");
    Str(out, target.name);
    Key(out, "writes_status");
    out.Bool(target.transport != nullptr);
    Key(out, "leader_election");
    out.Bool(target.elector != nullptr);
    if (target.elector != nullptr) {
      Key(out, "lease");
      Str(out, target.elector->options().namespace_name + "/" + target.elector->options().name);
      Key(out, "identity");
      Str(out, target.elector->options().identity);
    }
    Key(out, "leader");
    out.Bool(counters.leader);
    Key(out, "writes");
    out.Uint64(counters.writes);
    Key(out, "conflicts");
    out.Uint64(counters.conflicts);
    Key(out, "errors");
    out.Uint64(counters.errors);
    Key(out, "events_created");
    out.Uint64(counters.events_created);
    if (target.elector != nullptr) {
      Key(out, "report_writes");
      out.Uint64(counters.report_writes);
      Key(out, "report_errors");
      out.Uint64(counters.report_errors);
      Key(out, "peer_reports");
      out.Uint64(counters.peer_reports);
      Key(out, "live_peer_reports");
      out.Uint64(counters.live_peer_reports);
      if (!counters.peer_read_error.empty()) {
        Key(out, "peer_read_error");
        Str(out, counters.peer_read_error);
      }
    }
    Key(out, "events_bumped");
    out.Uint64(counters.events_bumped);
    Key(out, "queued");
    out.Uint64(counters.queued);
    out.EndObject();
  }
  out.EndArray();
  return buffer.GetString();
}

}  // namespace propsy
