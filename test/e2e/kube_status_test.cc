// Status back into Kubernetes on real API servers (SPEC §2, §6): the
// conditions a user reads with kubectl, `kubectl wait` on Programmed with a
// real Envoy, Warning Events, conflicts and overrides, a NACKing node, Lease
// leadership between two replicas, Programmed over the nodes of both
// replicas, and a relist of 2,000 unchanged services that writes nothing.

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "e2e/kube_e2e_fixture.h"
#include "e2e/tcp_forwarder.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "integration/xds_client.h"
#include "support/subprocess.h"
#include "support/wait.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::HasSubstr;

constexpr char kClusterType[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
constexpr char kListenerType[] = "type.googleapis.com/envoy.config.listener.v3.Listener";

// Per config cluster, as /debug/status shows it.
struct WriterView {
  bool leader = false;
  double writes = -1;
  double conflicts = -1;
  double events_created = -1;
  double report_writes = -1;  // this replica's progress report
};

// A ServiceYaml manifest for one node instead of every node.
std::string ForNodes(std::string yaml, const std::string& node) {
  const std::string every = "nodes: [\"*\"]";
  const size_t at = yaml.find(every);
  EXPECT_NE(at, std::string::npos) << yaml;
  if (at != std::string::npos) yaml.replace(at, every.size(), "nodes: [" + node + "]");
  return yaml;
}

class KubeStatusTest : public KubePropsyTest {
 protected:
  // One field of a condition of pps/name ("" when absent).
  std::string ConditionField(Zone zone, const std::string& name, const std::string& type,
                             const std::string& field) {
    absl::StatusOr<std::string> value = kube().Kubectl(
        zone, {"get", "pps", name, "-n", kNamespace, "-o",
               fmt::format("jsonpath={{.status.conditions[?(@.type==\"{}\")].{}}}", type, field)});
    return value.ok() ? *value : "";
  }
  // Waits until the condition's status and reason are these.
  bool WaitForCondition(Zone zone, const std::string& name, const std::string& type,
                        const std::string& status, const std::string& reason,
                        std::chrono::milliseconds timeout = 30s) {
    return test::WaitFor(
        [&] {
          return ConditionField(zone, name, type, "status") == status &&
                 ConditionField(zone, name, type, "reason") == reason;
        },
        timeout, 200ms);
  }
  std::string Describe(Zone zone, const std::string& name) {
    absl::StatusOr<std::string> status =
        kube().Kubectl(zone, {"get", "pps", name, "-n", kNamespace, "-o", "jsonpath={.status}"});
    return status.ok() ? *status : status.status().ToString();
  }

  static WriterView Writer(test::PropsyProcess& replica, Zone zone) {
    WriterView view;
    absl::StatusOr<test::AdminAnswer> answer = replica.AdminGet("/debug/status");
    if (!answer.ok() || answer->status != 200) return view;
    absl::StatusOr<rapidjson::Document> json = ParseJson(answer->body);
    if (!json.ok()) return view;
    for (const auto& cluster : json->GetArray()) {
      if (std::string(cluster["cluster"].GetString()) != ZoneName(zone)) continue;
      view.leader = cluster["leader"].GetBool();
      view.writes = cluster["writes"].GetDouble();
      view.conflicts = cluster["conflicts"].GetDouble();
      view.events_created = cluster["events_created"].GetDouble();
      if (cluster.HasMember("report_writes")) {
        view.report_writes = cluster["report_writes"].GetDouble();
      }
    }
    return view;
  }

  // Warning Events about pps/name: reason -> series count (1 without a
  // series).
  std::map<std::string, int64_t> Warnings(Zone zone, const std::string& name) {
    std::map<std::string, int64_t> warnings;
    absl::StatusOr<std::string> text =
        kube().Kubectl(zone, {"get", "events.events.k8s.io", "-n", kNamespace, "-o", "json"});
    if (!text.ok()) return warnings;
    absl::StatusOr<rapidjson::Document> json = ParseJson(*text);
    if (!json.ok()) return warnings;
    for (const auto& event : (*json)["items"].GetArray()) {
      if (std::string(event["regarding"]["name"].GetString()) != name) continue;
      EXPECT_STREQ(event["type"].GetString(), "Warning");
      EXPECT_STREQ(event["regarding"]["kind"].GetString(), "ProPsyService");
      int64_t count = 1;
      if (event.HasMember("series")) count = event["series"]["count"].GetInt64();
      warnings[event["reason"].GetString()] += count;
    }
    return warnings;
  }

  // A web service with one backend in zone-a; returns its port.
  int ApplyWeb(const std::string& name = "web") {
    test::HttpBackend& backend = AddKubeBackend(name + "-a");
    ServiceManifest manifest;
    manifest.name = name;
    manifest.service = name;
    manifest.listen_port = FreePort();
    Apply(kZoneA, Documents({ServiceYaml(manifest), Slice(name + "-a", name, backend)}));
    return manifest.listen_port;
  }
};

// `kubectl wait --for=condition=Programmed` returns once the real Envoy
// acknowledged the service; `kubectl get pps` shows the columns filled.
TEST_F(KubeStatusTest, KubectlWaitForProgrammedReturnsOnceEnvoyAcknowledged) {
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  const int port = ApplyWeb();
  const Clock::time_point applied = Clock::now();
  Kubectl(kZoneA,
          {"wait", "--for=condition=Programmed", "pps/web", "-n", kNamespace, "--timeout=60s"});
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - applied);
  // Programmed means Envoy has it: the listener is there already.
  EXPECT_TRUE(envoy_->ListenerPort(ListenerName(port)).ok()) << Diagnostics();
  EXPECT_EQ(ConditionField(kZoneA, "web", "Accepted", "status"), "True");
  EXPECT_EQ(ConditionField(kZoneA, "web", "ResolvedRefs", "status"), "True");
  EXPECT_EQ(ConditionField(kZoneA, "web", "Programmed", "observedGeneration"), "1");
  const std::string wide = Kubectl(kZoneA, {"get", "pps", "-n", kNamespace, "-o", "wide"});
  EXPECT_THAT(wide, testing::ContainsRegex("web +web +127\\.0\\.0\\.1:[0-9]+ +100 +HTTP +/ +True "
                                           "+True +Accepted"));
  const std::string yaml = Kubectl(kZoneA, {"get", "pps", "web", "-n", kNamespace, "-o", "yaml"});
  std::cout << "[status] kubectl wait returned after " << waited.count() << " ms\n"
            << "$ kubectl get pps -o wide\n"
            << wide << "$ kubectl get pps web -o yaml (status)\n"
            << yaml.substr(yaml.find("\nstatus:") + 1);

  // A new generation is programmed anew.
  ServiceManifest moved;
  moved.name = "web";
  moved.service = "web";
  moved.listen_port = port;
  moved.path_prefix = "/v2";
  Apply(kZoneA, ServiceYaml(moved));
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return ConditionField(kZoneA, "web", "Programmed", "observedGeneration") == "2" &&
               ConditionField(kZoneA, "web", "Programmed", "status") == "True";
      },
      30s, 200ms))
      << Describe(kZoneA, "web");
  EXPECT_TRUE(WaitForBody(port, "/v2/", "web-a", 10s)) << "Programmed before Envoy routes /v2";
  EXPECT_TRUE(Warnings(kZoneA, "web").empty());
}

// An object the CRD schema lets through but ProPsy rejects: Accepted=False,
// reason Invalid, the field path in the message, and one Warning Event whose
// series counts a repeat.
TEST_F(KubeStatusTest, AnInvalidObjectIsRejectedWithTheFieldPathAndOneWarningEvent) {
  ASSERT_NO_FATAL_FAILURE(StartPropsyOnKube());
  const std::string bad =
      "apiVersion: propsy.seznam.cz/v1\nkind: ProPsyService\nmetadata:\n  name: bad\n"
      "  namespace: shop\nspec:\n  service: web\n  servicePort: 8080\n  listen: {}\n"
      "  nodes: ['*']\n  percent: {}\n";
  Apply(kZoneA, fmt::format(fmt::runtime(bad), "not-an-address", 50), /*validate=*/false);
  ASSERT_TRUE(WaitForCondition(kZoneA, "bad", "Accepted", "False", "Invalid"))
      << Describe(kZoneA, "bad");
  EXPECT_THAT(ConditionField(kZoneA, "bad", "Accepted", "message"), HasSubstr("spec.listen"));
  EXPECT_EQ(ConditionField(kZoneA, "bad", "Programmed", "status"), "False");
  ASSERT_TRUE(test::WaitFor([&] { return !Warnings(kZoneA, "bad").empty(); }, 10s));
  EXPECT_EQ(Warnings(kZoneA, "bad"), (std::map<std::string, int64_t>{{"Invalid", 1}}));
  const std::string events = Kubectl(kZoneA, {"get", "events", "-n", kNamespace});
  std::cout << "$ kubectl get events\n" << events;
  EXPECT_THAT(events, HasSubstr("Warning"));

  // Still invalid in its next generation: the same Event counts it.
  Apply(kZoneA, fmt::format(fmt::runtime(bad), "not-an-address", 60), /*validate=*/false);
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return Warnings(kZoneA, "bad") == std::map<std::string, int64_t>{{"Invalid", 2}};
      },
      20s, 200ms))
      << testing::PrintToString(Warnings(kZoneA, "bad"));
  EXPECT_EQ(ConditionField(kZoneA, "bad", "Accepted", "observedGeneration"), "2");
}

// Two services on one address (TCP and HTTP): the younger is Conflicted and
// names the older. The same key defined differently in zone-b: zone-b's
// object is Overridden by the local zone's for zone-a's nodes.
TEST_F(KubeStatusTest, ConflictedNamesTheWinnerAndOverriddenNamesTheGoverningDefinition) {
  ASSERT_NO_FATAL_FAILURE(StartPropsyOnKube());
  const int port = FreePort();
  ServiceManifest older;
  older.name = "older";
  older.service = "web";
  older.listen_port = port;
  Apply(kZoneA, ServiceYaml(older));
  ASSERT_TRUE(WaitForCondition(kZoneA, "older", "Accepted", "True", "Accepted"))
      << Describe(kZoneA, "older");
  std::this_thread::sleep_for(1100ms);  // creationTimestamp has whole seconds
  ServiceManifest younger = older;
  younger.name = "younger";
  younger.type = "TCP";
  Apply(kZoneA, ServiceYaml(younger));
  ASSERT_TRUE(WaitForCondition(kZoneA, "younger", "Accepted", "False", "Conflicted"))
      << Describe(kZoneA, "younger");
  EXPECT_THAT(ConditionField(kZoneA, "younger", "Accepted", "message"), HasSubstr("shop/older"));
  EXPECT_EQ(ConditionField(kZoneA, "older", "Accepted", "status"), "True");
  EXPECT_TRUE(test::WaitFor([&] { return !Warnings(kZoneA, "younger").empty(); }, 10s));
  EXPECT_EQ(Warnings(kZoneA, "younger"), (std::map<std::string, int64_t>{{"Conflicted", 1}}));

  ServiceManifest shared;
  shared.name = "shared";
  shared.service = "web";
  shared.listen_port = FreePort();
  shared.percent = 30;
  Apply(kZoneA, ServiceYaml(shared));
  shared.percent = 70;
  Apply(kZoneB, ServiceYaml(shared));
  ASSERT_TRUE(WaitForCondition(kZoneB, "shared", "Accepted", "True", "Overridden"))
      << Describe(kZoneB, "shared");
  EXPECT_THAT(ConditionField(kZoneB, "shared", "Accepted", "message"),
              HasSubstr("the definition from config cluster zone-a governs for nodes of zone "
                        "zone-a"));
  EXPECT_THAT(ConditionField(kZoneB, "shared", "Accepted", "message"),
              HasSubstr("this object governs for nodes of zone zone-b"));
  EXPECT_TRUE(WaitForCondition(kZoneA, "shared", "Accepted", "True", "Overridden"))
      << Describe(kZoneA, "shared");
  // Equal again: nothing is overridden.
  shared.percent = 30;
  Apply(kZoneB, ServiceYaml(shared));
  EXPECT_TRUE(WaitForCondition(kZoneB, "shared", "Accepted", "True", "Accepted"))
      << Describe(kZoneB, "shared");
}

// A node that NACKs (a scripted xDS client): Programmed=False, reason
// Rejected, naming the node and its NACK message.
TEST_F(KubeStatusTest, ANackingNodeMakesProgrammedRejectedNamingTheNode) {
  ASSERT_NO_FATAL_FAILURE(StartPropsyOnKube());
  ServiceManifest nacked;
  nacked.name = "nacked";
  nacked.service = "web";
  nacked.listen_port = FreePort();
  Apply(kZoneA, ForNodes(ServiceYaml(nacked), "edge-nack"));
  ASSERT_TRUE(WaitForCondition(kZoneA, "nacked", "Accepted", "True", "Accepted"))
      << Describe(kZoneA, "nacked");

  auto channel = grpc::CreateChannel(fmt::format("127.0.0.1:{}", xds_port_),
                                     grpc::InsecureChannelCredentials());
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
  auto stream = xds::testing::OpenStream<xds::testing::SotwStream>(
      *stub,
      &envoy::service::discovery::v3::AggregatedDiscoveryService::Stub::StreamAggregatedResources);
  ASSERT_TRUE(stream->Send(xds::testing::SotwRequest("edge-nack", kClusterType)));
  std::optional<xds::testing::DiscoveryResponse> clusters = stream->Next(10s);
  ASSERT_TRUE(clusters.has_value());
  ASSERT_GT(clusters->resources_size(), 0);
  ASSERT_TRUE(stream->Send(
      xds::testing::SotwNack(*clusters, "", "cluster shop/nacked/primary: refused by the test")));
  ASSERT_TRUE(WaitForCondition(kZoneA, "nacked", "Programmed", "False", "Rejected"))
      << Describe(kZoneA, "nacked");
  const std::string message = ConditionField(kZoneA, "nacked", "Programmed", "message");
  EXPECT_THAT(message, HasSubstr("node edge-nack"));
  EXPECT_THAT(message, HasSubstr("refused by the test"));
  EXPECT_TRUE(test::WaitFor([&] { return !Warnings(kZoneA, "nacked").empty(); }, 10s));
  EXPECT_EQ(Warnings(kZoneA, "nacked"), (std::map<std::string, int64_t>{{"Rejected", 1}}));

  // The node accepts the next version (another connect timeout changes the
  // cluster): Programmed again.
  Apply(kZoneA, ForNodes(ServiceYaml(nacked), "edge-nack") + "  timeout: 900\n");
  std::optional<xds::testing::DiscoveryResponse> next = stream->Next(10s);
  ASSERT_TRUE(next.has_value());
  ASSERT_TRUE(stream->Send(xds::testing::SotwAck(*next)));
  EXPECT_TRUE(WaitForCondition(kZoneA, "nacked", "Programmed", "True", "Programmed"))
      << Describe(kZoneA, "nacked");
  stream.reset();
  // The NACK was the point: propsy's NACK counter is not checked here.
  propsy_.reset();
}

// Two replicas on the same API servers: only the Lease holder writes. The
// leader is killed (SIGKILL: no release); the other takes over within the
// lease duration plus a few seconds, and no condition flaps on the way
// (lastTransitionTime unchanged).
TEST_F(KubeStatusTest, OnlyTheLeaderWritesAndTheOtherTakesOverWhenItDies) {
  // Envoy lists both replicas but finds only A at first (as in
  // PropsyFailoverTest), and moves to B when A dies.
  const int replica_b_port = FreePort();
  replica_xds_ports_ = {replica_b_port};
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  ASSERT_TRUE(test::WaitFor([&] { return Writer(*propsy_, kZoneA).leader; }, 30s))
      << propsy_->LogTail();
  std::unique_ptr<test::PropsyProcess> replica_b;
  ASSERT_NO_FATAL_FAILURE(StartKubeReplica(replica_b_port, "propsy-b.log", &replica_b));

  std::vector<std::string> names;
  int first_port = 0;
  for (int i = 0; i < 5; ++i) {
    names.push_back("svc-" + std::to_string(i));
    ServiceManifest manifest;
    manifest.name = names.back();
    manifest.service = names.back();
    manifest.listen_port = FreePort();
    if (i == 0) first_port = manifest.listen_port;
    Apply(kZoneA, ServiceYaml(manifest));
  }
  for (const std::string& name : names) {
    ASSERT_TRUE(WaitForCondition(kZoneA, name, "Programmed", "True", "Programmed"))
        << name << ": " << Describe(kZoneA, name);
  }
  std::this_thread::sleep_for(3s);  // B would have written by now, if it did
  const WriterView a = Writer(*propsy_, kZoneA);
  const WriterView b = Writer(*replica_b, kZoneA);
  std::cout << fmt::format("[status] writes to zone-a: leader A {}, follower B {}\n", a.writes,
                           b.writes);
  EXPECT_TRUE(a.leader);
  EXPECT_GE(a.writes, 5);
  EXPECT_FALSE(b.leader);
  EXPECT_EQ(b.writes, 0);
  EXPECT_EQ(Writer(*replica_b, kZoneB).writes, 0);

  std::map<std::string, std::string> transitions;
  auto transitions_now = [&] {
    std::map<std::string, std::string> now;
    for (const std::string& name : names) {
      for (const char* type : {"Accepted", "ResolvedRefs", "Programmed"}) {
        now[name + "/" + type] = ConditionField(kZoneA, name, type, "lastTransitionTime");
      }
    }
    return now;
  };
  transitions = transitions_now();

  ASSERT_EQ(kill(propsy_->process().pid(), SIGKILL), 0);
  const Clock::time_point killed = Clock::now();
  ServiceManifest late;
  late.name = "late";
  late.service = "late";
  late.listen_port = FreePort();
  // For no connected node: Envoy's configuration stays as it was.
  Apply(kZoneA, ForNodes(ServiceYaml(late), "nobody"));
  ASSERT_TRUE(WaitForCondition(kZoneA, "late", "Accepted", "True", "Accepted", 40s))
      << Describe(kZoneA, "late") << "\n"
      << replica_b->LogTail();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
  std::cout << fmt::format("[status] replica B wrote {} ms after the leader was killed\n",
                           took.count());
  EXPECT_LE(took, 15s + 5s);
  EXPECT_TRUE(Writer(*replica_b, kZoneA).leader);
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(transitions_now(), transitions) << "a condition flapped during the handover";

  // Envoy is on B now, which sent it nothing it held (same versions). A new
  // generation is Programmed once Envoy acknowledges it: B counts what Envoy
  // said it held when it reconnected.
  ASSERT_TRUE(test::WaitFor(
      [&] {
        absl::StatusOr<test::AdminAnswer> nodes = replica_b->AdminGet("/debug/nodes");
        return nodes.ok() && nodes->body.find(kNodeId) != std::string::npos;
      },
      30s))
      << "Envoy did not move to replica B\n"
      << Diagnostics();
  ServiceManifest moved;
  moved.name = names[0];
  moved.service = names[0];
  moved.listen_port = first_port;
  moved.path_prefix = "/v2";
  Apply(kZoneA, ServiceYaml(moved));
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return ConditionField(kZoneA, names[0], "Programmed", "observedGeneration") == "2" &&
               ConditionField(kZoneA, names[0], "Programmed", "status") == "True";
      },
      30s, 200ms))
      << Describe(kZoneA, names[0]) << "\n"
      << replica_b->LogTail();
  propsy_.reset();  // killed: TearDown must not ask it anything
}

// Programmed counts the nodes of every replica (docs/status.md,
// "Replicas"): the real Envoy on replica A (the leader) and a scripted
// client on replica B. The leader's Programmed waits for B's node, names
// it when it NACKs, and recovers within the staleness bound once B is
// SIGKILLed (its report is then removed).
TEST_F(KubeStatusTest, ProgrammedCountsTheNodesOfEveryReplica) {
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  ASSERT_TRUE(test::WaitFor([&] { return Writer(*propsy_, kZoneA).leader; }, 30s))
      << propsy_->LogTail();
  const int replica_b_port = FreePort();
  std::unique_ptr<test::PropsyProcess> replica_b;
  ASSERT_NO_FATAL_FAILURE(StartKubeReplica(replica_b_port, "propsy-b.log", &replica_b));

  // Node edge-b on replica B, subscribed to listeners before the service
  // exists. (Listeners: a changed listen address makes Envoy on A add a
  // listener, which it acknowledges at once.)
  auto channel = grpc::CreateChannel(fmt::format("127.0.0.1:{}", replica_b_port),
                                     grpc::InsecureChannelCredentials());
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
  auto stream = xds::testing::OpenStream<xds::testing::SotwStream>(
      *stub,
      &envoy::service::discovery::v3::AggregatedDiscoveryService::Stub::StreamAggregatedResources);
  ASSERT_TRUE(stream->Send(xds::testing::SotwRequest("edge-b", kListenerType)));
  if (std::optional<xds::testing::DiscoveryResponse> first = stream->Next(5s)) {
    ASSERT_TRUE(stream->Send(xds::testing::SotwAck(*first)));
  }
  // The next response that carries the listener (others ACKed).
  auto next_with_listener = [&](int port) -> std::optional<xds::testing::DiscoveryResponse> {
    for (int i = 0; i < 10; ++i) {
      std::optional<xds::testing::DiscoveryResponse> response = stream->Next(20s);
      if (!response) return std::nullopt;
      for (const auto& resource : response->resources()) {
        envoy::config::listener::v3::Listener listener;
        if (resource.UnpackTo(&listener) && listener.name() == ListenerName(port)) {
          return response;
        }
      }
      if (!stream->Send(xds::testing::SotwAck(*response))) return std::nullopt;
    }
    return std::nullopt;
  };

  ServiceManifest spread;
  spread.name = "spread";
  spread.service = "spread";
  spread.listen_port = FreePort();
  const Clock::time_point applied = Clock::now();
  Apply(kZoneA, ServiceYaml(spread));
  std::optional<xds::testing::DiscoveryResponse> held = next_with_listener(spread.listen_port);
  ASSERT_TRUE(held.has_value()) << replica_b->LogTail();
  // Envoy on A acknowledges; edge-b on B has not: the leader counts both.
  ASSERT_TRUE(test::WaitFor(
      [&] {
        return ConditionField(kZoneA, "spread", "Programmed", "message") ==
               "1/2 nodes acknowledged";
      },
      30s, 200ms))
      << Describe(kZoneA, "spread") << "\n"
      << propsy_->LogTail() << "\n"
      << replica_b->LogTail();
  EXPECT_EQ(ConditionField(kZoneA, "spread", "Programmed", "reason"), "Pending");
  std::this_thread::sleep_for(3s);  // it stays so while edge-b does not answer
  EXPECT_EQ(ConditionField(kZoneA, "spread", "Programmed", "status"), "False");
  const Clock::time_point acked = Clock::now();
  ASSERT_TRUE(stream->Send(xds::testing::SotwAck(*held)));
  ASSERT_TRUE(WaitForCondition(kZoneA, "spread", "Programmed", "True", "Programmed"))
      << Describe(kZoneA, "spread");
  const auto pending_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(acked - applied).count();
  const auto programmed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - acked).count();

  // Generation 2 (another listen address): edge-b NACKs it; the leader
  // names the node and its replica.
  spread.listen_port = FreePort();
  Apply(kZoneA, ServiceYaml(spread));
  std::optional<xds::testing::DiscoveryResponse> second = next_with_listener(spread.listen_port);
  ASSERT_TRUE(second.has_value()) << replica_b->LogTail();
  ASSERT_TRUE(stream->Send(xds::testing::SotwNack(*second, "", "listener refused by the test")));
  ASSERT_TRUE(WaitForCondition(kZoneA, "spread", "Programmed", "False", "Rejected"))
      << Describe(kZoneA, "spread");
  // Envoy on A acknowledges generation 2 meanwhile: the count follows.
  EXPECT_TRUE(test::WaitFor(
      [&] {
        return ConditionField(kZoneA, "spread", "Programmed", "message")
            .ends_with("(1/2 nodes acknowledged)");
      },
      20s, 200ms))
      << Describe(kZoneA, "spread") << "\n"
      << propsy_->LogTail() << "\n"
      << replica_b->LogTail();
  const std::string message = ConditionField(kZoneA, "spread", "Programmed", "message");
  EXPECT_THAT(message, HasSubstr(fmt::format("node edge-b rejected listener {}",
                                             ListenerName(spread.listen_port))));
  EXPECT_THAT(message, HasSubstr("refused by the test"));
  EXPECT_THAT(message, HasSubstr("(on replica "));
  const std::vector<std::string> list_reports = {
      "get", "configmaps", "-n", "default", "-l", "propsy.seznam.cz/progress-report=propsy",
      "-o",  "name"};
  const std::string reports = Kubectl(kZoneA, list_reports);
  EXPECT_EQ(std::count(reports.begin(), reports.end(), '\n'), 2) << reports;
  // Replica B dies without a word: after the staleness bound its report
  // counts for nothing, and A's Envoy holds generation 2.
  ASSERT_EQ(kill(replica_b->process().pid(), SIGKILL), 0);
  const Clock::time_point killed = Clock::now();
  ASSERT_TRUE(WaitForCondition(kZoneA, "spread", "Programmed", "True", "Programmed", 45s))
      << Describe(kZoneA, "spread") << "\n"
      << propsy_->LogTail();
  const auto recovered =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
  EXPECT_EQ(ConditionField(kZoneA, "spread", "Programmed", "observedGeneration"), "2");
  // 15 s without renewal, a 2 s read interval, evaluation and the write.
  EXPECT_LE(recovered, 15s + 10s);
  EXPECT_TRUE(test::WaitFor(
      [&] {
        const std::string left = Kubectl(kZoneA, list_reports);
        return std::count(left.begin(), left.end(), '\n') == 1;
      },
      10s, 500ms))
      << "the dead replica's report was not removed";
  std::cout << fmt::format(
      "[status] two replicas: Programmed waited for replica B's node ({} ms from apply to its "
      "ACK, True {} ms after it); True again {} ms after B was SIGKILLed while its node "
      "rejected\n",
      pending_ms, programmed_ms, recovered.count());
  stream.reset();
}

// 2,000 unchanged services across a relist (410 Gone after an etcd
// compaction while propsy is cut off): not one status write (nor a write
// of the replica's progress report), and the API server agrees (every resourceVersion is
// unchanged).
TEST_F(KubeStatusTest, TwoThousandUnchangedServicesAcrossARelistWriteNothing) {
  constexpr int kServices = 2000;
  const Clock::time_point begin = Clock::now();
  // zone-b: no watch cache, so a compaction answers the watch 410.
  // One kubectl create (a few hundred objects a second when the machine is
  // idle, as few as 20 when it is busy).
  std::string yaml;
  for (int i = 0; i < kServices; ++i) {
    yaml += fmt::format(
        "---\napiVersion: propsy.seznam.cz/v1\nkind: ProPsyService\nmetadata:\n  name: "
        "s{:04d}\n  namespace: shop\nspec:\n  service: s{:04d}\n  servicePort: 8080\n  "
        "listen: 127.0.0.1:9999\n  pathPrefix: /s{:04d}\n  nodes: [nobody]\n  percent: 100\n",
        i, i, i);
  }
  const std::string file = dir_.File("many.yaml");
  ASSERT_TRUE(WriteFileAtomically(file, yaml).ok());
  test::SubprocessOptions options;
  options.program = PROPSY_KUBECTL_PATH;
  options.args = {
      "--kubeconfig", kube().cluster(kZoneB).admin_kubeconfig, "create", "-f", file, "-o", "name"};
  options.log_path = dir_.File("many.log");
  absl::StatusOr<test::RunResult> created = test::RunToCompletion(options, 300s);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ASSERT_EQ(created->exit_code, 0) << test::TailLines(created->output, 10);
  const auto create_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - begin);
  // Between propsy and zone-b: a forwarder that can cut the connection.
  absl::StatusOr<std::unique_ptr<TcpForwarder>> forwarder =
      TcpForwarder::Start(kube().cluster(kZoneB).apiserver_port);
  ASSERT_TRUE(forwarder.ok()) << forwarder.status().ToString();
  WriteZoneKubeconfig(kZoneB, fmt::format("https://127.0.0.1:{}", (*forwarder)->port()),
                      AdminTokenUser(kZoneB));
  const Clock::time_point started = Clock::now();
  ASSERT_NO_FATAL_FAILURE(StartPropsyOnKube());
  auto all_written = [&] {
    absl::StatusOr<std::string> accepted = kube().Kubectl(
        kZoneB, {"get", "pps", "-n", kNamespace, "-o",
                 "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Accepted\")].status}"
                 "{\"\\n\"}{end}"});
    if (!accepted.ok()) return false;
    int count = 0;
    for (size_t at = accepted->find("True"); at != std::string::npos;
         at = accepted->find("True", at + 1)) {
      ++count;
    }
    return count == kServices;
  };
  ASSERT_TRUE(test::WaitFor(all_written, 240s, 1s)) << propsy_->LogTail();
  const auto converge_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  // Settled: the writer saw its own writes come back.
  std::this_thread::sleep_for(3s);
  const double writes_before = Writer(*propsy_, kZoneB).writes;
  EXPECT_GE(writes_before, kServices);
  const double report_writes_before = Writer(*propsy_, kZoneB).report_writes;
  EXPECT_GE(report_writes_before, 1);
  auto versions = [&] {
    absl::StatusOr<std::string> text = kube().Kubectl(
        kZoneB, {"get", "pps", "-n", kNamespace, "-o",
                 "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion}"
                 "{\"\\n\"}{end}"});
    return text.ok() ? *text : text.status().ToString();
  };
  const std::string versions_before = versions();
  const double relists_before = SourceEvents(kZoneB, "config", "relists");
  ASSERT_GE(relists_before, 0);

  (*forwarder)->Cut();
  // Any change moves etcd's revision; the compaction then makes propsy's
  // resourceVersion too old: its watch gets 410 and it relists.
  Kubectl(kZoneB, {"create", "configmap", "bump", "-n", kNamespace});
  absl::StatusOr<int64_t> revision = kube().CompactEtcd(kZoneB);
  ASSERT_TRUE(revision.ok()) << revision.status().ToString();
  ASSERT_TRUE((*forwarder)->Restore().ok());
  ASSERT_TRUE(test::WaitFor(
      [&] { return SourceEvents(kZoneB, "config", "relists") > relists_before; }, 60s, 200ms))
      << propsy_->LogTail();
  std::this_thread::sleep_for(5s);  // time to write, if anything were written
  const double writes_after = Writer(*propsy_, kZoneB).writes;
  // Nor a progress report: the generations and nodes are the same.
  EXPECT_EQ(Writer(*propsy_, kZoneB).report_writes, report_writes_before);
  std::cout << fmt::format(
      "[status] {} services: created in {} ms, statuses converged {} ms after start ({} writes); "
      "status writes across the relist: {}\n",
      kServices, create_ms.count(), converge_ms.count(), writes_before,
      writes_after - writes_before);
  EXPECT_EQ(writes_after, writes_before);
  EXPECT_EQ(versions(), versions_before);
}

}  // namespace
}  // namespace propsy::e2e
