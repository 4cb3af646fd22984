// The CRD in deploy/ and the decoder must agree: every field the CRD's
// schema offers decodes, and every range the schema states is enforced by
// the decoder too (ProPsy never relies on the API server's validation).

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "model/manifest.h"
#include "model/propsy_service.h"

namespace propsy::model {
namespace {

const rapidjson::Value& Member(const rapidjson::Value& object, const char* name) {
  static const rapidjson::Value kNull;
  auto it = object.FindMember(name);
  return it == object.MemberEnd() ? kNull : it->value;
}

rapidjson::Document LoadCrd() {
  std::ifstream file(std::string(PROPSY_SOURCE_DIR) + "/deploy/kubernetes/crd-propsyservice.yaml");
  std::stringstream text;
  text << file.rdbuf();
  auto documents = ParseManifest(text.str(), "crd-propsyservice.yaml");
  EXPECT_TRUE(documents.ok()) << documents.status();
  rapidjson::Document crd;
  if (documents.ok() && !documents->empty())
    crd.CopyFrom((*documents)[0].object, crd.GetAllocator());
  return crd;
}

// A valid service (every required field) plus `field: value`.
absl::StatusOr<ProPsyService> DecodeWith(const std::string& field, const std::string& value) {
  std::map<std::string, std::string> spec = {
      {"service", "web"}, {"listen", "\"8080\""}, {"nodes", "[\"*\"]"}, {"percent", "100"}};
  if (field != "servicePort") spec["servicePort"] = "80";
  if (field == "canaryPercent") spec["canaryService"] = "web-canary";
  if (field.starts_with("healthCheck") && field != "healthCheckType") {
    spec["healthCheckType"] = "HTTP";
  }
  if (field.starts_with("healthCheckOutlier") && field != "healthCheckOutlierEnabled") {
    spec["healthCheckOutlierEnabled"] = "true";
  }
  spec[field] = value;
  std::string yaml =
      "apiVersion: propsy.seznam.cz/v1\nkind: ProPsyService\n"
      "metadata: {name: web, namespace: shop}\nspec:\n";
  for (const auto& [name, text] : spec) yaml += "  " + name + ": " + text + "\n";
  auto documents = ParseManifest(yaml, "test.yaml");
  if (!documents.ok()) return documents.status();
  return DecodeProPsyService((*documents)[0].object);
}

// A value the schema allows for `property`.
std::string ValidValue(const rapidjson::Value& property) {
  std::string type = Member(property, "type").GetString();
  if (type == "integer") {
    const rapidjson::Value& minimum = Member(property, "minimum");
    return std::to_string(minimum.IsInt64() ? std::max<int64_t>(minimum.GetInt64(), 1) : 1);
  }
  if (type == "boolean") return "true";
  if (type == "array") return "[node-a]";
  const rapidjson::Value& values = Member(property, "enum");
  if (values.IsArray()) return values[0].GetString();
  if (Member(property, "pattern").IsString()) return "/x/";
  return "x";
}

TEST(CrdSchemaTest, EveryFieldOfTheSchemaDecodes) {
  rapidjson::Document crd = LoadCrd();
  const rapidjson::Value& spec = Member(
      Member(Member(Member(Member(crd, "spec"), "versions")[0], "schema"), "openAPIV3Schema"),
      "properties");
  const rapidjson::Value& fields = Member(Member(spec, "spec"), "properties");
  ASSERT_TRUE(fields.IsObject());
  int checked = 0;
  for (const auto& field : fields.GetObject()) {
    std::string name = field.name.GetString();
    std::string value = name == "listen" ? "\"0:8080\"" : ValidValue(field.value);
    if (name == "path") continue;  // alias of pathPrefix, covered below with it
    auto decoded = DecodeWith(name, value);
    EXPECT_TRUE(decoded.ok()) << name << ": " << value << ": " << decoded.status();
    ++checked;
  }
  EXPECT_TRUE(DecodeWith("path", "/x/").ok());
  EXPECT_GE(checked, 34);
}

TEST(CrdSchemaTest, EveryRangeOfTheSchemaIsEnforcedByTheDecoder) {
  rapidjson::Document crd = LoadCrd();
  const rapidjson::Value& fields = Member(
      Member(
          Member(Member(Member(Member(crd, "spec"), "versions")[0], "schema"), "openAPIV3Schema"),
          "properties"),
      "spec");
  int checked = 0;
  for (const auto& field : Member(fields, "properties").GetObject()) {
    std::string name = field.name.GetString();
    const rapidjson::Value& maximum = Member(field.value, "maximum");
    const rapidjson::Value& minimum = Member(field.value, "minimum");
    if (maximum.IsInt64()) {
      auto decoded = DecodeWith(name, std::to_string(maximum.GetInt64() + 1));
      ASSERT_FALSE(decoded.ok()) << name << " above its maximum";
      EXPECT_NE(decoded.status().message().find(name), absl::string_view::npos) << decoded.status();
      ++checked;
    }
    if (minimum.IsInt64()) {
      auto decoded = DecodeWith(name, std::to_string(minimum.GetInt64() - 1));
      ASSERT_FALSE(decoded.ok()) << name << " below its minimum";
      ++checked;
    }
    const rapidjson::Value& values = Member(field.value, "enum");
    if (values.IsArray() && name != "type") {
      EXPECT_FALSE(DecodeWith(name, "NOPE").ok()) << name;
      ++checked;
    }
  }
  EXPECT_GE(checked, 26);
}

}  // namespace
}  // namespace propsy::model
