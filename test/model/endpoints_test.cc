#include "model/endpoints.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "model/test_util.h"

namespace propsy::model {
namespace {

using ::propsy::model::testing::Patched;
using ::propsy::model::testing::ToJson;
using ::propsy::model::testing::Yaml;
using ::testing::HasSubstr;

constexpr char kSlice[] = R"(
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc12
  namespace: shop
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
  - name: http
    port: 8080
    protocol: TCP
  - name: metrics
    port: 9090
endpoints:
  - addresses: ["10.0.0.1"]
    conditions: {ready: true}
    zone: zone-a
    nodeName: node-1
  - addresses: ["10.0.0.2"]
)";

EndpointSlice MustDecode(const rapidjson::Value& object) {
  absl::StatusOr<EndpointSlice> slice = DecodeEndpointSlice(object);
  EXPECT_TRUE(slice.ok()) << slice.status() << "\n" << ToJson(object);
  return slice.ok() ? *slice : EndpointSlice{};
}

TEST(EndpointSliceTest, Decodes) {
  const EndpointSlice slice = MustDecode(Yaml(kSlice));
  EXPECT_EQ(slice.meta.key, (ObjectKey{"shop", "web-abc12"}));
  EXPECT_EQ(slice.service_name, "web");
  EXPECT_EQ(slice.ServiceKey(), (ObjectKey{"shop", "web"}));
  EXPECT_EQ(slice.address_type, AddressType::kIpv4);
  EXPECT_EQ(slice.ports, (std::vector<EndpointPort>{{"http", 8080}, {"metrics", 9090}}));
  ASSERT_EQ(slice.endpoints.size(), 2u);
  EXPECT_EQ(slice.endpoints[0], (EndpointEntry{.addresses = {"10.0.0.1"},
                                               .ready = true,
                                               .serving = true,
                                               .terminating = false,
                                               .zone = "zone-a"}));
  EXPECT_EQ(slice.endpoints[1].addresses, std::vector<std::string>{"10.0.0.2"});
  EXPECT_FALSE(slice.from_core_endpoints);
}

TEST(EndpointSliceTest, ListItemsWithoutTypeMetaDecode) {
  const EndpointSlice slice =
      MustDecode(Patched(Yaml(kSlice), "", "{apiVersion: null, kind: null}"));
  EXPECT_EQ(slice.service_name, "web");
}

TEST(EndpointSliceTest, PortsWithoutNumberAreSkippedAndEmptyListsAreFine) {
  const EndpointSlice slice =
      MustDecode(Patched(Yaml(kSlice), "", "{ports: [{name: all}, {port: 80}], endpoints: null}"));
  EXPECT_EQ(slice.ports, (std::vector<EndpointPort>{{"", 80}}));
  EXPECT_TRUE(slice.endpoints.empty());
}

struct ConditionsCase {
  std::string conditions;  // YAML for the conditions member; empty = absent
  bool ready;
  bool serving;
  bool terminating;
};

class EndpointConditionsTest : public ::testing::TestWithParam<ConditionsCase> {};

TEST_P(EndpointConditionsTest, MapsLikeKubernetes) {
  const ConditionsCase& c = GetParam();
  std::string endpoint = "{addresses: [\"10.0.0.9\"]";
  if (!c.conditions.empty()) endpoint += ", conditions: " + c.conditions;
  endpoint += "}";
  const EndpointSlice slice =
      MustDecode(Patched(Yaml(kSlice), "", "endpoints: [" + endpoint + "]"));
  ASSERT_EQ(slice.endpoints.size(), 1u);
  EXPECT_EQ(slice.endpoints[0].ready, c.ready) << c.conditions;
  EXPECT_EQ(slice.endpoints[0].serving, c.serving) << c.conditions;
  EXPECT_EQ(slice.endpoints[0].terminating, c.terminating) << c.conditions;
}

INSTANTIATE_TEST_SUITE_P(
    Conditions, EndpointConditionsTest,
    ::testing::Values(ConditionsCase{"", true, true, false},
                      ConditionsCase{"{}", true, true, false},
                      ConditionsCase{"{ready: null}", true, true, false},
                      ConditionsCase{"{ready: false}", false, false, false},
                      ConditionsCase{"{ready: true, serving: false}", true, false, false},
                      ConditionsCase{"{ready: false, serving: true, terminating: true}", false,
                                     true, true},
                      ConditionsCase{"{serving: false, terminating: true}", true, false, true}));

TEST(EndpointSliceTest, AddressesAreValidatedPerAddressType) {
  const EndpointSlice v6 = MustDecode(Patched(
      Yaml(kSlice), "", "{addressType: IPv6, endpoints: [{addresses: [\"2001:DB8:0::1\"]}]}"));
  EXPECT_EQ(v6.address_type, AddressType::kIpv6);
  EXPECT_EQ(v6.endpoints[0].addresses, std::vector<std::string>{"2001:db8::1"});
  const EndpointSlice fqdn = MustDecode(Patched(
      Yaml(kSlice), "", "{addressType: FQDN, endpoints: [{addresses: [backend.example.com]}]}"));
  EXPECT_EQ(fqdn.address_type, AddressType::kFqdn);
  EXPECT_EQ(fqdn.endpoints[0].addresses, std::vector<std::string>{"backend.example.com"});
}

struct BadCase {
  std::string name;
  std::string patch;  // applied to the root
  std::string error;
};

class EndpointSliceBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(EndpointSliceBadTest, NamesTheField) {
  const BadCase& c = GetParam();
  const rapidjson::Document object = Patched(Yaml(kSlice), "", c.patch);
  absl::StatusOr<EndpointSlice> slice = DecodeEndpointSlice(object);
  ASSERT_FALSE(slice.ok()) << ToJson(object);
  EXPECT_THAT(std::string(slice.status().message()), HasSubstr(c.error)) << ToJson(object);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, EndpointSliceBadTest,
    ::testing::Values(
        BadCase{"NoServiceLabel", "metadata: {name: s, labels: {app: web}}",
                "metadata.labels[kubernetes.io/service-name]: missing"},
        BadCase{"EmptyServiceLabel",
                "metadata: {name: s, labels: {kubernetes.io/service-name: \"\"}}",
                "metadata.labels[kubernetes.io/service-name]: must not be empty"},
        BadCase{"NoName", "metadata: {labels: {kubernetes.io/service-name: web}}",
                "metadata.name: missing"},
        BadCase{"WrongKind", "kind: Endpoints", "kind: must be EndpointSlice"},
        BadCase{"WrongApiVersion", "apiVersion: discovery.k8s.io/v1beta1",
                "apiVersion: must be discovery.k8s.io/v1"},
        BadCase{"NoAddressType", "addressType: null", "addressType: missing"},
        BadCase{"BadAddressType", "addressType: ipv4",
                "addressType: must be IPv4, IPv6 or FQDN, got \"ipv4\""},
        BadCase{"Ipv6InIpv4Slice", "endpoints: [{addresses: [\"::1\"]}]",
                "endpoints[0].addresses[0]: not an IPv4 address: \"::1\""},
        BadCase{"Ipv4InIpv6Slice", "{addressType: IPv6, endpoints: [{addresses: [\"10.0.0.1\"]}]}",
                "endpoints[0].addresses[0]: not an IPv6 address: \"10.0.0.1\""},
        BadCase{"HostnameInIpv4Slice", "endpoints: [{addresses: [\"10.0.0.1\", db]}]",
                "endpoints[0].addresses[1]: not an IPv4 address: \"db\""},
        BadCase{"NoAddresses", "endpoints: [{zone: a}]", "endpoints[0].addresses: missing"},
        BadCase{"EmptyAddresses", "endpoints: [{addresses: []}]",
                "endpoints[0].addresses: must list at least one address"},
        BadCase{"AddressNotString", "endpoints: [{addresses: [5]}]",
                "endpoints[0].addresses[0]: must be a non-empty string, got 5"},
        BadCase{"ReadyNotBool",
                "endpoints: [{addresses: [\"10.0.0.1\"], conditions: {ready: yes}}]",
                "endpoints[0].conditions.ready: must be true or false, got \"yes\""},
        BadCase{"ConditionsList", "endpoints: [{addresses: [\"10.0.0.1\"], conditions: []}]",
                "endpoints[0].conditions: must be an object"},
        BadCase{"EndpointNotObject", "endpoints: [\"10.0.0.1\"]",
                "endpoints[0]: must be an object, got \"10.0.0.1\""},
        BadCase{"EndpointsNotList", "endpoints: {a: 1}", "endpoints: must be a list"},
        BadCase{"PortZero", "ports: [{name: http, port: 0}]",
                "ports[0].port: must be between 1 and 65535, got 0"},
        BadCase{"PortString", "ports: [{name: http, port: \"80\"}]",
                "ports[0].port: must be an integer, got \"80\""},
        BadCase{"PortNameNumber", "ports: [{name: 5, port: 80}]",
                "ports[0].name: must be a string, got 5"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

constexpr char kCoreEndpoints[] = R"(
apiVersion: v1
kind: Endpoints
metadata:
  name: web
  namespace: shop
  resourceVersion: "9"
subsets:
  - addresses:
      - ip: 10.0.0.1
        nodeName: n1
      - ip: "2001:db8::1"
    notReadyAddresses:
      - ip: 10.0.0.2
    ports:
      - name: http
        port: 8080
  - addresses:
      - ip: 10.0.1.1
    ports:
      - port: 9090
)";

TEST(CoreEndpointsTest, SplitsSubsetsByAddressFamily) {
  absl::StatusOr<std::vector<EndpointSlice>> slices = DecodeCoreEndpoints(Yaml(kCoreEndpoints));
  ASSERT_TRUE(slices.ok()) << slices.status();
  ASSERT_EQ(slices->size(), 3u);
  for (const EndpointSlice& slice : *slices) {
    EXPECT_EQ(slice.meta.key, (ObjectKey{"shop", "web"}));
    EXPECT_EQ(slice.meta.resource_version, "9");
    EXPECT_EQ(slice.service_name, "web");
    EXPECT_TRUE(slice.from_core_endpoints);
  }
  const EndpointSlice& v4 = (*slices)[0];
  EXPECT_EQ(v4.address_type, AddressType::kIpv4);
  EXPECT_EQ(v4.ports, (std::vector<EndpointPort>{{"http", 8080}}));
  ASSERT_EQ(v4.endpoints.size(), 2u);
  EXPECT_EQ(v4.endpoints[0].addresses, std::vector<std::string>{"10.0.0.1"});
  EXPECT_TRUE(v4.endpoints[0].ready);
  EXPECT_TRUE(v4.endpoints[0].serving);
  EXPECT_EQ(v4.endpoints[1].addresses, std::vector<std::string>{"10.0.0.2"});
  EXPECT_FALSE(v4.endpoints[1].ready);
  EXPECT_FALSE(v4.endpoints[1].serving);
  EXPECT_FALSE(v4.endpoints[1].terminating);

  const EndpointSlice& v6 = (*slices)[1];
  EXPECT_EQ(v6.address_type, AddressType::kIpv6);
  EXPECT_EQ(v6.ports, v4.ports);
  ASSERT_EQ(v6.endpoints.size(), 1u);
  EXPECT_EQ(v6.endpoints[0].addresses, std::vector<std::string>{"2001:db8::1"});

  const EndpointSlice& second = (*slices)[2];
  EXPECT_EQ(second.address_type, AddressType::kIpv4);
  EXPECT_EQ(second.ports, (std::vector<EndpointPort>{{"", 9090}}));
  EXPECT_EQ(second.endpoints[0].addresses, std::vector<std::string>{"10.0.1.1"});
}

TEST(CoreEndpointsTest, NoSubsetsIsNoSlices) {
  absl::StatusOr<std::vector<EndpointSlice>> slices =
      DecodeCoreEndpoints(Patched(Yaml(kCoreEndpoints), "", "subsets: null"));
  ASSERT_TRUE(slices.ok()) << slices.status();
  EXPECT_TRUE(slices->empty());
}

TEST(CoreEndpointsTest, ErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"subsets: [{addresses: [{ip: 10.0.0.1}, {ip: web}]}]",
       "subsets[0].addresses[1].ip: not an IP address: \"web\""},
      {"subsets: [{notReadyAddresses: [{hostname: a}]}]",
       "subsets[0].notReadyAddresses[0].ip: missing"},
      {"subsets: [{ports: [{port: 0}]}]", "subsets[0].ports[0].port: must be between 1 and 65535"},
      {"subsets: {}", "subsets: must be a list"},
      {"subsets: [7]", "subsets[0]: must be an object"},
      {"kind: EndpointSlice", "kind: must be Endpoints"},
      {"metadata: null", "metadata: missing"},
  };
  for (const auto& [patch, error] : cases) {
    absl::StatusOr<std::vector<EndpointSlice>> slices =
        DecodeCoreEndpoints(Patched(Yaml(kCoreEndpoints), "", patch));
    ASSERT_FALSE(slices.ok()) << patch;
    EXPECT_THAT(std::string(slices.status().message()), HasSubstr(error)) << patch;
  }
}

}  // namespace
}  // namespace propsy::model
