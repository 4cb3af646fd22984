#include "status/status_patch.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "model/json_fields.h"

namespace propsy::status {

std::string StatusPath(const model::ObjectKey& key) {
  return fmt::format("/apis/propsy.seznam.cz/v1/namespaces/{}/propsyservices/{}/status",
                     key.namespace_name, key.name);
}

std::string PatchBody(const model::ServiceStatus& status, const std::string& resource_version) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  auto string = [&out](const std::string& text) {
    out.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
  };
  out.StartObject();
  out.Key("metadata");
  out.StartObject();
  out.Key("resourceVersion");
  string(resource_version);
  out.EndObject();
  out.Key("status");
  out.StartObject();
  out.Key("observedGeneration");
  out.Int64(status.observed_generation);
  out.Key("conditions");
  out.StartArray();
  for (const model::Condition& condition : status.conditions) {
    out.StartObject();
    out.Key("type");
    string(condition.type);
    out.Key("status");
    string(condition.status);
    out.Key("reason");
    string(condition.reason);
    out.Key("message");
    string(condition.message);
    out.Key("observedGeneration");
    out.Int64(condition.observed_generation);
    out.Key("lastTransitionTime");
    string(condition.last_transition_time);
    out.EndObject();
  }
  out.EndArray();
  out.EndObject();
  out.EndObject();
  return buffer.GetString();
}

std::optional<ObjectRead> ParseObject(const std::string& body) {
  rapidjson::Document object;
  object.Parse(body.data(), body.size());
  if (object.HasParseError() || !object.IsObject()) return std::nullopt;
  const rapidjson::Value* metadata = model::FindField(object, "metadata");
  if (metadata == nullptr) return std::nullopt;
  ObjectRead read;
  if (const rapidjson::Value* uid = model::FindField(*metadata, "uid"); uid && uid->IsString()) {
    read.uid = std::string(model::StringOf(*uid));
  }
  if (const rapidjson::Value* version = model::FindField(*metadata, "resourceVersion");
      version && version->IsString()) {
    read.resource_version = std::string(model::StringOf(*version));
  }
  if (const rapidjson::Value* generation = model::FindField(*metadata, "generation");
      generation && generation->IsInt64()) {
    read.generation = generation->GetInt64();
  }
  read.status = model::DecodeServiceStatus(object);
  return read;
}

}  // namespace propsy::status
