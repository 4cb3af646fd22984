#include "model/manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "model/test_util.h"

namespace propsy::model {
namespace {

using ::propsy::model::testing::ToJson;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<ManifestDocument> MustParse(std::string_view text) {
  absl::StatusOr<std::vector<ManifestDocument>> documents = ParseManifest(text, "m.yaml");
  EXPECT_TRUE(documents.ok()) << documents.status();
  if (!documents.ok()) return {};
  return *std::move(documents);
}

std::string ParseError(std::string_view text) {
  absl::StatusOr<std::vector<ManifestDocument>> documents = ParseManifest(text, "m.yaml");
  EXPECT_FALSE(documents.ok()) << text;
  return documents.ok() ? "" : std::string(documents.status().message());
}

TEST(ManifestTest, SplitsDocumentsAndSkipsEmptyOnes) {
  const std::vector<ManifestDocument> documents = MustParse(R"(---
# first
kind: A
---
---
# only a comment
---
kind: B
...
---
kind: C
---
)");
  ASSERT_EQ(documents.size(), 3u);
  EXPECT_EQ(ToJson(documents[0].object), R"({"kind":"A"})");
  EXPECT_EQ(documents[0].line, 3);
  EXPECT_EQ(ToJson(documents[1].object), R"({"kind":"B"})");
  EXPECT_EQ(documents[1].line, 8);
  EXPECT_EQ(ToJson(documents[2].object), R"({"kind":"C"})");
  EXPECT_EQ(documents[2].line, 11);
}

TEST(ManifestTest, EmptyTextHasNoDocuments) {
  EXPECT_TRUE(MustParse("").empty());
  EXPECT_TRUE(MustParse("# nothing\n").empty());
}

TEST(ManifestTest, ScalarsFollowTheCoreSchema) {
  const std::vector<ManifestDocument> documents = MustParse(R"(
int: 80
quoted: "80"
single: '80'
negative: -5
plus: +7
hex: 0x1F
octal: 0o17
big: 18446744073709551615
huge: 123456789012345678901234567890
float: 1.5
exp: 1e3
inf: -.inf
nan: .NaN
yes: true
no: FALSE
quotedBool: "true"
word: yes
null1: null
null2: ~
null3:
quotedNull: "null"
tagged: !!str 5
block: |
  line
version: 1.2.3
date: 2024-01-02
)");
  ASSERT_EQ(documents.size(), 1u);
  const rapidjson::Value& o = documents[0].object;
  EXPECT_TRUE(o["int"].IsInt64());
  EXPECT_EQ(o["int"].GetInt64(), 80);
  EXPECT_STREQ(o["quoted"].GetString(), "80");
  EXPECT_STREQ(o["single"].GetString(), "80");
  EXPECT_EQ(o["negative"].GetInt64(), -5);
  EXPECT_EQ(o["plus"].GetInt64(), 7);
  EXPECT_EQ(o["hex"].GetInt64(), 31);
  EXPECT_EQ(o["octal"].GetInt64(), 15);
  EXPECT_TRUE(o["big"].IsUint64());
  EXPECT_FALSE(o["big"].IsInt64());
  EXPECT_TRUE(o["huge"].IsDouble());
  EXPECT_DOUBLE_EQ(o["float"].GetDouble(), 1.5);
  EXPECT_TRUE(o["exp"].IsDouble());
  EXPECT_DOUBLE_EQ(o["exp"].GetDouble(), 1000);
  EXPECT_TRUE(std::isinf(o["inf"].GetDouble()));
  EXPECT_LT(o["inf"].GetDouble(), 0);
  EXPECT_TRUE(std::isnan(o["nan"].GetDouble()));
  EXPECT_TRUE(o["yes"].IsTrue());
  EXPECT_TRUE(o["no"].IsFalse());
  EXPECT_STREQ(o["quotedBool"].GetString(), "true");
  EXPECT_STREQ(o["word"].GetString(), "yes");  // YAML 1.2: not a bool
  EXPECT_TRUE(o["null1"].IsNull());
  EXPECT_TRUE(o["null2"].IsNull());
  EXPECT_TRUE(o["null3"].IsNull());
  EXPECT_STREQ(o["quotedNull"].GetString(), "null");
  EXPECT_STREQ(o["tagged"].GetString(), "5");
  EXPECT_STREQ(o["block"].GetString(), "line\n");
  EXPECT_STREQ(o["version"].GetString(), "1.2.3");
  EXPECT_STREQ(o["date"].GetString(), "2024-01-02");
}

TEST(ManifestTest, NestedStructures) {
  const std::vector<ManifestDocument> documents = MustParse(R"(
metadata:
  labels: {a: b}
spec:
  nodes:
    - one
    - "*"
  empty: []
  map: {}
)");
  ASSERT_EQ(documents.size(), 1u);
  EXPECT_EQ(
      ToJson(documents[0].object),
      R"({"metadata":{"labels":{"a":"b"}},"spec":{"nodes":["one","*"],"empty":[],"map":{}}})");
}

TEST(ManifestTest, AcceptsJson) {
  const std::vector<ManifestDocument> documents = MustParse(
      R"({"apiVersion": "v1", "kind": "Secret", "data": {"a": "b\/c\u00e9"}, "n": [1, 2.5, true, null]})");
  ASSERT_EQ(documents.size(), 1u);
  EXPECT_EQ(ToJson(documents[0].object), R"({"apiVersion":"v1","kind":"Secret","data":{"a":"b/c)"
                                         "\xc3\xa9"
                                         R"("},"n":[1,2.5,true,null]})");
  EXPECT_EQ(documents[0].line, 1);
}

TEST(ManifestTest, ExpandsLists) {
  const std::vector<ManifestDocument> documents = MustParse(R"(apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Service
    metadata: {name: a}
  - apiVersion: v1
    kind: Service
    metadata: {name: b}
---
kind: List
items: []
---
kind: Other
)");
  ASSERT_EQ(documents.size(), 3u);
  EXPECT_STREQ(documents[0].object["metadata"]["name"].GetString(), "a");
  EXPECT_EQ(documents[0].line, 4);
  EXPECT_STREQ(documents[1].object["metadata"]["name"].GetString(), "b");
  EXPECT_EQ(documents[1].line, 7);
  EXPECT_STREQ(documents[2].object["kind"].GetString(), "Other");
}

TEST(ManifestTest, ErrorsCarryFileAndLine) {
  EXPECT_THAT(ParseError("kind: A\nspec:\n  nodes: [a, b\n"), StartsWith("m.yaml:"));
  EXPECT_EQ(ParseError("a: 1\nb: 2\nc: d: e\n"), "m.yaml:3:5: illegal map value");
  EXPECT_THAT(ParseError("a: 1\nb:\n  c: 1\n d: 2\n"), StartsWith("m.yaml:4:"));
  EXPECT_THAT(ParseError("kind: A\n---\n- a\n- b\n"),
              HasSubstr("m.yaml:3:1: a document must be a mapping (an object), got a list"));
  EXPECT_THAT(ParseError("just text\n"), HasSubstr("m.yaml:1:1: a document must be a mapping"));
  EXPECT_THAT(ParseError("a: 1\nb: 2\na: 3\n"), HasSubstr("m.yaml:3:1: duplicate key \"a\""));
  EXPECT_THAT(ParseError("? [a, b]\n: c\n"), HasSubstr("a key must be a string, got a list"));
  EXPECT_THAT(ParseError("kind: List\nitems: {a: b}\n"),
              HasSubstr("m.yaml:1:1: items of a List must be a list, got a mapping"));
  EXPECT_THAT(ParseError("kind: List\nitems: [a]\n"),
              HasSubstr("an item of a List must be a mapping"));
}

// yaml-cpp 0.7 reports empty documents forever where it cannot get past a
// stray comma; the parse must end with an error instead.
TEST(ManifestTest, StrayCommasEndWithAnError) {
  EXPECT_THAT(ParseError("\"\",\n"), HasSubstr("m.yaml:1:"));
  EXPECT_THAT(ParseError(","), HasSubstr("m.yaml:1:1: unexpected \",\""));
  EXPECT_THAT(ParseError("a: 1\n---\n,\n"), HasSubstr("m.yaml:3:1: unexpected \",\""));
}

TEST(ManifestTest, Aliases) {
  EXPECT_THAT(ParseError("a: &x [*x]\n"), HasSubstr("an alias refers to a node that contains it"));
  const std::vector<ManifestDocument> documents =
      MustParse("&k key: 1\nother: *k\nnested: {*k : 2}\n");
  ASSERT_EQ(documents.size(), 1u);
  EXPECT_EQ(ToJson(documents[0].object), R"({"key":1,"other":"key","nested":{"key":2}})");
  EXPECT_THAT(ParseError("&k key: 1\n*k : 2\n"), HasSubstr("m.yaml:2:1: duplicate key \"key\""));
}

TEST(ManifestTest, LimitsNestingAndAliasExpansion) {
  std::string deep;
  for (int i = 0; i < 150; ++i) deep += "[";
  for (int i = 0; i < 150; ++i) deep += "]";
  EXPECT_THAT(ParseError("a: " + deep + "\n"), HasSubstr("nested deeper than 100 levels"));

  // "Billion laughs": each level doubles ten times.
  std::string laughs = "a: &a [\"" + std::string(1000, 'x') + "\"]\n";
  char previous = 'a';
  for (char level = 'b'; level <= 'k'; ++level) {
    laughs += std::string(1, level) + ": &" + level + " [";
    for (int i = 0; i < 10; ++i) laughs += std::string(i ? ", *" : "*") + previous;
    laughs += "]\n";
    previous = level;
  }
  EXPECT_THAT(ParseError(laughs), HasSubstr("expands too much"));

  // Modest use of aliases is fine.
  const std::vector<ManifestDocument> documents = MustParse("a: &x {k: v}\nb: *x\n");
  ASSERT_EQ(documents.size(), 1u);
  EXPECT_EQ(ToJson(documents[0].object), R"({"a":{"k":"v"},"b":{"k":"v"}})");
}

}  // namespace
}  // namespace propsy::model
