#include "status/progress_report.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/content_hash.h"
#include "model/json_fields.h"

namespace propsy::status {
namespace {

constexpr size_t kMaxRejection = 1000;
constexpr size_t kMaxName = 253;

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void String(JsonWriter& out, std::string_view text) {
  out.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

// The objects as one JSON array of [key, generation, acknowledged,
// targeted] with the rejection as a fifth element when there is one: a
// thousand objects fit in some 30 kB.
std::string EncodeObjects(const std::map<model::ObjectKey, ObjectProgress>& objects) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartArray();
  for (const auto& [key, progress] : objects) {
    out.StartArray();
    String(out, key.ToString());
    out.Int64(progress.generation);
    out.Uint64(progress.acknowledged);
    out.Uint64(progress.targeted);
    if (!progress.rejection.empty()) {
      String(out, std::string_view(progress.rejection).substr(0, kMaxRejection));
    }
    out.EndArray();
  }
  out.EndArray();
  return buffer.GetString();
}

absl::StatusOr<std::map<model::ObjectKey, ObjectProgress>> DecodeObjects(std::string_view text) {
  rapidjson::Document json;
  json.Parse(text.data(), text.size());
  if (json.HasParseError() || !json.IsArray()) {
    return absl::InvalidArgumentError("data.objects is not a JSON array");
  }
  std::map<model::ObjectKey, ObjectProgress> objects;
  for (rapidjson::SizeType i = 0; i < json.Size(); ++i) {
    const rapidjson::Value& item = json[i];
    auto bad = [i](std::string_view what) {
      return absl::InvalidArgumentError(fmt::format("data.objects[{}]: {}", i, what));
    };
    if (!item.IsArray() || item.Size() < 4 || item.Size() > 5) {
      return bad("not [key, generation, acknowledged, targeted, rejection?]");
    }
    if (!item[0].IsString()) return bad("the key is not a string");
    const std::string_view key = model::StringOf(item[0]);
    const size_t slash = key.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == key.size()) {
      return bad("the key is not namespace/name");
    }
    if (!item[1].IsInt64() || !item[2].IsUint64() || !item[3].IsUint64()) {
      return bad("generation, acknowledged and targeted must be whole numbers");
    }
    ObjectProgress progress{.generation = item[1].GetInt64(),
                            .acknowledged = item[2].GetUint64(),
                            .targeted = item[3].GetUint64()};
    if (progress.acknowledged > progress.targeted) {
      return bad("more nodes acknowledged than targeted");
    }
    if (item.Size() == 5) {
      if (!item[4].IsString()) return bad("the rejection is not a string");
      progress.rejection = std::string(model::StringOf(item[4]));
    }
    objects[model::ObjectKey{.namespace_name = std::string(key.substr(0, slash)),
                             .name = std::string(key.substr(slash + 1))}] = std::move(progress);
  }
  return objects;
}

std::string DataString(const rapidjson::Value* data, std::string_view name) {
  if (data == nullptr) return "";
  const rapidjson::Value* value = model::FindField(*data, name);
  return value != nullptr && value->IsString() ? std::string(model::StringOf(*value)) : "";
}

absl::StatusOr<ProgressReport> DecodeReport(const rapidjson::Value* data) {
  if (data == nullptr || !data->IsObject()) return absl::InvalidArgumentError("no data");
  ProgressReport report{.replica = DataString(data, "replica"),
                        .generations = DataString(data, "generations"),
                        .objects = {}};
  if (report.replica.empty()) return absl::InvalidArgumentError("data.replica is missing");
  if (report.generations.empty()) {
    return absl::InvalidArgumentError("data.generations is missing");
  }
  const rapidjson::Value* objects = model::FindField(*data, "objects");
  if (objects == nullptr || !objects->IsString()) {
    return absl::InvalidArgumentError("data.objects is missing");
  }
  absl::StatusOr<std::map<model::ObjectKey, ObjectProgress>> decoded =
      DecodeObjects(model::StringOf(*objects));
  if (!decoded.ok()) return decoded.status();
  report.objects = std::move(*decoded);
  return report;
}

}  // namespace

bool ProgressReport::HoldsBack() const {
  for (const auto& [key, progress] : objects) {
    if (!progress.Complete()) return true;
  }
  return false;
}

std::string GenerationsDigest(const std::vector<translate::ObjectReport>& reports,
                              size_t config_cluster) {
  ContentHasher hasher;
  for (const translate::ObjectReport& report : reports) {
    if (report.config_cluster != config_cluster) continue;
    hasher.Add(report.key.ToString());
    hasher.Add(std::to_string(report.generation));
  }
  return hasher.Finish();
}

std::string ReportName(std::string_view lease_name, std::string_view replica) {
  std::string name = fmt::format("{}-progress-{}", lease_name, replica);
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) {
      c = '-';
    }
  }
  if (name.size() > kMaxName) {
    const std::string hash = ContentHash(name).substr(0, 10);
    name = name.substr(0, kMaxName - hash.size() - 1) + "-" + hash;
  }
  while (!name.empty() && (name.back() == '-' || name.back() == '.')) name.pop_back();
  return name;
}

std::string EncodeReport(const ProgressReport& report, const std::string& name,
                         const std::string& namespace_name, const std::string& lease_name,
                         const std::string& renew_time) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  out.StartObject();
  out.Key("apiVersion");
  out.String("v1");
  out.Key("kind");
  out.String("ConfigMap");
  out.Key("metadata");
  out.StartObject();
  out.Key("name");
  String(out, name);
  out.Key("namespace");
  String(out, namespace_name);
  out.Key("labels");
  out.StartObject();
  out.Key("app.kubernetes.io/name");
  out.String("propsy");
  out.Key(kReportLabel);
  String(out, lease_name);
  out.EndObject();
  out.EndObject();
  out.Key("data");
  out.StartObject();
  out.Key("replica");
  String(out, report.replica);
  out.Key("renewTime");
  String(out, renew_time);
  out.Key("generations");
  String(out, report.generations);
  out.Key("objects");
  String(out, EncodeObjects(report.objects));
  out.EndObject();
  out.EndObject();
  return buffer.GetString();
}

std::string ReportCollectionPath(const std::string& namespace_name) {
  return fmt::format("/api/v1/namespaces/{}/configmaps", namespace_name);
}

std::string ReportListPath(const std::string& namespace_name, const std::string& lease_name) {
  // '/' and '=' of the selector, escaped for the query.
  return fmt::format("{}?labelSelector=propsy.seznam.cz%2Fprogress-report%3D{}",
                     ReportCollectionPath(namespace_name), lease_name);
}

absl::StatusOr<std::vector<ListedReport>> DecodeReportList(std::string_view body) {
  rapidjson::Document list;
  list.Parse(body.data(), body.size());
  if (list.HasParseError() || !list.IsObject()) {
    return absl::InvalidArgumentError("the ConfigMap list is not a JSON object");
  }
  const rapidjson::Value* items = model::FindField(list, "items");
  if (items == nullptr || !(items->IsArray() || items->IsNull())) {
    return absl::InvalidArgumentError("the ConfigMap list has no items array");
  }
  std::vector<ListedReport> reports;
  if (items->IsNull()) return reports;
  for (const rapidjson::Value& item : items->GetArray()) {
    if (!item.IsObject()) continue;
    const rapidjson::Value* metadata = model::FindField(item, "metadata");
    ListedReport listed{.name = DataString(metadata, "name"),
                        .resource_version = DataString(metadata, "resourceVersion"),
                        .report = absl::InvalidArgumentError("")};
    if (listed.name.empty()) continue;
    listed.report = DecodeReport(model::FindField(item, "data"));
    reports.push_back(std::move(listed));
  }
  return reports;
}

}  // namespace propsy::status
