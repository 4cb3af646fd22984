#include "model/service_status.h"

#include "model/json_fields.h"

namespace propsy::model {
namespace {

std::string StringField(const rapidjson::Value& object, std::string_view name) {
  const rapidjson::Value* value = FindField(object, name);
  return value != nullptr && value->IsString() ? std::string(StringOf(*value)) : std::string();
}

int64_t IntField(const rapidjson::Value& object, std::string_view name) {
  const rapidjson::Value* value = FindField(object, name);
  return value != nullptr && value->IsInt64() ? value->GetInt64() : 0;
}

}  // namespace

ServiceStatus DecodeServiceStatus(const rapidjson::Value& object) {
  ServiceStatus status;
  const rapidjson::Value* body = FindField(object, "status");
  if (body == nullptr || !body->IsObject()) return status;
  status.observed_generation = IntField(*body, "observedGeneration");
  const rapidjson::Value* conditions = FindField(*body, "conditions");
  if (conditions == nullptr || !conditions->IsArray()) return status;
  for (const rapidjson::Value& item : conditions->GetArray()) {
    if (!item.IsObject()) continue;
    Condition condition{.type = StringField(item, "type"),
                        .status = StringField(item, "status"),
                        .reason = StringField(item, "reason"),
                        .message = StringField(item, "message"),
                        .observed_generation = IntField(item, "observedGeneration"),
                        .last_transition_time = StringField(item, "lastTransitionTime")};
    if (condition.type.empty()) continue;
    status.conditions.push_back(std::move(condition));
  }
  return status;
}

ShownStatus DecodeShownStatus(const rapidjson::Value& object) {
  ShownStatus shown{.resource_version = {}, .status = DecodeServiceStatus(object)};
  const rapidjson::Value* metadata = FindField(object, "metadata");
  if (metadata != nullptr && metadata->IsObject()) {
    shown.resource_version = StringField(*metadata, "resourceVersion");
  }
  return shown;
}

}  // namespace propsy::model
