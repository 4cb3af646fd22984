// Golden-file tests: each testdata/<case>/in/ describes clusters holding YAML
// manifests; out/ holds the translated resources of one node, the service
// reports and the manifests' decode errors as YAML. PROPSY_UPDATE_GOLDEN=1 rewrites out/ instead of
// comparing (review the diff before committing).

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "model/cluster_objects.h"
#include "model/manifest.h"
#include "translate/golden_diff.h"
#include "translate/proto_validation.h"
#include "translate/service_status.h"
#include "translate/translate.h"

namespace propsy::translate {
namespace {

namespace fs = std::filesystem;

const fs::path kTestData = PROPSY_TRANSLATE_TESTDATA;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Text(const rapidjson::Value& object, const char* field) {
  auto it = object.FindMember(field);
  return it != object.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

// Every YAML file of `dir`, in name order, upserted into one store: a later
// file holding an object of the same name is its next version. Decode
// errors are part of some cases; they are listed in `errors`
// ("DIR/FILE:LINE: error") and end up in a golden file of their own.
model::ClusterObjectsPtr LoadCluster(const fs::path& dir, std::vector<std::string>& errors) {
  model::ObjectStore store;
  std::vector<fs::path> files;
  for (const auto& file : fs::directory_iterator(dir)) files.push_back(file.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    auto documents = model::ParseManifest(ReadFile(file), file.filename().string());
    EXPECT_TRUE(documents.ok()) << documents.status();
    if (!documents.ok()) continue;
    for (const model::ManifestDocument& document : *documents) {
      const absl::Status status = store.Upsert(document.object);
      if (!status.ok()) {
        errors.push_back(fmt::format("{}/{}:{}: {}", dir.filename().string(),
                                     file.filename().string(), document.line,
                                     std::string(status.message())));
      }
    }
  }
  return store.Snapshot();
}

struct GoldenCase {
  model::World world;
  std::vector<std::string> decode_errors;
  NodeContext node;
  TranslateOptions options;
};

// in/world.yaml: defaultZone, xdsCluster (optional), node {id, zone, ads},
// configClusters [{name, zone, dir}], endpointClusters [{name, zone,
// priority, dir}].
GoldenCase LoadCase(const fs::path& in) {
  GoldenCase golden;
  auto documents = model::ParseManifest(ReadFile(in / "world.yaml"), "world.yaml");
  EXPECT_TRUE(documents.ok() && documents->size() == 1) << in;
  if (!documents.ok() || documents->size() != 1) return golden;
  const rapidjson::Value& root = (*documents)[0].object;
  golden.options.default_zone = Text(root, "defaultZone");
  if (!Text(root, "xdsCluster").empty()) golden.options.xds_cluster_name = Text(root, "xdsCluster");
  if (root.HasMember("node")) {
    const rapidjson::Value& node = root["node"];
    golden.node.id = Text(node, "id");
    golden.node.zone = Text(node, "zone");
    golden.node.uses_ads = node.HasMember("ads") && node["ads"].IsBool() && node["ads"].GetBool();
  }
  auto clusters = [&in, &golden](const rapidjson::Value& list,
                                 std::vector<model::ClusterView>& out) {
    for (const rapidjson::Value& item : list.GetArray()) {
      model::ClusterView view;
      view.info.name = Text(item, "name");
      view.info.zone = Text(item, "zone");
      view.info.source = "dir:" + Text(item, "dir");
      if (item.HasMember("priority")) view.info.priority = item["priority"].GetInt();
      view.objects = LoadCluster(in / Text(item, "dir"), golden.decode_errors);
      view.synced = true;
      out.push_back(std::move(view));
    }
  };
  if (root.HasMember("configClusters")) {
    clusters(root["configClusters"], golden.world.config_clusters);
  }
  if (root.HasMember("endpointClusters")) {
    clusters(root["endpointClusters"], golden.world.endpoint_clusters);
  }
  return golden;
}

// A parsed JSON value as block-style YAML, keeping the order of members;
// multi-line strings (PEM) become literal blocks.
void EmitBlock(const YAML::Node& node, YAML::Emitter& out) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      if (node.size() == 0) out << YAML::Flow;  // "ads: {}"
      out << YAML::BeginMap;
      for (const auto& member : node) {
        out << YAML::Key << member.first.Scalar() << YAML::Value;
        EmitBlock(member.second, out);
      }
      out << YAML::EndMap;
      return;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& item : node) EmitBlock(item, out);
      out << YAML::EndSeq;
      return;
    case YAML::NodeType::Scalar:
      if (node.Scalar().find('\n') != std::string::npos) out << YAML::Literal;
      out << node.Scalar();
      return;
    default:
      out << YAML::Null;
      return;
  }
}

template <typename Message>
std::string ResourcesYaml(const std::vector<Message>& messages) {
  YAML::Emitter out;
  out << YAML::BeginSeq;
  for (const Message& message : messages) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(message, &json, options).ok());
    EmitBlock(YAML::Load(json), out);
  }
  out << YAML::EndSeq;
  return std::string(out.c_str()) + "\n";
}

std::string ServicesYaml(const std::vector<ServiceReport>& reports) {
  YAML::Emitter out;
  out << YAML::BeginSeq;
  for (const ServiceReport& report : reports) {
    out << YAML::BeginMap;
    out << YAML::Key << "key" << YAML::Value << report.key.ToString();
    out << YAML::Key << "governing_cluster" << YAML::Value << report.governing_cluster;
    out << YAML::Key << "governing_is_local" << YAML::Value << report.governing_is_local;
    out << YAML::Key << "definitions" << YAML::Value << report.definitions;
    out << YAML::Key << "conditions" << YAML::Value << YAML::BeginSeq;
    for (const ServiceCondition& condition : report.conditions) {
      out << YAML::BeginMap;
      out << YAML::Key << "type" << YAML::Value << condition.type;
      out << YAML::Key << "status" << YAML::Value << condition.status;
      out << YAML::Key << "reason" << YAML::Value << condition.reason;
      out << YAML::Key << "message" << YAML::Value << condition.message;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::EndMap;
  }
  out << YAML::EndSeq;
  return std::string(out.c_str()) + "\n";
}

std::string ListYaml(const std::vector<std::string>& items) {
  YAML::Emitter out;
  out << items;
  return std::string(out.c_str()) + "\n";
}

template <typename Message>
void ExpectValid(const std::vector<Message>& messages) {
  for (const Message& message : messages) {
    EXPECT_EQ(test::ValidationErrors(message), std::vector<std::string>{})
        << message.ShortDebugString();
  }
}

std::map<std::string, std::string> Render(const GoldenCase& golden) {
  const NodeResources resources = Translate(golden.world, golden.node, golden.options);
  ExpectValid(resources.listeners);
  ExpectValid(resources.routes);
  ExpectValid(resources.clusters);
  ExpectValid(resources.endpoints);
  ExpectValid(resources.secrets);
  return {{"listeners.yaml", ResourcesYaml(resources.listeners)},
          {"routes.yaml", ResourcesYaml(resources.routes)},
          {"clusters.yaml", ResourcesYaml(resources.clusters)},
          {"endpoints.yaml", ResourcesYaml(resources.endpoints)},
          {"secrets.yaml", ResourcesYaml(resources.secrets)},
          {"services.yaml", ServicesYaml(DescribeServices(golden.world, golden.options))},
          {"decode_errors.yaml", ListYaml(golden.decode_errors)}};
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kTestData)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class GoldenTest : public testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, MatchesOut) {
  const fs::path dir = kTestData / GetParam();
  const std::map<std::string, std::string> actual = Render(LoadCase(dir / "in"));
  const char* update = std::getenv("PROPSY_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    fs::create_directories(dir / "out");
    for (const auto& [file, text] : actual) std::ofstream(dir / "out" / file) << text;
    return;
  }
  for (const auto& [file, text] : actual) {
    const fs::path path = dir / "out" / file;
    ASSERT_TRUE(fs::exists(path)) << path << " is missing; run with PROPSY_UPDATE_GOLDEN=1";
    const std::string expected = ReadFile(path);
    // Not EXPECT_EQ: the whole texts would drown the diff.
    EXPECT_TRUE(expected == text) << path << " differs (- expected, + actual); "
                                  << "PROPSY_UPDATE_GOLDEN=1 regenerates it:\n"
                                  << test::UnifiedDiff(expected, text);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenTest, testing::ValuesIn(CaseNames()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(GoldenCases, AtLeastFourExist) { EXPECT_GE(CaseNames().size(), 4u); }

}  // namespace
}  // namespace propsy::translate
