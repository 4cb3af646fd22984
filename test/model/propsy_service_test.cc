#include "model/propsy_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "model/test_util.h"

namespace propsy::model {
namespace {

using ::propsy::model::testing::Patched;
using ::propsy::model::testing::ToJson;
using ::propsy::model::testing::Yaml;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kMinimal[] = R"(
apiVersion: propsy.seznam.cz/v1
kind: ProPsyService
metadata:
  name: web
  namespace: shop
spec:
  service: web
  servicePort: 8080
  listen: "80"
  nodes: [envoy-1]
  percent: 30
)";

ProPsyService MustDecode(const rapidjson::Value& object) {
  absl::StatusOr<ProPsyService> service = DecodeProPsyService(object);
  EXPECT_TRUE(service.ok()) << service.status() << "\n" << ToJson(object);
  return service.ok() ? *service : ProPsyService{};
}

ProPsyServiceSpec DecodeSpecPatch(std::string_view patch) {
  return MustDecode(Patched(Yaml(kMinimal), "spec", patch)).spec;
}

TEST(ProPsyServiceTest, MinimalGetsDefaults) {
  const ProPsyService service = MustDecode(Yaml(kMinimal));
  EXPECT_EQ(service.meta.key, (ObjectKey{"shop", "web"}));
  const ProPsyServiceSpec& spec = service.spec;
  EXPECT_EQ(spec.service, "web");
  EXPECT_EQ(spec.service_port, 8080u);
  EXPECT_EQ(spec.service_port_name, "");
  EXPECT_EQ(spec.listen.ToString(), "0.0.0.0:80");
  EXPECT_EQ(spec.nodes, std::vector<std::string>{"envoy-1"});
  EXPECT_EQ(spec.percent, 30u);
  EXPECT_EQ(spec.canary_service, "");
  EXPECT_EQ(spec.canary_percent, 0u);
  EXPECT_EQ(spec.type, ServiceType::kHttp);
  EXPECT_EQ(spec.path_prefix, "/");
  EXPECT_EQ(spec.prefix_rewrite, "");
  EXPECT_FALSE(spec.timeout_ms.has_value());
  EXPECT_FALSE(spec.connect_timeout_ms.has_value());
  EXPECT_EQ(spec.max_requests_per_connection, 0u);
  EXPECT_EQ(spec.tls_certificate_secret, "");
  EXPECT_FALSE(spec.health_check.has_value());
  EXPECT_FALSE(spec.outlier_detection.has_value());
  EXPECT_FALSE(spec.disabled);
}

TEST(ProPsyServiceTest, EveryFieldDecodes) {
  const ProPsyService service = MustDecode(Yaml(R"(
apiVersion: propsy.seznam.cz/v1
kind: ProPsyService
metadata:
  name: api
  namespace: shop
  uid: 1234-abcd
  resourceVersion: "42"
  generation: 7
  creationTimestamp: "2024-01-02T03:04:05Z"
  labels: {team: core}
  annotations: {ignored: "yes"}
spec:
  service: api
  servicePort: 8080
  servicePortName: http
  listen: "[::1]:8443"
  nodes: [envoy-1, "*"]
  percent: 70
  canaryService: api-canary
  canaryPercent: 5
  type: HTTP
  pathPrefix: /api
  prefixRewrite: /
  timeout: 800
  connectTimeout: 250
  maxRequestsPerConnection: 100
  tlsCertificateSecret: api-tls
  healthCheckType: HTTP2
  healthCheckTimeout: 1000
  healthCheckInterval: 5000
  healthCheckHealthyTreshold: 2
  healthCheckUnhealthyTreshold: 3
  healthCheckReuseConnection: true
  healthCheckHTTPPath: /healthz
  healthCheckHTTPHost: api.local
  healthCheckOutlierEnabled: true
  healthCheckOutlierConsecutiveErrors: 5
  healthCheckOutlierConsecutiveGwErrors: 4
  healthCheckOutlierInterval: 10000
  healthCheckOutlierEjectionTime: 30000
  healthCheckOutlierEjectionPercent: 50
  healthCheckOutlierMinimumHosts: 3
  healthCheckOutlierMinimumRequests: 100
  disabled: false
status:
  observedGeneration: 6
)"));
  const ObjectMeta& meta = service.meta;
  EXPECT_EQ(meta.key, (ObjectKey{"shop", "api"}));
  EXPECT_EQ(meta.uid, "1234-abcd");
  EXPECT_EQ(meta.resource_version, "42");
  EXPECT_EQ(meta.generation, 7);
  EXPECT_EQ(meta.creation_timestamp, "2024-01-02T03:04:05Z");
  EXPECT_EQ(meta.labels, (std::map<std::string, std::string>{{"team", "core"}}));

  const ProPsyServiceSpec& spec = service.spec;
  EXPECT_EQ(spec.service_port, 8080u);
  EXPECT_EQ(spec.service_port_name, "http");
  EXPECT_EQ(spec.listen.ToString(), "[::1]:8443");
  EXPECT_EQ(spec.nodes, (std::vector<std::string>{"envoy-1", "*"}));
  EXPECT_EQ(spec.percent, 70u);
  EXPECT_EQ(spec.canary_service, "api-canary");
  EXPECT_EQ(spec.canary_percent, 5u);
  EXPECT_EQ(spec.path_prefix, "/api");
  EXPECT_EQ(spec.prefix_rewrite, "/");
  EXPECT_EQ(spec.timeout_ms, 800u);
  EXPECT_EQ(spec.connect_timeout_ms, 250u);
  EXPECT_EQ(spec.max_requests_per_connection, 100u);
  EXPECT_EQ(spec.tls_certificate_secret, "api-tls");
  ASSERT_TRUE(spec.health_check.has_value());
  EXPECT_EQ(*spec.health_check, (HealthCheckSpec{.type = HealthCheckType::kHttp2,
                                                 .timeout_ms = 1000,
                                                 .interval_ms = 5000,
                                                 .healthy_threshold = 2,
                                                 .unhealthy_threshold = 3,
                                                 .reuse_connection = true,
                                                 .http_path = "/healthz",
                                                 .http_host = "api.local"}));
  ASSERT_TRUE(spec.outlier_detection.has_value());
  EXPECT_EQ(*spec.outlier_detection, (OutlierDetectionSpec{.consecutive_errors = 5,
                                                           .consecutive_gw_errors = 4,
                                                           .interval_ms = 10000,
                                                           .ejection_time_ms = 30000,
                                                           .ejection_percent = 50,
                                                           .minimum_hosts = 3,
                                                           .minimum_requests = 100}));
  EXPECT_FALSE(spec.disabled);
}

TEST(ProPsyServiceTest, NamespaceDefaultsToDefault) {
  const ProPsyService service = MustDecode(Patched(Yaml(kMinimal), "metadata", "namespace: null"));
  EXPECT_EQ(service.meta.key, (ObjectKey{"default", "web"}));
}

TEST(ProPsyServiceTest, ConnectTimeoutDefaultsToTimeout) {
  EXPECT_EQ(DecodeSpecPatch("timeout: 800").connect_timeout_ms, 800u);
  // Capped at the connect timeout's maximum.
  EXPECT_EQ(DecodeSpecPatch("timeout: 120000").connect_timeout_ms, 60000u);
  EXPECT_EQ(DecodeSpecPatch("timeout: 120000").timeout_ms, 120000u);
  EXPECT_EQ(DecodeSpecPatch("{timeout: 800, connectTimeout: 100}").connect_timeout_ms, 100u);
  EXPECT_EQ(DecodeSpecPatch("connectTimeout: 100").timeout_ms, std::nullopt);
}

TEST(ProPsyServiceTest, PathAliasAndTypeSpelling) {
  EXPECT_EQ(DecodeSpecPatch("path: /shop").path_prefix, "/shop");
  EXPECT_EQ(DecodeSpecPatch("{path: /shop, pathPrefix: /shop}").path_prefix, "/shop");
  EXPECT_EQ(DecodeSpecPatch("type: tcp").type, ServiceType::kTcp);
  EXPECT_EQ(DecodeSpecPatch("type: Http").type, ServiceType::kHttp);
  // The default prefix is harmless on TCP.
  EXPECT_EQ(DecodeSpecPatch("{type: TCP, pathPrefix: /}").type, ServiceType::kTcp);
}

TEST(ProPsyServiceTest, ThresholdSpellingsAndHealthCheckTypes) {
  const ProPsyServiceSpec spec = DecodeSpecPatch(
      "{healthCheckType: grpc, healthCheckHealthyThreshold: 4, healthCheckUnhealthyThreshold: 6, "
      "healthCheckUnhealthyTreshold: 6}");
  ASSERT_TRUE(spec.health_check.has_value());
  EXPECT_EQ(spec.health_check->type, HealthCheckType::kGrpc);
  EXPECT_EQ(spec.health_check->healthy_threshold, 4u);
  EXPECT_EQ(spec.health_check->unhealthy_threshold, 6u);
  EXPECT_EQ(DecodeSpecPatch("healthCheckType: TCP").health_check->type, HealthCheckType::kTcp);
  EXPECT_EQ(DecodeSpecPatch("healthCheckType: http").health_check->type, HealthCheckType::kHttp);
}

TEST(ProPsyServiceTest, OutlierFieldsTakeEffectOnlyWhenEnabled) {
  EXPECT_FALSE(DecodeSpecPatch("healthCheckOutlierConsecutiveErrors: 5").outlier_detection);
  EXPECT_FALSE(DecodeSpecPatch("{healthCheckOutlierEnabled: false, "
                               "healthCheckOutlierConsecutiveErrors: 5}")
                   .outlier_detection);
  const ProPsyServiceSpec spec = DecodeSpecPatch("healthCheckOutlierEnabled: true");
  ASSERT_TRUE(spec.outlier_detection.has_value());
  EXPECT_EQ(*spec.outlier_detection, OutlierDetectionSpec{});
}

TEST(ProPsyServiceTest, PortNameAloneIsEnoughAndWholeFloatsAreIntegers) {
  const ProPsyServiceSpec spec = DecodeSpecPatch("{servicePort: null, servicePortName: grpc}");
  EXPECT_EQ(spec.service_port, 0u);
  EXPECT_EQ(spec.service_port_name, "grpc");
  EXPECT_EQ(DecodeSpecPatch("servicePort: 8080.0").service_port, 8080u);
  // null counts as absent.
  EXPECT_EQ(DecodeSpecPatch("timeout: null").timeout_ms, std::nullopt);
  EXPECT_TRUE(DecodeSpecPatch("disabled: true").disabled);
}

struct BadCase {
  std::string name;
  std::string path;  // object the patch applies to
  std::string patch;
  std::string error;  // expected in the status message, with its field path
};

class ProPsyServiceBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ProPsyServiceBadTest, NamesTheField) {
  const BadCase& c = GetParam();
  const rapidjson::Document object = Patched(Yaml(kMinimal), c.path, c.patch);
  absl::StatusOr<ProPsyService> service = DecodeProPsyService(object);
  ASSERT_FALSE(service.ok()) << ToJson(object);
  EXPECT_EQ(service.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(service.status().message()), HasSubstr(c.error)) << ToJson(object);
}

std::vector<BadCase> BadCases() {
  return {
      {"WrongApiVersion", "", "apiVersion: propsy.seznam.cz/v2",
       "apiVersion: must be propsy.seznam.cz/v1, got \"propsy.seznam.cz/v2\""},
      {"WrongKind", "", "kind: Service", "kind: must be ProPsyService, got \"Service\""},
      {"NoKind", "", "kind: null", "kind: missing"},
      {"NoMetadata", "", "metadata: null", "metadata: missing"},
      {"NoName", "metadata", "name: null", "metadata.name: missing"},
      {"EmptyName", "metadata", "name: \"\"", "metadata.name: must not be empty"},
      {"NumericNamespace", "metadata", "namespace: 5", "metadata.namespace: must be a string"},
      {"LabelNotString", "metadata", "labels: {tier: 1}",
       "metadata.labels[tier]: must be a string, got 1"},
      {"NegativeGeneration", "metadata", "generation: -1",
       "metadata.generation: must be at least 0"},
      {"NoSpec", "", "spec: null", "spec: missing"},
      {"SpecList", "", "spec: [1]", "spec: must be an object, got a list"},
      {"NoService", "spec", "service: null", "spec.service: missing"},
      {"ServiceNotDns", "spec", "service: Web_1", "spec.service: must be a Service name"},
      {"ServiceEmpty", "spec", "service: \"\"", "spec.service: must be a Service name"},
      {"NoPort", "spec", "servicePort: null", "spec.servicePort: missing"},
      {"PortZero", "spec", "servicePort: 0",
       "spec.servicePort: must be between 1 and 65535, got 0"},
      {"PortTooBig", "spec", "servicePort: 70000",
       "spec.servicePort: must be between 1 and 65535, got 70000"},
      {"PortString", "spec", "servicePort: \"80\"",
       "spec.servicePort: must be an integer, got \"80\""},
      {"PortFraction", "spec", "servicePort: 80.5",
       "spec.servicePort: must be an integer, got 80.5"},
      {"PortNegative", "spec", "servicePort: -1",
       "spec.servicePort: must be between 1 and 65535, got -1"},
      {"PortHuge", "spec", "servicePort: 18446744073709551615",
       "spec.servicePort: must be between 1 and 65535, got 18446744073709551615"},
      {"PortNameBad", "spec", "servicePortName: HTTP", "spec.servicePortName: must be a port name"},
      {"NoListen", "spec", "listen: null", "spec.listen: missing"},
      {"ListenBad", "spec", "listen: example.com:80",
       "spec.listen: listen address \"example.com:80\": host must be an IP address"},
      {"ListenInt", "spec", "listen: 80", "spec.listen: must be a string, got 80"},
      {"NoNodes", "spec", "nodes: null", "spec.nodes: missing"},
      {"NodesEmpty", "spec", "nodes: []", "spec.nodes: must list at least one node id"},
      {"NodesString", "spec", "nodes: envoy-1", "spec.nodes: must be a list of strings"},
      {"NodeEmpty", "spec", "nodes: [a, \"\"]", "spec.nodes[1]: must be a non-empty string"},
      {"NodeNumber", "spec", "nodes: [7]", "spec.nodes[0]: must be a non-empty string, got 7"},
      {"NoPercent", "spec", "percent: null", "spec.percent: missing"},
      {"PercentTooBig", "spec", "percent: 101", "spec.percent: must be between 0 and 100, got 101"},
      {"PercentNegative", "spec", "percent: -5", "spec.percent: must be between 0 and 100, got -5"},
      {"PercentBool", "spec", "percent: true", "spec.percent: must be an integer, got true"},
      {"CanaryPercentTooBig", "spec", "{canaryService: c, canaryPercent: 101}",
       "spec.canaryPercent: must be between 0 and 100, got 101"},
      {"CanaryPercentAlone", "spec", "canaryPercent: 5", "spec.canaryPercent: needs canaryService"},
      {"CanaryServiceBad", "spec", "canaryService: C!",
       "spec.canaryService: must be a Service name"},
      {"TypeBad", "spec", "type: UDP", "spec.type: must be HTTP or TCP, got \"UDP\""},
      {"PathRelative", "spec", "pathPrefix: api", "spec.pathPrefix: must start with \"/\""},
      {"PathAliasRelative", "spec", "path: api", "spec.path: must start with \"/\""},
      {"PathControl", "spec", "pathPrefix: \"/a\\nb\"",
       "spec.pathPrefix: must not contain control characters"},
      {"PathConflict", "spec", "{pathPrefix: /a, path: /b}",
       "spec.path: conflicts with pathPrefix"},
      {"TcpPath", "spec", "{type: TCP, pathPrefix: /api}",
       "spec.pathPrefix: only for HTTP services"},
      {"TcpPathAlias", "spec", "{type: TCP, path: /api}", "spec.path: only for HTTP services"},
      {"TcpRewrite", "spec", "{type: TCP, prefixRewrite: /}",
       "spec.prefixRewrite: only for HTTP services"},
      {"RewriteNotString", "spec", "prefixRewrite: 5", "spec.prefixRewrite: must be a string"},
      {"TimeoutZero", "spec", "timeout: 0", "spec.timeout: must be between 1 and 600000, got 0"},
      {"TimeoutTooBig", "spec", "timeout: 600001",
       "spec.timeout: must be between 1 and 600000, got 600001"},
      {"ConnectTimeoutZero", "spec", "connectTimeout: 0",
       "spec.connectTimeout: must be between 1 and 60000, got 0"},
      {"ConnectTimeoutTooBig", "spec", "connectTimeout: 60001",
       "spec.connectTimeout: must be between 1 and 60000, got 60001"},
      {"MaxRequestsNegative", "spec", "maxRequestsPerConnection: -1",
       "spec.maxRequestsPerConnection: must be between 0 and 4294967295, got -1"},
      {"TlsSecretBad", "spec", "tlsCertificateSecret: Bad Name",
       "spec.tlsCertificateSecret: must be a Secret name"},
      {"HealthTypeBad", "spec", "healthCheckType: ICMP",
       "spec.healthCheckType: must be HTTP, HTTP2, TCP or GRPC, got \"ICMP\""},
      {"HealthFieldWithoutType", "spec", "healthCheckTimeout: 100",
       "spec.healthCheckTimeout: needs healthCheckType"},
      {"HealthPathWithoutType", "spec", "healthCheckHTTPPath: /h",
       "spec.healthCheckHTTPPath: needs healthCheckType"},
      {"HealthTimeoutZero", "spec", "{healthCheckType: TCP, healthCheckTimeout: 0}",
       "spec.healthCheckTimeout: must be between 1 and 4294967295, got 0"},
      {"HealthIntervalZero", "spec", "{healthCheckType: TCP, healthCheckInterval: 0}",
       "spec.healthCheckInterval: must be between 1 and 4294967295, got 0"},
      {"HealthyThresholdZero", "spec", "{healthCheckType: TCP, healthCheckHealthyTreshold: 0}",
       "spec.healthCheckHealthyTreshold: must be between 1"},
      {"UnhealthyThresholdString", "spec",
       "{healthCheckType: TCP, healthCheckUnhealthyThreshold: \"3\"}",
       "spec.healthCheckUnhealthyThreshold: must be an integer, got \"3\""},
      {"ThresholdSpellingsDiffer", "spec",
       "{healthCheckType: TCP, healthCheckHealthyTreshold: 2, healthCheckHealthyThreshold: 3}",
       "spec.healthCheckHealthyThreshold: conflicts with healthCheckHealthyTreshold"},
      {"UnhealthySpellingsDiffer", "spec",
       "{healthCheckType: TCP, healthCheckUnhealthyTreshold: 2, "
       "healthCheckUnhealthyThreshold: 3}",
       "spec.healthCheckUnhealthyThreshold: conflicts with healthCheckUnhealthyTreshold"},
      {"ReuseNotBool", "spec", "{healthCheckType: TCP, healthCheckReuseConnection: \"yes\"}",
       "spec.healthCheckReuseConnection: must be true or false, got \"yes\""},
      {"HealthPathRelative", "spec", "{healthCheckType: HTTP, healthCheckHTTPPath: health}",
       "spec.healthCheckHTTPPath: must start with \"/\""},
      {"HealthPathOnTcp", "spec", "{healthCheckType: TCP, healthCheckHTTPPath: /h}",
       "spec.healthCheckHTTPPath: only for HTTP and HTTP2 health checks"},
      {"HealthPathOnGrpc", "spec", "{healthCheckType: GRPC, healthCheckHTTPPath: /h}",
       "spec.healthCheckHTTPPath: only for HTTP and HTTP2 health checks"},
      {"HealthHostOnTcp", "spec", "{healthCheckType: TCP, healthCheckHTTPHost: h}",
       "spec.healthCheckHTTPHost: only for HTTP, HTTP2 and GRPC health checks"},
      {"HealthHostControl", "spec", "{healthCheckType: HTTP, healthCheckHTTPHost: \"a\\rb\"}",
       "spec.healthCheckHTTPHost: must not contain control characters"},
      {"OutlierEnabledString", "spec", "healthCheckOutlierEnabled: \"true\"",
       "spec.healthCheckOutlierEnabled: must be true or false, got \"true\""},
      {"OutlierErrorsNegative", "spec", "healthCheckOutlierConsecutiveErrors: -1",
       "spec.healthCheckOutlierConsecutiveErrors: must be between 0"},
      {"OutlierGwErrorsNegative", "spec", "healthCheckOutlierConsecutiveGwErrors: -1",
       "spec.healthCheckOutlierConsecutiveGwErrors: must be between 0"},
      {"OutlierIntervalZero", "spec", "healthCheckOutlierInterval: 0",
       "spec.healthCheckOutlierInterval: must be between 1"},
      {"OutlierEjectionTimeZero", "spec", "healthCheckOutlierEjectionTime: 0",
       "spec.healthCheckOutlierEjectionTime: must be between 1"},
      {"OutlierEjectionPercentTooBig", "spec", "healthCheckOutlierEjectionPercent: 101",
       "spec.healthCheckOutlierEjectionPercent: must be between 0 and 100, got 101"},
      {"OutlierMinimumHostsNegative", "spec", "healthCheckOutlierMinimumHosts: -2",
       "spec.healthCheckOutlierMinimumHosts: must be between 0"},
      {"OutlierMinimumRequestsFraction", "spec", "healthCheckOutlierMinimumRequests: 1.5",
       "spec.healthCheckOutlierMinimumRequests: must be an integer, got 1.5"},
      {"DisabledNumber", "spec", "disabled: 1", "spec.disabled: must be true or false, got 1"},
      {"UnknownFieldTypo", "spec", "precent: 5",
       "spec.precent: unknown field (did you mean \"percent\"?)"},
      {"UnknownFieldFar", "spec", "weight: 5", "spec.weight: unknown field"},
  };
}

INSTANTIATE_TEST_SUITE_P(Fields, ProPsyServiceBadTest, ::testing::ValuesIn(BadCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return info.param.name;
                         });

TEST(ProPsyServiceTest, ReportsEveryErrorAtOnce) {
  const rapidjson::Document object =
      Patched(Yaml(kMinimal), "spec",
              "{percent: 150, listen: null, servicePort: x, precent: 1, type: UDP, nodes: [\"\"]}");
  absl::StatusOr<ProPsyService> service = DecodeProPsyService(object);
  ASSERT_FALSE(service.ok());
  EXPECT_THAT(std::string(service.status().message()),
              AllOf(HasSubstr("spec.percent: must be between 0 and 100, got 150"),
                    HasSubstr("spec.listen: missing"),
                    HasSubstr("spec.servicePort: must be an integer, got \"x\""),
                    HasSubstr("spec.precent: unknown field"), HasSubstr("spec.type: must be"),
                    HasSubstr("spec.nodes[0]: must be a non-empty string")));
}

TEST(ProPsyServiceTest, NotAnObject) {
  rapidjson::Document array(rapidjson::kArrayType);
  absl::StatusOr<ProPsyService> service = DecodeProPsyService(array);
  ASSERT_FALSE(service.ok());
  EXPECT_THAT(std::string(service.status().message()), HasSubstr("must be an object"));
}

TEST(ProPsyServiceTest, UnknownFieldNamesAreEscaped) {
  rapidjson::Document object = Yaml(kMinimal);
  auto& spec = object["spec"];
  spec.AddMember(rapidjson::Value("bad\x01key", object.GetAllocator()), rapidjson::Value(1),
                 object.GetAllocator());
  absl::StatusOr<ProPsyService> service = DecodeProPsyService(object);
  ASSERT_FALSE(service.ok());
  EXPECT_THAT(std::string(service.status().message()),
              HasSubstr("spec.bad\\x01key: unknown field"));
}

}  // namespace
}  // namespace propsy::model
