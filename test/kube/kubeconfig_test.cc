#include "kube/kubeconfig.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <stdlib.h>

#include <string>

#include "absl/strings/escaping.h"
#include "kube/exec_credential.h"
#include "kube/kube_test_util.h"

namespace propsy::kube {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\nMIIBcluster\n-----END CERTIFICATE-----\n";
constexpr char kCertPem[] = "-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n";
constexpr char kKeyPem[] = "-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n";

std::string B64(const std::string& text) { return absl::Base64Escape(text); }

// A kubeconfig with one context "ctx" joining cluster "c" and user "u".
std::string Kubeconfig(const std::string& cluster_body, const std::string& user_body) {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "current-context: ctx\n"
         "contexts:\n"
         "- name: ctx\n"
         "  context: {cluster: c, user: u, namespace: default}\n"
         "clusters:\n"
         "- name: c\n"
         "  cluster:\n" +
         cluster_body +
         "users:\n"
         "- name: u\n"
         "  user:\n" +
         user_body;
}

std::string Authorization(const ClusterConnectionConfig& config) {
  absl::StatusOr<Credential> credential = config.authenticator->GetCredential();
  EXPECT_TRUE(credential.ok()) << credential.status();
  return credential.ok() ? credential->authorization : "";
}

TEST(KubeconfigTest, ReadsEveryClusterField) {
  const std::string yaml = Kubeconfig(
      "    server: https://kube.example:6443/prefix/\n"
      "    certificate-authority-data: " +
          B64(kCaPem) +
          "\n"
          "    tls-server-name: api.internal\n"
          "    proxy-url: socks5://127.0.0.1:1080\n",
      "    token: secret-token\n");
  absl::StatusOr<ClusterConnectionConfig> config = ParseKubeconfig(yaml, "/nowhere");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->context, "ctx");
  EXPECT_EQ(config->server, "https://kube.example:6443/prefix");
  EXPECT_EQ(config->certificate_authority_pem, kCaPem);
  EXPECT_EQ(config->tls_server_name, "api.internal");
  EXPECT_EQ(config->proxy_url, "socks5://127.0.0.1:1080");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->authenticator->Describe(), "token");
  EXPECT_EQ(Authorization(*config), "Bearer secret-token");
}

TEST(KubeconfigTest, InsecureSkipTlsVerifyWithoutCa) {
  absl::StatusOr<ClusterConnectionConfig> config = ParseKubeconfig(
      Kubeconfig("    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true\n",
                 "    {}\n"),
      "/nowhere");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_TRUE(config->certificate_authority_pem.empty());
  EXPECT_EQ(config->authenticator->Describe(), "none");
  EXPECT_EQ(Authorization(*config), "");
}

TEST(KubeconfigTest, RelativeFilesResolveAgainstTheKubeconfigDirectory) {
  TempDir dir;
  dir.Write("pki/ca.crt", kCaPem);
  dir.Write("pki/client.crt", kCertPem);
  dir.Write("pki/client.key", kKeyPem);
  dir.Write("pki/token", "file-token\n");
  const std::string path =
      dir.Write("conf/config", Kubeconfig("    server: https://127.0.0.1:6443\n"
                                          "    certificate-authority: ../pki/ca.crt\n",
                                          "    client-certificate: ../pki/client.crt\n"
                                          "    client-key: " +
                                              dir.Path("pki/client.key") +
                                              "\n"
                                              "    tokenFile: ../pki/token\n"
                                              "    token: ignored-when-a-token-file-is-given\n"));
  absl::StatusOr<ClusterConnectionConfig> config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->certificate_authority_pem, kCaPem);
  EXPECT_EQ(config->client_certificate_pem, kCertPem);
  EXPECT_EQ(config->client_key_pem, kKeyPem);
  EXPECT_THAT(config->authenticator->Describe(), HasSubstr(dir.Path("pki/token")));
  EXPECT_EQ(Authorization(*config), "Bearer file-token");
}

TEST(KubeconfigTest, InlineDataWinsOverFiles) {
  TempDir dir;
  const std::string other = "-----BEGIN CERTIFICATE-----\nother\n-----END CERTIFICATE-----\n";
  dir.Write("ca.crt", other);
  dir.Write("client.crt", other);
  // Inline data split over lines, as some tools write it.
  std::string wrapped_key = B64(kKeyPem);
  wrapped_key.insert(20, "\n      ");
  absl::StatusOr<ClusterConnectionConfig> config =
      ParseKubeconfig(Kubeconfig("    server: https://127.0.0.1:6443\n"
                                 "    certificate-authority: ca.crt\n"
                                 "    certificate-authority-data: " +
                                     B64(kCaPem) + "\n",
                                 "    client-certificate: client.crt\n"
                                 "    client-certificate-data: " +
                                     B64(kCertPem) +
                                     "\n"
                                     "    client-key-data: |\n      " +
                                     wrapped_key + "\n"),
                      dir.path());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->certificate_authority_pem, kCaPem);
  EXPECT_EQ(config->client_certificate_pem, kCertPem);
  EXPECT_EQ(config->client_key_pem, kKeyPem);
}

TEST(KubeconfigTest, BasicAuthentication) {
  absl::StatusOr<ClusterConnectionConfig> config =
      ParseKubeconfig(Kubeconfig("    server: https://127.0.0.1:6443\n",
                                 "    username: admin\n    password: s3cret\n"),
                      "/nowhere");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(Authorization(*config), "Basic " + B64("admin:s3cret"));
}

TEST(KubeconfigTest, PicksTheCurrentContextAndLastEntryOfAName) {
  const std::string yaml =
      "current-context: second\n"
      "contexts:\n"
      "- name: first\n"
      "  context: {cluster: one, user: alice}\n"
      "- name: second\n"
      "  context: {cluster: two, user: bob}\n"
      "clusters:\n"
      "- name: one\n"
      "  cluster: {server: 'https://127.0.0.1:1'}\n"
      "- name: two\n"
      "  cluster: {server: 'https://127.0.0.1:2'}\n"
      "- name: two\n"
      "  cluster: {server: 'https://127.0.0.1:3'}\n"
      "users:\n"
      "- name: alice\n"
      "  user: {token: a}\n"
      "- name: bob\n"
      "  user: {token: b}\n"
      "- name: unused\n"
      "  user: {client-key-data: '!!! not decoded: not used'}\n";
  absl::StatusOr<ClusterConnectionConfig> config = ParseKubeconfig(yaml, "/nowhere");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->context, "second");
  EXPECT_EQ(config->server, "https://127.0.0.1:3");
  EXPECT_EQ(Authorization(*config), "Bearer b");
}

TEST(KubeconfigTest, ErrorsNameTheFieldPath) {
  struct Case {
    std::string name;
    std::string yaml;
    std::string error;
  };
  const std::string server = "    server: https://127.0.0.1:6443\n";
  const std::string exec_head =
      "    exec:\n"
      "      command: plugin\n";
  const std::vector<Case> cases = {
      {"no current context", "clusters: []\n", "current-context: not set"},
      {"missing context", "current-context: prod\ncontexts: []\n",
       "current-context: no context named \"prod\""},
      {"missing cluster", "current-context: a\ncontexts:\n- name: a\n  context: {cluster: x}\n",
       "contexts[0].context.cluster: no cluster named \"x\""},
      {"missing user",
       "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: nobody}\n"
       "clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1'}\n",
       "contexts[0].context.user: no user named \"nobody\""},
      {"context without cluster",
       "current-context: a\ncontexts:\n- name: a\n  context: {user: u}\n",
       "contexts[0].context.cluster: missing"},
      {"bad base64 key",
       Kubeconfig(server, "    client-certificate-data: " + B64(kCertPem) +
                              "\n    client-key-data: '@@not base64@@'\n"),
       "users[0].user.client-key-data: not base64"},
      {"ca data not pem",
       Kubeconfig(server + "    certificate-authority-data: " + B64("just text") + "\n",
                  "    {}\n"),
       "clusters[0].cluster.certificate-authority-data: not PEM"},
      {"missing ca file",
       Kubeconfig(server + "    certificate-authority: missing/ca.crt\n", "    {}\n"),
       "clusters[0].cluster.certificate-authority: cannot read /nowhere/missing/ca.crt"},
      {"no server", Kubeconfig("    proxy-url: http://127.0.0.1:3128\n", "    {}\n"),
       "clusters[0].cluster.server: missing"},
      {"server not a url", Kubeconfig("    server: 127.0.0.1:6443\n", "    {}\n"),
       "clusters[0].cluster.server: \"127.0.0.1:6443\" must start with https:// or http://"},
      {"insecure with ca",
       Kubeconfig(server + "    insecure-skip-tls-verify: true\n    certificate-authority-data: " +
                      B64(kCaPem) + "\n",
                  "    {}\n"),
       "clusters[0].cluster.insecure-skip-tls-verify: cannot be combined"},
      {"insecure not bool",
       Kubeconfig(server + "    insecure-skip-tls-verify: 'yes'\n", "    {}\n"),
       "clusters[0].cluster.insecure-skip-tls-verify: must be true or false"},
      {"bad proxy", Kubeconfig(server + "    proxy-url: ftp://127.0.0.1\n", "    {}\n"),
       "clusters[0].cluster.proxy-url: \"ftp://127.0.0.1\" must be an http, https or socks5 URL"},
      {"certificate without key",
       Kubeconfig(server, "    client-certificate-data: " + B64(kCertPem) + "\n"),
       "users[0].user: a client certificate needs a client key"},
      {"two methods", Kubeconfig(server, "    token: t\n    username: u\n    password: p\n"),
       "users[0].user: more than one authentication method"},
      {"auth provider", Kubeconfig(server, "    auth-provider: {name: oidc}\n"),
       "users[0].user.auth-provider: is not supported"},
      {"missing token file", Kubeconfig(server, "    tokenFile: token\n"),
       "users[0].user.tokenFile: cannot read /nowhere/token"},
      {"token not a string", Kubeconfig(server, "    token: [a]\n"),
       "users[0].user.token: must be a string"},
      {"exec interactive always",
       Kubeconfig(server, exec_head + "      apiVersion: client.authentication.k8s.io/v1\n"
                                      "      interactiveMode: Always\n"),
       "users[0].user.exec.interactiveMode: Always is not supported"},
      {"exec v1 needs a mode",
       Kubeconfig(server, exec_head + "      apiVersion: client.authentication.k8s.io/v1\n"),
       "users[0].user.exec.interactiveMode: missing"},
      {"exec bad mode",
       Kubeconfig(server, exec_head + "      apiVersion: client.authentication.k8s.io/v1\n"
                                      "      interactiveMode: Sometimes\n"),
       "users[0].user.exec.interactiveMode: \"Sometimes\" is not Never"},
      {"exec old api",
       Kubeconfig(server, exec_head + "      apiVersion: client.authentication.k8s.io/v1alpha1\n"),
       "users[0].user.exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not supported"},
      {"exec no api", Kubeconfig(server, exec_head), "users[0].user.exec.apiVersion: missing"},
      {"exec no command",
       Kubeconfig(server, "    exec: {apiVersion: client.authentication.k8s.io/v1beta1}\n"),
       "users[0].user.exec.command: missing"},
      {"exec arg not a string",
       Kubeconfig(server, exec_head + "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                                      "      args: [ok, {a: b}]\n"),
       "users[0].user.exec.args[1]: must be a string"},
      {"exec env without name",
       Kubeconfig(server, exec_head + "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                                      "      env: [{value: x}]\n"),
       "users[0].user.exec.env[0].name: missing"},
      {"exec env bad name",
       Kubeconfig(server, exec_head + "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                                      "      env: [{name: 'A=B', value: x}]\n"),
       "users[0].user.exec.env[0].name: \"A=B\" is not a variable name"},
      {"exec with token",
       Kubeconfig(server, exec_head + "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                                      "    token: t\n"),
       "users[0].user: more than one authentication method"},
      {"yaml syntax", "current-context: [a\n", "kubeconfig:"},
      {"wrong kind", "kind: Pod\ncurrent-context: a\n", "kind: must be Config, got \"Pod\""},
      {"clusters not a list",
       "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\nclusters: {c: 1}\n",
       "clusters: must be a list"},
      {"two documents", "current-context: a\n---\ncurrent-context: b\n",
       "kubeconfig:3: a kubeconfig is one document"},
  };
  for (const Case& test : cases) {
    absl::StatusOr<ClusterConnectionConfig> config = ParseKubeconfig(test.yaml, "/nowhere");
    ASSERT_FALSE(config.ok()) << test.name;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << test.name;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(test.error)) << test.name;
  }
}

TEST(KubeconfigTest, ErrorPathUsesTheIndexOfTheEntry) {
  const std::string yaml =
      "current-context: a\n"
      "contexts:\n- name: a\n  context: {cluster: c, user: second}\n"
      "clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1'}\n"
      "users:\n- name: first\n  user: {}\n"
      "- name: second\n  user: {client-certificate-data: '%%'}\n";
  absl::StatusOr<ClusterConnectionConfig> config = ParseKubeconfig(yaml, "/nowhere");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("users[1].user.client-certificate-data: not base64"));
}

TEST(KubeconfigTest, ExecConfigReachesThePlugin) {
  TempDir dir;
  const std::string yaml =
      "current-context: ctx\n"
      "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n"
      "clusters:\n"
      "- name: c\n"
      "  cluster:\n"
      "    server: https://127.0.0.1:6443\n"
      "    certificate-authority-data: " +
      B64(kCaPem) +
      "\n"
      "    extensions:\n"
      "    - name: other\n"
      "      extension: {x: 1}\n"
      "    - name: client.authentication.k8s.io/exec\n"
      "      extension: {audience: propsy, list: [1, 2]}\n"
      "users:\n"
      "- name: u\n"
      "  user:\n"
      "    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1\n"
      "      command: ./bin/get-token\n"
      "      args: [--cluster, one]\n"
      "      env: [{name: REGION, value: eu}]\n"
      "      installHint: install get-token from the docs\n"
      "      provideClusterInfo: true\n"
      "      interactiveMode: Never\n";
  dir.WriteScript("bin/get-token",
                  "printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$(dirname \"$0\")/info\"\n"
                  "printf '%s %s %s' \"$1\" \"$2\" \"$REGION\" > \"$(dirname \"$0\")/args\"\n"
                  "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                  "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"exec-token\"}}'\n");
  absl::StatusOr<ClusterConnectionConfig> config = ParseKubeconfig(yaml, dir.path());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->authenticator->Describe(), "exec plugin " + dir.Path("bin/get-token"));
  EXPECT_EQ(Authorization(*config), "Bearer exec-token");
  EXPECT_EQ(dir.Read("bin/args"), "--cluster one eu");

  rapidjson::Document info;
  info.Parse(dir.Read("bin/info").c_str());
  ASSERT_TRUE(info.IsObject()) << dir.Read("bin/info");
  EXPECT_STREQ(info["apiVersion"].GetString(), "client.authentication.k8s.io/v1");
  EXPECT_STREQ(info["kind"].GetString(), "ExecCredential");
  EXPECT_FALSE(info["spec"]["interactive"].GetBool());
  const rapidjson::Value& cluster = info["spec"]["cluster"];
  EXPECT_STREQ(cluster["server"].GetString(), "https://127.0.0.1:6443");
  EXPECT_EQ(cluster["certificate-authority-data"].GetString(), B64(kCaPem));
  EXPECT_STREQ(cluster["config"]["audience"].GetString(), "propsy");
  EXPECT_EQ(cluster["config"]["list"].Size(), 2u);
}

TEST(KubeconfigTest, LoadNamesTheFile) {
  TempDir dir;
  absl::StatusOr<ClusterConnectionConfig> missing = LoadKubeconfig(dir.Path("none"));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(dir.Path("none")));

  const std::string path = dir.Write("config", "current-context: a\n");
  absl::StatusOr<ClusterConnectionConfig> bad = LoadKubeconfig(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr(path + ": current-context: no context named \"a\""));
}

class InClusterTest : public ::testing::Test {
 protected:
  void TearDown() override {
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
  }
  TempDir dir_;
};

TEST_F(InClusterTest, ReadsTheServiceAccount) {
  dir_.Write("ca.crt", kCaPem);
  dir_.Write("token", "sa-token\n");
  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  absl::StatusOr<ClusterConnectionConfig> config = InClusterConfig(dir_.path());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:443");
  EXPECT_EQ(config->certificate_authority_pem, kCaPem);
  EXPECT_EQ(Authorization(*config), "Bearer sa-token");

  setenv("KUBERNETES_SERVICE_HOST", "::1", 1);
  config = InClusterConfig(dir_.path());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://[::1]:443");
}

TEST_F(InClusterTest, FailsOutsideAPod) {
  absl::StatusOr<ClusterConnectionConfig> config = InClusterConfig(dir_.path());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("KUBERNETES_SERVICE_HOST"));

  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  config = InClusterConfig(dir_.path());  // no ca.crt
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(dir_.Path("ca.crt")));
}

}  // namespace
}  // namespace propsy::kube
