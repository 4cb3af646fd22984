#include "main/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace propsy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The smallest valid command line plus `extra`.
std::vector<std::string> MinimalArgs(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"-zone",
                                   "zone-a",
                                   "-configcluster",
                                   "dir:/etc/pps:zone-a",
                                   "-endpointcluster",
                                   "dir:/etc/eps:zone-a:0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

PropsyOptions ParseOk(const std::vector<std::string>& args) {
  absl::StatusOr<CommandLine> parsed = ParseCommandLine(args);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return {};
  EXPECT_EQ(parsed->action, CommandLine::Action::kRun);
  return parsed->options;
}

std::string ParseError(const std::vector<std::string>& args) {
  absl::StatusOr<CommandLine> parsed = ParseCommandLine(args);
  EXPECT_FALSE(parsed.ok()) << "expected an error";
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(ParseCommandLineTest, DefaultsMatchTheSpec) {
  PropsyOptions options = ParseOk(MinimalArgs());
  EXPECT_EQ(options.listen, ":8888");
  EXPECT_EQ(options.listen_health, ":8889");
  EXPECT_EQ(options.zone, "zone-a");
  EXPECT_EQ(options.xds_cluster, "xds_cluster");
  EXPECT_EQ(options.sync_timeout, std::chrono::seconds(30));
  EXPECT_EQ(options.drain_period, std::chrono::seconds(10));
  EXPECT_FALSE(options.debug);
  EXPECT_FALSE(options.peer_skip_cn);
  EXPECT_TRUE(options.legacy_endpoints);
  EXPECT_THAT(options.namespaces, IsEmpty());
  EXPECT_THAT(options.warnings, IsEmpty());
  ASSERT_EQ(options.config_clusters.size(), 1u);
  EXPECT_EQ(options.config_clusters[0].source, "dir:/etc/pps");
  EXPECT_EQ(options.config_clusters[0].zone, "zone-a");
  EXPECT_EQ(options.config_clusters[0].name, "pps");
  ASSERT_EQ(options.endpoint_clusters.size(), 1u);
  EXPECT_EQ(options.endpoint_clusters[0].source, "dir:/etc/eps");
  EXPECT_EQ(options.endpoint_clusters[0].priority, 0);
  EXPECT_EQ(options.endpoint_clusters[0].name, "eps");
}

TEST(ParseCommandLineTest, EveryFlagInEveryForm) {
  PropsyOptions options = ParseOk({
      "--listen=127.0.0.1:0",
      "-zone=z1",
      "--configcluster",
      "/k/kubeconfig-foo.yaml:z1",
      "-configcluster=incluster:z2",
      "-endpointcluster",
      "incluster:z1:5",
      "--endpointcluster=dir:/data/eps:z2:1",
      "-servercert",
      "/tls/cert.pem",
      "-serverkey=/tls/key.pem",
      "--clientverifyca",
      "/tls/ca.pem",
      "-peerskipcn",
      "-listenhealth",
      "[::1]:9000",
      "--debug=true",
      "-xdscluster",
      "propsy",
      "-namespace",
      "team-a",
      "--namespace=team-b",
      "-synctimeout",
      "1m30s",
      "-drainperiod=2500ms",
      "-legacyendpoints=false",
  });
  EXPECT_EQ(options.listen, "127.0.0.1:0");
  EXPECT_EQ(options.zone, "z1");
  ASSERT_EQ(options.config_clusters.size(), 2u);
  EXPECT_EQ(options.config_clusters[0].source, "/k/kubeconfig-foo.yaml");
  EXPECT_EQ(options.config_clusters[0].name, "kubeconfig-foo");
  EXPECT_EQ(options.config_clusters[1].source, "incluster");
  EXPECT_EQ(options.config_clusters[1].zone, "z2");
  EXPECT_EQ(options.config_clusters[1].name, "incluster");
  ASSERT_EQ(options.endpoint_clusters.size(), 2u);
  EXPECT_EQ(options.endpoint_clusters[0].priority, 5);
  EXPECT_EQ(options.endpoint_clusters[1].source, "dir:/data/eps");
  EXPECT_EQ(options.endpoint_clusters[1].zone, "z2");
  EXPECT_EQ(options.endpoint_clusters[1].priority, 1);
  EXPECT_EQ(options.server_cert, "/tls/cert.pem");
  EXPECT_EQ(options.server_key, "/tls/key.pem");
  EXPECT_EQ(options.client_verify_ca, "/tls/ca.pem");
  EXPECT_TRUE(options.peer_skip_cn);
  EXPECT_EQ(options.listen_health, "[::1]:9000");
  EXPECT_TRUE(options.debug);
  EXPECT_EQ(options.xds_cluster, "propsy");
  EXPECT_THAT(options.namespaces, ElementsAre("team-a", "team-b"));
  EXPECT_EQ(options.sync_timeout, std::chrono::seconds(90));
  EXPECT_EQ(options.drain_period, std::chrono::milliseconds(2500));
  EXPECT_FALSE(options.legacy_endpoints);
  EXPECT_THAT(options.warnings, IsEmpty());
}

TEST(ParseCommandLineTest, RepeatedNamespacesAreKeptOnce) {
  PropsyOptions options =
      ParseOk(MinimalArgs({"-namespace", "b", "-namespace", "a", "-namespace", "b"}));
  EXPECT_THAT(options.namespaces, ElementsAre("b", "a"));
}

TEST(ParseCommandLineTest, ColonsInPathsSplitOnTheLastColons) {
  PropsyOptions options = ParseOk(
      {"-zone", "z", "-configcluster", "dir:/mnt/c:/x:y:z", "-endpointcluster", "/k/a:b.yaml:z:3"});
  EXPECT_EQ(options.config_clusters[0].source, "dir:/mnt/c:/x:y");
  EXPECT_EQ(options.config_clusters[0].zone, "z");
  EXPECT_EQ(options.endpoint_clusters[0].source, "/k/a:b.yaml");
  EXPECT_EQ(options.endpoint_clusters[0].zone, "z");
  EXPECT_EQ(options.endpoint_clusters[0].priority, 3);
}

TEST(ParseCommandLineTest, MalformedClusterFlagsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {{"-configcluster", "nocolon"},
            "invalid value \"nocolon\" for flag -configcluster: want SRC:ZONE"},
           {{"-configcluster", "dir:/x:"},
            "invalid value \"dir:/x:\" for flag -configcluster: ZONE is empty"},
           {{"-configcluster", ":z"}, "invalid value \":z\" for flag -configcluster: SRC is empty"},
           {{"-configcluster", "dir::z"},
            "invalid value \"dir::z\" for flag -configcluster: dir: needs a PATH"},
           {{"-endpointcluster", "src:z"},
            "invalid value \"src:z\" for flag -endpointcluster: want SRC:ZONE:PRIORITY"},
           {{"-endpointcluster", "src:z:-1"},
            "invalid value \"src:z:-1\" for flag -endpointcluster: PRIORITY \"-1\" is not a "
            "non-negative integer"},
           {{"-endpointcluster", "src:z:"}, "for flag -endpointcluster: PRIORITY \"\""},
           {{"-endpointcluster", "src:z:1x"}, "for flag -endpointcluster: PRIORITY \"1x\""},
           {{"-endpointcluster", "src:z:99999999999"},
            "for flag -endpointcluster: PRIORITY \"99999999999\""},
           {{"-endpointcluster", "src::1"}, "for flag -endpointcluster: ZONE is empty"},
           {{"-endpointcluster", ":z:1"}, "for flag -endpointcluster: SRC is empty"},
       }) {
    EXPECT_THAT(ParseError(MinimalArgs(c.args)), HasSubstr(c.want)) << c.args[1];
  }
}

TEST(ParseCommandLineTest, BadValuesNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {{"-synctimeout", "abc"}, "invalid value \"abc\" for flag -synctimeout: "},
           {{"-synctimeout", "-1s"},
            "invalid value \"-1s\" for flag -synctimeout: must not be negative"},
           {{"-drainperiod", "10"}, "invalid value \"10\" for flag -drainperiod: "},
           {{"-drainperiod", "-1s"},
            "invalid value \"-1s\" for flag -drainperiod: must not be negative"},
           {{"-listen", "8888"}, "invalid value \"8888\" for flag -listen: missing port"},
           {{"-listenhealth", ":99999"}, "invalid value \":99999\" for flag -listenhealth: port"},
           {{"-debug=maybe"}, "invalid value \"maybe\" for flag -debug: "},
           {{"-peerskipcn=2"}, "invalid value \"2\" for flag -peerskipcn: "},
           {{"-xdscluster", ""}, "invalid value \"\" for flag -xdscluster: must not be empty"},
           {{"-namespace", "Team_A"}, "invalid value \"Team_A\" for flag -namespace: "},
           {{"-namespace", ""}, "invalid value \"\" for flag -namespace: "},
           {{"-nosuch"}, "flag provided but not defined: -nosuch"},
           {{"-zone"}, "flag needs an argument: -zone"},
           {{"positional"}, "unexpected argument \"positional\""},
       }) {
    EXPECT_THAT(ParseError(MinimalArgs(c.args)), HasSubstr(c.want)) << c.args[0];
  }
}

TEST(ParseCommandLineTest, RequiredFlags) {
  EXPECT_THAT(ParseError({"-configcluster", "incluster:z", "-endpointcluster", "incluster:z:0"}),
              HasSubstr("-zone is required"));
  EXPECT_THAT(ParseError({"-zone", "z", "-endpointcluster", "incluster:z:0"}),
              HasSubstr("at least one -configcluster"));
  EXPECT_THAT(ParseError({"-zone", "z", "-configcluster", "incluster:z"}),
              HasSubstr("at least one -endpointcluster"));
  EXPECT_THAT(ParseError({}), HasSubstr("-zone is required"));
}

TEST(ParseCommandLineTest, PrioritiesMustBeUniqueAndTheErrorNamesBothFlags) {
  std::string error =
      ParseError({"-zone", "z", "-configcluster", "incluster:z", "-endpointcluster", "dir:/a:z:1",
                  "-endpointcluster", "dir:/b:z:2", "-endpointcluster", "dir:/c:y:1"});
  EXPECT_THAT(error, HasSubstr("-endpointcluster \"dir:/a:z:1\""));
  EXPECT_THAT(error, HasSubstr("-endpointcluster \"dir:/c:y:1\""));
  EXPECT_THAT(error, HasSubstr("same priority 1"));
}

TEST(ParseCommandLineTest, TlsCombinations) {
  PropsyOptions plain = ParseOk(MinimalArgs());
  EXPECT_TRUE(plain.server_cert.empty() && plain.server_key.empty());

  PropsyOptions tls = ParseOk(MinimalArgs({"-servercert", "c.pem", "-serverkey", "k.pem"}));
  EXPECT_EQ(tls.server_cert, "c.pem");
  EXPECT_TRUE(tls.client_verify_ca.empty());

  PropsyOptions mtls = ParseOk(
      MinimalArgs({"-servercert", "c.pem", "-serverkey", "k.pem", "-clientverifyca", "ca.pem"}));
  EXPECT_EQ(mtls.client_verify_ca, "ca.pem");

  EXPECT_THAT(ParseError(MinimalArgs({"-servercert", "c.pem"})),
              HasSubstr("-servercert requires -serverkey"));
  EXPECT_THAT(ParseError(MinimalArgs({"-serverkey", "k.pem"})),
              HasSubstr("-serverkey requires -servercert"));
  EXPECT_THAT(ParseError(MinimalArgs({"-clientverifyca", "ca.pem"})),
              HasSubstr("-clientverifyca requires -servercert and -serverkey"));
  EXPECT_THAT(ParseError(MinimalArgs({"-servercert", "c.pem", "-clientverifyca", "ca.pem"})),
              HasSubstr("-servercert requires -serverkey"));
  EXPECT_THAT(ParseError(MinimalArgs({"-serverkey", "k.pem", "-clientverifyca", "ca.pem"})),
              HasSubstr("-serverkey requires -servercert"));
}

TEST(ParseCommandLineTest, Warnings) {
  PropsyOptions skip = ParseOk(MinimalArgs({"-peerskipcn"}));
  ASSERT_EQ(skip.warnings.size(), 1u);
  EXPECT_THAT(skip.warnings[0], HasSubstr("-peerskipcn has no effect without -clientverifyca"));

  PropsyOptions skip_with_ca = ParseOk(
      MinimalArgs({"-peerskipcn", "-servercert", "c", "-serverkey", "k", "-clientverifyca", "ca"}));
  EXPECT_THAT(skip_with_ca.warnings, IsEmpty());

  PropsyOptions foreign = ParseOk(
      {"-zone", "z", "-configcluster", "incluster:other", "-endpointcluster", "incluster:z:0"});
  ASSERT_EQ(foreign.warnings.size(), 1u);
  EXPECT_THAT(foreign.warnings[0], HasSubstr("no -configcluster has the -zone zone \"z\""));

  PropsyOptions twice = ParseOk(MinimalArgs({"-configcluster", "dir:/etc/pps:zone-b"}));
  ASSERT_EQ(twice.warnings.size(), 1u);
  EXPECT_THAT(twice.warnings[0], HasSubstr("\"dir:/etc/pps\" is given more than once"));
}

TEST(ParseCommandLineTest, NamesAreUniquePerRole) {
  PropsyOptions options = ParseOk({
      "-zone",
      "z",  //
      "-configcluster",
      "dir:/a/zone-a:z",
      "-configcluster",
      "dir:/b/zone-a:z",
      "-configcluster",
      "/k/zone-a.yaml:z",
      "-endpointcluster",
      "dir:/a/zone-a:z:0",
      "-endpointcluster",
      "dir:/c/zone-b:z:1",
  });
  EXPECT_EQ(options.config_clusters[0].name, "zone-a");
  EXPECT_EQ(options.config_clusters[1].name, "zone-a-2");
  EXPECT_EQ(options.config_clusters[2].name, "zone-a-3");
  // Another role: the same name is fine.
  EXPECT_EQ(options.endpoint_clusters[0].name, "zone-a");
  EXPECT_EQ(options.endpoint_clusters[1].name, "zone-b");
}

TEST(ParseCommandLineTest, HelpListsEveryFlag) {
  absl::StatusOr<CommandLine> help = ParseCommandLine({"-help"});
  ASSERT_TRUE(help.ok()) << help.status();
  EXPECT_EQ(help->action, CommandLine::Action::kHelp);
  for (const char* flag :
       {"-listen HOST:PORT", "-zone string", "-configcluster SRC:ZONE",
        "-endpointcluster SRC:ZONE:PRIORITY", "-servercert string", "-serverkey string",
        "-clientverifyca string", "-peerskipcn", "-listenhealth HOST:PORT", "-debug",
        "-xdscluster string", "-namespace NAME", "-synctimeout duration", "-drainperiod duration",
        "-leaderelect", "-leasenamespace NAME", "-leasename NAME", "-legacyendpoints"}) {
    EXPECT_THAT(help->text, HasSubstr(std::string("  ") + flag + "\n")) << flag;
  }
  EXPECT_THAT(help->text, HasSubstr("(default \":8888\")"));
  EXPECT_THAT(help->text, HasSubstr("(default \":8889\")"));
  EXPECT_THAT(help->text, HasSubstr("(default \"xds_cluster\")"));
  EXPECT_THAT(help->text, HasSubstr("(default 30s)"));
  EXPECT_THAT(help->text, HasSubstr("(default 10s)"));
  EXPECT_THAT(help->text, HasSubstr("saves the watch on very large clusters) (default true)"));

  // -h wins even when the rest would be invalid.
  absl::StatusOr<CommandLine> short_help = ParseCommandLine({"-h"});
  ASSERT_TRUE(short_help.ok());
  EXPECT_EQ(short_help->action, CommandLine::Action::kHelp);
}

// SPEC §6: leader election is on by default only with a Kubernetes config
// cluster; the Lease's namespace defaults to the pod's own.
TEST(ParseCommandLineTest, LeaderElectionFlags) {
  const std::string no_file = "/nonexistent/namespace";
  auto parse = [&](const std::vector<std::string>& args, const std::string& namespace_file) {
    absl::StatusOr<CommandLine> parsed = ParseCommandLine(args, namespace_file);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    return parsed.ok() ? parsed->options : PropsyOptions{};
  };
  PropsyOptions files_only = parse(MinimalArgs(), no_file);
  EXPECT_FALSE(files_only.leader_elect);
  EXPECT_EQ(files_only.lease_namespace, "default");
  EXPECT_EQ(files_only.lease_name, "propsy");

  const std::vector<std::string> kube = {
      "-zone", "a", "-configcluster", "/k/a.yaml:a", "-endpointcluster", "/k/a.yaml:a:0"};
  EXPECT_TRUE(parse(kube, no_file).leader_elect);
  std::vector<std::string> off = kube;
  off.push_back("-leaderelect=false");
  EXPECT_FALSE(parse(off, no_file).leader_elect);
  EXPECT_TRUE(parse(MinimalArgs({"-leaderelect"}), no_file).leader_elect);

  const std::string pod_namespace =
      (std::filesystem::temp_directory_path() / ("propsy-flags-ns-" + std::to_string(getpid())))
          .string();
  {
    std::ofstream file(pod_namespace);
    file << "propsy-system";
  }
  EXPECT_EQ(parse(kube, pod_namespace).lease_namespace, "propsy-system");
  std::vector<std::string> explicit_lease = kube;
  explicit_lease.insert(explicit_lease.end(),
                        {"-leasenamespace", "ops", "--leasename=edge-propsy"});
  PropsyOptions chosen = parse(explicit_lease, pod_namespace);
  EXPECT_EQ(chosen.lease_namespace, "ops");
  EXPECT_EQ(chosen.lease_name, "edge-propsy");

  EXPECT_THAT(ParseError(MinimalArgs({"-leaderelect=maybe"})),
              HasSubstr("invalid value \"maybe\" for flag -leaderelect"));
  EXPECT_THAT(ParseError(MinimalArgs({"-leasenamespace", "Not_A_Namespace"})),
              HasSubstr("-leasenamespace"));
  EXPECT_THAT(ParseError(MinimalArgs({"-leasename", "-bad-"})), HasSubstr("-leasename"));
  std::filesystem::remove(pod_namespace);
}

TEST(ParseCommandLineTest, Version) {
  absl::StatusOr<CommandLine> version = ParseCommandLine({"-version"});
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->action, CommandLine::Action::kVersion);
  EXPECT_THAT(version->text, HasSubstr("propsy "));
  EXPECT_GT(version->text.size(), std::string("propsy ").size());
}

TEST(DeriveClusterNameTest, FromSources) {
  EXPECT_EQ(DeriveClusterName("dir:/x/zone-a"), "zone-a");
  EXPECT_EQ(DeriveClusterName("dir:/x/zone-a/"), "zone-a");
  EXPECT_EQ(DeriveClusterName("dir:relative"), "relative");
  EXPECT_EQ(DeriveClusterName("dir:/x/zone.a"), "zone.a");  // directories keep dots
  EXPECT_EQ(DeriveClusterName("/k/kubeconfig-foo.yaml"), "kubeconfig-foo");
  EXPECT_EQ(DeriveClusterName("/home/u/.kube/config"), "config");
  // A file called kubeconfig or config is named by its folder.
  EXPECT_EQ(DeriveClusterName("/tmp/clusters/zone-b/kubeconfig"), "zone-b");
  EXPECT_EQ(DeriveClusterName("/etc/bar/config"), "bar");
  EXPECT_EQ(DeriveClusterName("kubeconfig"), "kubeconfig");
  EXPECT_EQ(DeriveClusterName("/kubeconfig"), "kubeconfig");
  EXPECT_EQ(DeriveClusterName("/k/.hidden"), ".hidden");
  EXPECT_EQ(DeriveClusterName("incluster"), "incluster");
  EXPECT_EQ(DeriveClusterName("/k/my cluster@prod.yaml"), "my-cluster-prod");
  EXPECT_EQ(DeriveClusterName("dir:/"), "dir");
  EXPECT_EQ(DeriveClusterName("dir:."), "dir");
  EXPECT_EQ(DeriveClusterName("C:\\k\\x.yaml"), "C--k-x");
}

TEST(UniqueNamesTest, SuffixesClashes) {
  EXPECT_THAT(UniqueNames({"a", "b", "a", "a"}), ElementsAre("a", "b", "a-2", "a-3"));
  // A name someone derives by itself is never taken by a suffix.
  EXPECT_THAT(UniqueNames({"a", "a", "a-2"}), ElementsAre("a", "a-3", "a-2"));
  EXPECT_THAT(UniqueNames({}), IsEmpty());
}

TEST(HostPortTest, Parses) {
  struct Case {
    std::string text;
    std::string host;
    int port;
  };
  for (const Case& c : std::vector<Case>{
           {":8888", "", 8888},
           {"127.0.0.1:0", "127.0.0.1", 0},
           {"[::1]:9000", "::1", 9000},
           {"[::]:1", "::", 1},
           {"localhost:80", "localhost", 80},
           {"0.0.0.0:65535", "0.0.0.0", 65535},
       }) {
    absl::StatusOr<HostPort> parsed = ParseHostPort(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.status();
    EXPECT_EQ(parsed->host, c.host) << c.text;
    EXPECT_EQ(parsed->port, c.port) << c.text;
    EXPECT_EQ(parsed->ToString(), c.text) << c.text;
  }
}

TEST(HostPortTest, Rejects) {
  for (const std::string text : {"", "8888", ":", ":65536", ":-1", ":80x", "::1:80", "[::1]",
                                 "[::1]80", "[::1:80", "[nothost]:80", "a b:80", "host:+80"}) {
    EXPECT_FALSE(ParseHostPort(text).ok()) << text;
  }
  EXPECT_THAT(std::string(ParseHostPort("::1:80").status().message()),
              HasSubstr("too many colons"));
}

}  // namespace
}  // namespace propsy
