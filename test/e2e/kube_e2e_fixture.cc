#include "e2e/kube_e2e_fixture.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "support/wait.h"

#ifndef PROPSY_BINARY_PATH
#error "PROPSY_BINARY_PATH must be defined by the build"
#endif
#ifndef PROPSY_KUBECTL_PATH
#error "PROPSY_KUBECTL_PATH must be defined by the build"
#endif
#ifndef PROPSY_CRD_PATH
#error "PROPSY_CRD_PATH must be defined by the build"
#endif

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;

constexpr double kTolerancePoints = 3.0;

std::string Str(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject() || !object.HasMember(key) || !object[key].IsString()) return "";
  return object[key].GetString();
}

// Every weighted cluster under `value`: name -> weight.
void CollectWeights(const rapidjson::Value& value, std::map<std::string, double>& weights) {
  if (value.IsObject()) {
    if (value.HasMember("weighted_clusters") && value["weighted_clusters"].IsObject() &&
        value["weighted_clusters"].HasMember("clusters")) {
      for (const rapidjson::Value& cluster : value["weighted_clusters"]["clusters"].GetArray()) {
        const bool has_weight = cluster.HasMember("weight") && cluster["weight"].IsNumber();
        weights[Str(cluster, "name")] = has_weight ? cluster["weight"].GetDouble() : 0;
      }
    }
    for (const auto& member : value.GetObject()) CollectWeights(member.value, weights);
  } else if (value.IsArray()) {
    for (const rapidjson::Value& child : value.GetArray()) CollectWeights(child, weights);
  }
}

// The route configuration named `name` anywhere under `value`, or null.
const rapidjson::Value* FindRouteConfig(const rapidjson::Value& value, const std::string& name) {
  if (value.IsObject()) {
    if (Str(value, "name") == name && value.HasMember("virtual_hosts")) return &value;
    for (const auto& member : value.GetObject()) {
      if (const rapidjson::Value* found = FindRouteConfig(member.value, name)) return found;
    }
  } else if (value.IsArray()) {
    for (const rapidjson::Value& child : value.GetArray()) {
      if (const rapidjson::Value* found = FindRouteConfig(child, name)) return found;
    }
  }
  return nullptr;
}

}  // namespace

const char* ZoneName(Zone zone) { return zone == kZoneA ? "zone-a" : "zone-b"; }

TrafficLoop::TrafficLoop(int port, std::string path, std::chrono::milliseconds pause)
    : thread_([this, port, path = std::move(path), pause] { Run(port, path, pause); }) {}

TrafficLoop::~TrafficLoop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

TrafficLoop::Result TrafficLoop::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  return result_;
}

void TrafficLoop::Run(int port, const std::string& path, std::chrono::milliseconds pause) {
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  client.set_connection_timeout(2s);
  client.set_read_timeout(5s);
  const auto start = std::chrono::steady_clock::now();
  while (!stop_.load()) {
    httplib::Result answer = client.Get(path.c_str());
    const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    {
      absl::MutexLock lock(&mu_);
      ++result_.requests;
      result_.duration = since;
      std::string failure;
      if (!answer) {
        failure = fmt::format("error {}", httplib::to_string(answer.error()));
      } else if (answer->status != 200) {
        failure = fmt::format("status {}: {:.100}", answer->status, answer->body);
      } else {
        ++result_.bodies[answer->body];
      }
      if (!failure.empty()) {
        ++result_.failures;
        if (result_.first_failures.size() < 10) {
          result_.first_failures.push_back(fmt::format("at {} ms: {}", since.count(), failure));
        }
      }
    }
    requests_.fetch_add(1);
    std::this_thread::sleep_for(pause);
  }
}

std::unique_ptr<KubeEnv> KubePropsyTest::env_;
std::string KubePropsyTest::suite_error_;
std::string KubePropsyTest::endpoint_ip_;
bool KubePropsyTest::objects_written_ = false;

void KubePropsyTest::SetUpTestSuite() {
  // A failure here must fail every test (in SetUp), not skip it, as a
  // fatal failure in SetUpTestSuite would.
  try {
    StartClusters();
  } catch (const std::exception& error) {
    suite_error_ = fmt::format("exception: {}", error.what());
  }
}

void KubePropsyTest::StartClusters() {
  suite_error_.clear();
  objects_written_ = false;
  if (access(PROPSY_KUBECTL_PATH, X_OK) != 0) {
    suite_error_ = fmt::format(
        "kubectl is required but was not found (CMake: \"{}\"); install it "
        "(scripts/install-deps.sh) and re-run cmake",
        PROPSY_KUBECTL_PATH);
    return;
  }
  absl::StatusOr<std::string> ip = EndpointAddress();
  if (!ip.ok()) {
    suite_error_ = ip.status().ToString();
    return;
  }
  endpoint_ip_ = *ip;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<KubeEnv>> env =
      KubeEnv::Start({{.zone = ZoneName(kZoneA), .watch_cache = true},
                      {.zone = ZoneName(kZoneB), .watch_cache = false}});
  if (!env.ok()) {
    suite_error_ = env.status().ToString();
    return;
  }
  env_ = std::move(*env);
  for (size_t i = 0; i < env_->size(); ++i) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"apply", "-f", PROPSY_CRD_PATH},
          std::vector<std::string>{"wait", "--for", "condition=established", "--timeout=60s",
                                   "crd/propsyservices.propsy.seznam.cz"},
          std::vector<std::string>{"create", "namespace", kNamespace}}) {
      absl::StatusOr<std::string> done = env_->Kubectl(i, args);
      if (!done.ok()) {
        suite_error_ = done.status().ToString();
        return;
      }
    }
  }
  std::cout << fmt::format("[kube] {} clusters up in {} ms under {}; endpoints on {}\n",
                           env_->size(),
                           std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - start)
                               .count(),
                           env_->root(), endpoint_ip_);
}

void KubePropsyTest::TearDownTestSuite() {
  if (env_ == nullptr) return;
  absl::Status stopped = env_->Stop();
  if (!stopped.ok()) std::cout << "[kube] stopping the clusters: " << stopped.ToString() << "\n";
  env_.reset();
}

void KubePropsyTest::SetUp() {
  ASSERT_NO_FATAL_FAILURE(PropsyEnvoyTest::SetUp());
  ASSERT_TRUE(suite_error_.empty()) << "the Kubernetes clusters did not start: " << suite_error_;
  ASSERT_NE(env_, nullptr);
  if (objects_written_) {
    // An earlier test of this process left its objects behind.
    for (Zone zone : {kZoneA, kZoneB}) {
      Kubectl(zone, {"delete", "propsyservices,endpointslices,secrets", "--all", "-n", kNamespace});
      Kubectl(zone, {"delete", "clusterrolebindings,clusterroles", "-l", "propsy-e2e=true"});
      // Progress reports that a killed replica left (docs/status.md).
      Kubectl(zone,
              {"delete", "configmaps", "-n", "default", "-l", "propsy.seznam.cz/progress-report"});
    }
  }
  objects_written_ = true;
  std::filesystem::create_directories(dir_.File("kube"));
  for (Zone zone : {kZoneA, kZoneB}) {
    WriteZoneKubeconfig(zone, kube().cluster(zone).server(), AdminTokenUser(zone));
  }
}

void KubePropsyTest::TearDown() {
  PropsyEnvoyTest::TearDown();
  if (HasFailure() && env_ != nullptr) std::cout << KubeDiagnostics();
  for (Zone zone : std::set<Zone>(stopped_apiservers_)) StartApiserver(zone);
}

std::string KubePropsyTest::KubeconfigPath(Zone zone) const {
  return dir_.File(fmt::format("kube/{}.yaml", ZoneName(zone)));
}

void KubePropsyTest::WriteZoneKubeconfig(Zone zone, const std::string& server,
                                         const std::string& user_yaml) {
  absl::Status written =
      WriteKubeconfig(KubeconfigPath(zone), server, kube().cluster(zone).ca_path, user_yaml);
  ASSERT_TRUE(written.ok()) << written.ToString();
}

std::string KubePropsyTest::AdminTokenUser(Zone zone) const {
  return fmt::format("    token: {}\n", kube().cluster(zone).admin_token);
}

std::vector<std::string> KubePropsyTest::KubePropsyArgs() const {
  std::vector<std::string> args = {"-listen", fmt::format("127.0.0.1:{}", xds_port_), "-zone",
                                   ZoneName(kZoneA), "-debug"};
  for (Zone zone : {kZoneA, kZoneB}) {
    args.push_back("-configcluster");
    args.push_back(fmt::format("{}:{}", KubeconfigPath(zone), ZoneName(zone)));
  }
  for (Zone zone : {kZoneA, kZoneB}) {
    args.push_back("-endpointcluster");
    args.push_back(fmt::format("{}:{}:{}", KubeconfigPath(zone), ZoneName(zone), size_t{zone}));
  }
  return args;
}

void KubePropsyTest::StartPropsyOnKube() {
  test::PropsyProcessOptions options;
  options.binary = PROPSY_BINARY_PATH;
  options.args = KubePropsyArgs();
  options.admin_port = admin_port_;
  options.log_path = dir_.File("propsy.log");
  auto started = test::PropsyProcess::Start(options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  propsy_ = std::move(*started);
  absl::Status ready = propsy_->WaitReady(30s);
  ASSERT_TRUE(ready.ok()) << ready.ToString() << "\n" << KubeDiagnostics();
}

void KubePropsyTest::StartKubeReplica(int xds_port, const std::string& log_name,
                                      std::unique_ptr<test::PropsyProcess>* replica) {
  test::PropsyProcessOptions options;
  options.binary = PROPSY_BINARY_PATH;
  options.args = KubePropsyArgs();
  options.args.at(1) = fmt::format("127.0.0.1:{}", xds_port);  // -listen
  options.admin_port = FreePort();
  options.log_path = dir_.File(log_name);
  auto started = test::PropsyProcess::Start(options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  *replica = std::move(*started);
  absl::Status ready = (*replica)->WaitReady(30s);
  ASSERT_TRUE(ready.ok()) << ready.ToString() << "\n" << (*replica)->LogTail();
}

void KubePropsyTest::Apply(Zone zone, const std::string& yaml, bool validate) {
  absl::Status applied = kube().Apply(zone, yaml, validate);
  EXPECT_TRUE(applied.ok()) << applied.ToString();
}

std::string KubePropsyTest::Kubectl(Zone zone, const std::vector<std::string>& args) {
  absl::StatusOr<std::string> output = kube().Kubectl(zone, args);
  EXPECT_TRUE(output.ok()) << output.status().ToString();
  return output.ok() ? *output : "";
}

void KubePropsyTest::StopApiserver(Zone zone) {
  stopped_apiservers_.insert(zone);
  absl::Status stopped = kube().StopApiserver(zone);
  ASSERT_TRUE(stopped.ok()) << stopped.ToString();
}

void KubePropsyTest::StartApiserver(Zone zone) {
  absl::Status started = kube().StartApiserver(zone);
  ASSERT_TRUE(started.ok()) << started.ToString();
  stopped_apiservers_.erase(zone);
}

test::HttpBackend& KubePropsyTest::AddKubeBackend(const std::string& name) {
  http_backends_.push_back(std::make_unique<test::HttpBackend>(name, endpoint_ip_));
  return *http_backends_.back();
}

std::string KubePropsyTest::Slice(const std::string& name, const std::string& service,
                                  const test::HttpBackend& backend) const {
  return SliceYaml({.name = name,
                    .service = service,
                    .port = backend.port(),
                    .port_name = "http",
                    .address = endpoint_ip_,
                    .ready = true});
}

int KubePropsyTest::ApplyWebService(const test::HttpBackend& backend) {
  ServiceManifest web;
  web.name = "web";
  web.service = "web";
  web.listen_port = FreePort();
  Apply(kZoneA, Documents({ServiceYaml(web), Slice("web-a", "web", backend)}));
  return web.listen_port;
}

std::string KubePropsyTest::HostOf(const test::HttpBackend& backend) const {
  return fmt::format("{}:{}", endpoint_ip_, backend.port());
}

std::set<std::string> KubePropsyTest::EnvoyHosts(const std::string& cluster) {
  std::set<std::string> hosts;
  absl::StatusOr<std::string> page = envoy_->AdminGet("/clusters");
  if (!page.ok()) return hosts;
  // Lines are "cluster::ip:port::stat::value"; every host has one
  // health_flags line.
  const std::string prefix = cluster + "::";
  std::istringstream in(*page);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(prefix)) continue;
    const std::string rest = line.substr(prefix.size());
    const size_t separator = rest.find("::");
    if (separator != std::string::npos && rest.substr(separator).starts_with("::health_flags::")) {
      hosts.insert(rest.substr(0, separator));
    }
  }
  return hosts;
}

bool KubePropsyTest::WaitForEnvoyHosts(const std::string& cluster,
                                       const std::set<std::string>& want,
                                       std::chrono::milliseconds timeout) {
  return test::WaitFor([&] { return EnvoyHosts(cluster) == want; }, timeout, 50ms);
}

std::map<std::string, double> KubePropsyTest::EnvoyRouteWeights(int port) {
  std::map<std::string, double> weights;
  absl::StatusOr<std::string> dump =
      envoy_->AdminGet("/config_dump?resource=dynamic_route_configs");
  if (!dump.ok()) return weights;
  absl::StatusOr<rapidjson::Document> parsed = ParseJson(*dump);
  if (!parsed.ok()) return weights;
  if (const rapidjson::Value* route = FindRouteConfig(*parsed, ListenerName(port))) {
    CollectWeights(*route, weights);
  }
  return weights;
}

KubePropsyTest::SourceView KubePropsyTest::Source(Zone zone, const std::string& role) {
  SourceView view;
  absl::StatusOr<rapidjson::Document> clusters = ParseJson(PropsyGet("/debug/clusters"));
  if (!clusters.ok() || !clusters->IsArray()) return view;
  for (const rapidjson::Value& cluster : clusters->GetArray()) {
    if (Str(cluster, "name") != ZoneName(zone) || Str(cluster, "role") != role) continue;
    view.found = true;
    view.synced = cluster.HasMember("synced") && cluster["synced"].GetBool();
    view.stale = cluster.HasMember("stale") && cluster["stale"].GetBool();
    if (cluster.HasMember("stale_since_unix_ms")) {
      view.stale_since_unix_ms = cluster["stale_since_unix_ms"].GetInt64();
    }
    if (cluster.HasMember("problems") && cluster["problems"].IsArray()) {
      for (const rapidjson::Value& problem : cluster["problems"].GetArray()) {
        view.problems.push_back(problem.IsString() ? problem.GetString() : "?");
      }
    }
  }
  return view;
}

double KubePropsyTest::SourceEvents(Zone zone, const std::string& role, const std::string& event) {
  absl::StatusOr<double> value = propsy_->MetricSum(fmt::format("propsy_source_{}_total", event),
                                                    {{"cluster", ZoneName(zone)}, {"role", role}});
  return value.ok() ? *value : -1;
}

std::string KubePropsyTest::Condition(const std::string& service, const std::string& type) {
  absl::StatusOr<rapidjson::Document> services = ParseJson(PropsyGet("/debug/services"));
  if (!services.ok() || !services->IsArray()) return "";
  for (const rapidjson::Value& entry : services->GetArray()) {
    if (Str(entry, "service") != service || !entry.HasMember("conditions")) continue;
    for (const rapidjson::Value& condition : entry["conditions"].GetArray()) {
      if (Str(condition, "type") != type) continue;
      return fmt::format("{} {}: {}", Str(condition, "status"), Str(condition, "reason"),
                         Str(condition, "message"));
    }
  }
  return "";
}

std::set<std::string> KubePropsyTest::PropsyResourceNames(const std::string& type) {
  std::set<std::string> names;
  absl::StatusOr<rapidjson::Document> dump =
      ParseJson(PropsyGet(fmt::format("/debug/config_dump?node={}", kNodeId)));
  if (!dump.ok() || !dump->IsObject() || !dump->HasMember("types")) return names;
  const rapidjson::Value& types = (*dump)["types"];
  if (!types.HasMember(type.c_str())) return names;
  for (const rapidjson::Value& resource : types[type.c_str()]["resources"].GetArray()) {
    std::string name = Str(resource, "name");
    if (name.empty()) name = Str(resource, "cluster_name");  // load assignments
    names.insert(name);
  }
  return names;
}

void KubePropsyTest::MeasureShares(const std::string& label, int port,
                                   const std::map<std::string, double>& backend_weights,
                                   const std::map<std::string, double>& route_weights,
                                   int requests) {
  // Converged: Envoy holds the expected weights, and the expected backends,
  // no others, answer.
  std::map<std::string, double> weights;
  std::map<std::string, int> batch;
  ASSERT_TRUE(test::WaitFor(
      [&] {
        weights = EnvoyRouteWeights(port);
        if (weights != route_weights) return false;
        batch = CountBodies(port, "/", 100);
        for (const auto& [backend, weight] : backend_weights) {
          if (!batch.contains(backend)) return false;
        }
        for (const auto& [body, count] : batch) {
          if (!backend_weights.contains(body)) return false;
        }
        return true;
      },
      30s, 100ms))
      << label << ": not converged; route weights " << testing::PrintToString(weights)
      << ", answers " << testing::PrintToString(batch) << "\n"
      << Diagnostics();

  const auto start = std::chrono::steady_clock::now();
  const std::map<std::string, int> counts = CountBodies(port, "/", requests);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  double total_weight = 0;
  for (const auto& [backend, weight] : backend_weights) total_weight += weight;
  int total = 0;
  for (const auto& [body, count] : counts) total += count;
  EXPECT_EQ(total, requests);
  std::string report =
      fmt::format("[shares] {}: {} requests in {} ms:", label, total, took.count());
  for (const auto& [backend, weight] : backend_weights) {
    auto found = counts.find(backend);
    const int count = found == counts.end() ? 0 : found->second;
    const double measured = 100.0 * count / std::max(total, 1);
    const double wanted = 100.0 * weight / total_weight;
    report += fmt::format(" {} {:.1f}% (expected {:.1f}%);", backend, measured, wanted);
    EXPECT_NEAR(measured, wanted, kTolerancePoints) << label << ": " << backend;
  }
  std::cout << report << "\n";
  for (const auto& [body, count] : counts) {
    EXPECT_TRUE(backend_weights.contains(body)) << label << ": " << count << " answers " << body;
  }
}

std::string KubePropsyTest::KubeDiagnostics() const {
  return env_ == nullptr ? "" : env_->LogTails(30);
}

}  // namespace propsy::e2e
