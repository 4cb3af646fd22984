#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "kube/authenticator.h"
#include "kube/exec_credential.h"
#include "kube/kube_test_util.h"
#include "kube/subprocess.h"

namespace propsy::kube {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::string TokenOutput(const std::string& token, const std::string& extra = "",
                        const std::string& api = kExecApiV1) {
  return "{\"apiVersion\":\"" + api + "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"" +
         token + "\"" + extra + "}}";
}

// A plugin script that counts its runs in `runs` and prints token "tok-N".
std::string CountingPlugin(const TempDir& dir, const std::string& extra = "") {
  return dir.WriteScript(
      "plugin",
      "n=$(cat \"" + dir.Path("runs") +
          "\" 2>/dev/null || echo 0)\n"
          "n=$((n + 1))\n"
          "echo $n > \"" +
          dir.Path("runs") +
          "\"\n"
          "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
          "\"status\":{\"token\":\"tok-%s\"" +
          extra + "}}' $n\n");
}

ExecConfig PluginConfig(const std::string& command) {
  return ExecConfig{.api_version = kExecApiV1,
                    .command = command,
                    .args = {},
                    .env = {},
                    .install_hint = "",
                    .provide_cluster_info = false,
                    .interactive_mode = "Never"};
}

std::string AuthorizationOf(Authenticator& authenticator) {
  absl::StatusOr<Credential> credential = authenticator.GetCredential();
  EXPECT_TRUE(credential.ok()) << credential.status();
  return credential.ok() ? credential->authorization : "<error>";
}

TEST(StaticAuthTest, HeaderValues) {
  StaticToken token("abc");
  EXPECT_EQ(AuthorizationOf(token), "Bearer abc");
  EXPECT_FALSE(token.OnUnauthorized(*token.GetCredential()));
  BasicAuth basic("user", "pass");
  EXPECT_EQ(AuthorizationOf(basic), "Basic dXNlcjpwYXNz");
  NoAuthentication none;
  EXPECT_EQ(*none.GetCredential(), Credential{});
}

TEST(TokenFileTest, ReReadsWhenTheFileChanges) {
  TempDir dir;
  const std::string path = dir.Write("token", "first\n");
  absl::StatusOr<std::unique_ptr<TokenFile>> file = TokenFile::Create(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(AuthorizationOf(**file), "Bearer first");
  dir.Write("token", "second-token\n");  // rotated as the kubelet does: a new file
  EXPECT_EQ(AuthorizationOf(**file), "Bearer second-token");
  // A file that disappears keeps the last good token.
  std::filesystem::remove(path);
  EXPECT_EQ(AuthorizationOf(**file), "Bearer second-token");
}

TEST(TokenFileTest, ReReadsPeriodicallyEvenWhenTheFileLooksTheSame) {
  TempDir dir;
  const std::string path = dir.Write("token", "aaaa");
  auto now = std::chrono::steady_clock::time_point() + std::chrono::hours(1);
  absl::StatusOr<std::unique_ptr<TokenFile>> file =
      TokenFile::Create(path, std::chrono::minutes(1), [&now] { return now; });
  ASSERT_TRUE(file.ok()) << file.status();
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  {
    // Same inode, same size, same mtime: only a periodic re-read sees it.
    std::fstream stream(path, std::ios::in | std::ios::out | std::ios::binary);
    stream << "bbbb";
  }
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  EXPECT_EQ(AuthorizationOf(**file), "Bearer aaaa");
  now += std::chrono::seconds(59);
  EXPECT_EQ(AuthorizationOf(**file), "Bearer aaaa");
  now += std::chrono::seconds(1);
  EXPECT_EQ(AuthorizationOf(**file), "Bearer bbbb");
}

TEST(TokenFileTest, UnauthorizedRetriesOnlyWhenTheTokenChanged) {
  TempDir dir;
  const std::string path = dir.Write("token", "one");
  absl::StatusOr<std::unique_ptr<TokenFile>> file = TokenFile::Create(path);
  ASSERT_TRUE(file.ok());
  const Credential used = *(*file)->GetCredential();
  EXPECT_FALSE((*file)->OnUnauthorized(used));
  dir.Write("token", "two");
  EXPECT_TRUE((*file)->OnUnauthorized(used));
  EXPECT_EQ(AuthorizationOf(**file), "Bearer two");
}

TEST(TokenFileTest, MissingOrEmptyFileFailsAtStart) {
  TempDir dir;
  EXPECT_FALSE(TokenFile::Create(dir.Path("none")).ok());
  const absl::StatusOr<std::unique_ptr<TokenFile>> empty =
      TokenFile::Create(dir.Write("empty", " \n"));
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("is empty"));
}

TEST(ReadSmallFileTest, RefusesDevicesAndHugeFiles) {
  EXPECT_FALSE(ReadSmallFile("/dev/zero").ok());
  TempDir dir;
  const std::string path = dir.Write("big", std::string(2000, 'x'));
  EXPECT_FALSE(ReadSmallFile(path, 1000).ok());
  absl::StatusOr<std::string> whole = ReadSmallFile(path, 2000);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->size(), 2000u);
}

TEST(SubprocessTest, CapturesOutputAndExitCode) {
  absl::StatusOr<ProcessResult> result =
      RunProcess(ProcessSpec{.command = "sh",
                             .args = {"-c", "echo out; echo err >&2; exit 4"},
                             .environment = EnvironmentWith({}),
                             .timeout = std::chrono::seconds(10),
                             .max_stdout_bytes = 1024,
                             .stderr_tail_bytes = 1024});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stdout_text, "out\n");
  EXPECT_EQ(result->stderr_tail, "err\n");
  EXPECT_EQ(result->exit_code, 4);
}

TEST(SubprocessTest, KillsAProgramThatOverstays) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ProcessResult> result =
      RunProcess(ProcessSpec{.command = "sh",
                             .args = {"-c", "sleep 30"},
                             .environment = EnvironmentWith({}),
                             .timeout = std::chrono::milliseconds(300),
                             .max_stdout_bytes = 1024,
                             .stderr_tail_bytes = 1024});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(SubprocessTest, LimitsOutput) {
  absl::StatusOr<ProcessResult> result =
      RunProcess(ProcessSpec{.command = "sh",
                             .args = {"-c", "head -c 100000 /dev/zero; echo e >&2"},
                             .environment = EnvironmentWith({}),
                             .timeout = std::chrono::seconds(10),
                             .max_stdout_bytes = 1000,
                             .stderr_tail_bytes = 1024});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(ParseExecOutputTest, Table) {
  struct Case {
    std::string json;
    std::string error;  // empty: valid
  };
  const std::vector<Case> cases = {
      {TokenOutput("t"), ""},
      {TokenOutput("t", ",\"expirationTimestamp\":\"2030-01-01T00:00:00Z\""), ""},
      {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
       "\"status\":{\"clientCertificateData\":\"C\",\"clientKeyData\":\"K\"}}",
       ""},
      {"not json", "not a JSON object"},
      {TokenOutput("t", "", kExecApiV1Beta1), "configured for apiVersion"},
      {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"Pod\",\"status\":{}}",
       "kind is Pod"},
      {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"}",
       "no status"},
      {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
       "\"status\":{}}",
       "neither a token"},
      {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
       "\"status\":{\"clientCertificateData\":\"C\"}}",
       "must be given together"},
      {TokenOutput("t", ",\"expirationTimestamp\":\"tomorrow\""), "not RFC 3339"},
      {"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
       "\"status\":{\"token\":5}}",
       "status.token must be a string"},
  };
  for (const Case& test : cases) {
    absl::StatusOr<ExecCredentialOutput> output = ParseExecCredentialOutput(test.json, kExecApiV1);
    if (test.error.empty()) {
      EXPECT_TRUE(output.ok()) << test.json << ": " << output.status();
    } else {
      ASSERT_FALSE(output.ok()) << test.json;
      EXPECT_THAT(std::string(output.status().message()), HasSubstr(test.error)) << test.json;
    }
  }
  absl::StatusOr<ExecCredentialOutput> certificate = ParseExecCredentialOutput(
      "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
      "\"status\":{\"clientCertificateData\":\"C\",\"clientKeyData\":\"K\","
      "\"expirationTimestamp\":\"2030-01-01T00:00:00Z\"}}",
      kExecApiV1);
  ASSERT_TRUE(certificate.ok());
  EXPECT_EQ(certificate->credential.authorization, "");
  EXPECT_EQ(certificate->credential.client_certificate_pem, "C");
  EXPECT_EQ(certificate->credential.client_key_pem, "K");
  ASSERT_TRUE(certificate->expiry.has_value());
  EXPECT_EQ(
      std::chrono::duration_cast<std::chrono::seconds>(certificate->expiry->time_since_epoch())
          .count(),
      1893456000);
}

TEST(ExecCredentialTest, CachesATokenWithoutExpiry) {
  TempDir dir;
  ExecCredential plugin(PluginConfig(CountingPlugin(dir)), std::nullopt);
  EXPECT_EQ(AuthorizationOf(plugin), "Bearer tok-1");
  EXPECT_EQ(AuthorizationOf(plugin), "Bearer tok-1");
  EXPECT_EQ(plugin.runs(), 1);
}

TEST(ExecCredentialTest, RenewsBeforeTheExpiry) {
  TempDir dir;
  // Every run gives a token that expires 2030-01-01T00:00:00Z.
  const std::string command =
      CountingPlugin(dir, ",\"expirationTimestamp\":\"2030-01-01T00:00:00Z\"");
  const auto expiry = std::chrono::system_clock::from_time_t(1893456000);
  auto now = expiry - std::chrono::hours(1);
  ExecCredential plugin(PluginConfig(command), std::nullopt,
                        ExecCredentialOptions{.timeout = std::chrono::seconds(10),
                                              .expiry_margin = std::chrono::seconds(10),
                                              .clock = [&now] { return now; }});
  EXPECT_EQ(AuthorizationOf(plugin), "Bearer tok-1");
  now = expiry - std::chrono::seconds(11);
  EXPECT_EQ(AuthorizationOf(plugin), "Bearer tok-1");
  EXPECT_EQ(plugin.runs(), 1);
  now = expiry - std::chrono::seconds(10);  // within the margin
  EXPECT_EQ(AuthorizationOf(plugin), "Bearer tok-2");
  EXPECT_EQ(plugin.runs(), 2);
}

TEST(ExecCredentialTest, RunsAgainAfterUnauthorized) {
  TempDir dir;
  ExecCredential plugin(PluginConfig(CountingPlugin(dir)), std::nullopt);
  const Credential first = *plugin.GetCredential();
  const Credential stale{
      .authorization = "Bearer old", .client_certificate_pem = {}, .client_key_pem = {}};
  // A 401 for a credential no longer cached does not drop the current one.
  EXPECT_TRUE(plugin.OnUnauthorized(stale));
  EXPECT_EQ(AuthorizationOf(plugin), "Bearer tok-1");
  EXPECT_TRUE(plugin.OnUnauthorized(first));
  EXPECT_EQ(AuthorizationOf(plugin), "Bearer tok-2");
  EXPECT_EQ(plugin.runs(), 2);
}

TEST(ExecCredentialTest, ConcurrentCallersShareOneRun) {
  TempDir dir;
  ExecCredential plugin(PluginConfig(CountingPlugin(dir)), std::nullopt);
  std::vector<std::thread> threads;
  std::vector<std::string> seen(4);
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&plugin, &seen, i] {
      absl::StatusOr<Credential> credential = plugin.GetCredential();
      seen[i] = credential.ok() ? credential->authorization : "error";
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(plugin.runs(), 1);
  for (const std::string& header : seen) EXPECT_EQ(header, "Bearer tok-1");
}

TEST(ExecCredentialTest, FailureCarriesStderrAndInstallHint) {
  TempDir dir;
  ExecConfig config = PluginConfig(dir.WriteScript(
      "plugin", "echo 'starting' >&2\necho 'error: no credentials for cluster one' >&2\nexit 3\n"));
  config.install_hint = "Install get-token with: apt install get-token";
  ExecCredential plugin(config, std::nullopt);
  absl::StatusOr<Credential> credential = plugin.GetCredential();
  ASSERT_FALSE(credential.ok());
  const std::string message(credential.status().message());
  EXPECT_THAT(message, HasSubstr("exit code 3"));
  EXPECT_THAT(message, HasSubstr("error: no credentials for cluster one"));
  EXPECT_THAT(message, HasSubstr("Install get-token with: apt install get-token"));
  // A failure is not cached: the next request tries again.
  EXPECT_FALSE(plugin.GetCredential().ok());
  EXPECT_EQ(plugin.runs(), 2);
}

TEST(ExecCredentialTest, MissingPluginNamesItAndTheHint) {
  ExecConfig config = PluginConfig("propsy-no-such-plugin");
  config.install_hint = "see the install guide";
  ExecCredential plugin(config, std::nullopt);
  absl::StatusOr<Credential> credential = plugin.GetCredential();
  ASSERT_FALSE(credential.ok());
  EXPECT_THAT(std::string(credential.status().message()),
              HasSubstr("executable propsy-no-such-plugin not found; see the install guide"));
}

TEST(ExecCredentialTest, BadOutputIsAnError) {
  TempDir dir;
  ExecCredential plugin(PluginConfig(dir.WriteScript("plugin", "echo hello\n")), std::nullopt);
  absl::StatusOr<Credential> credential = plugin.GetCredential();
  ASSERT_FALSE(credential.ok());
  EXPECT_THAT(std::string(credential.status().message()), HasSubstr("not a JSON object"));
}

TEST(ExecCredentialTest, PluginThatHangsIsKilled) {
  TempDir dir;
  ExecCredential plugin(PluginConfig(dir.WriteScript("plugin", "sleep 30\n")), std::nullopt,
                        ExecCredentialOptions{.timeout = std::chrono::milliseconds(300),
                                              .expiry_margin = std::chrono::seconds(10),
                                              .clock = nullptr});
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<Credential> credential = plugin.GetCredential();
  ASSERT_FALSE(credential.ok());
  EXPECT_THAT(std::string(credential.status().message()), HasSubstr("did not finish"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(ExecCredentialTest, ExecInfoWithAndWithoutClusterInfo) {
  TempDir dir;
  ExecConfig config = PluginConfig(dir.WriteScript(
      "plugin", "printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"" + dir.Path("info") + "\"\n" +
                    "echo '" + TokenOutput("x", "", kExecApiV1Beta1) + "'\n"));
  config.api_version = kExecApiV1Beta1;
  const ExecClusterInfo cluster{.server = "https://127.0.0.1:6443",
                                .tls_server_name = "kube.internal",
                                .insecure_skip_tls_verify = false,
                                .certificate_authority_pem = "PEM",
                                .proxy_url = "http://127.0.0.1:3128",
                                .config_json = ""};
  ExecCredential without(config, cluster);
  EXPECT_EQ(without.ExecInfoJson(),
            "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\","
            "\"spec\":{\"interactive\":false}}");
  config.provide_cluster_info = true;
  ExecCredential with(config, cluster);
  EXPECT_EQ(AuthorizationOf(with), "Bearer x");
  EXPECT_EQ(dir.Read("info"),
            "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\","
            "\"spec\":{\"interactive\":false,\"cluster\":{\"server\":\"https://127.0.0.1:6443\","
            "\"tls-server-name\":\"kube.internal\",\"certificate-authority-data\":\"UEVN\","
            "\"proxy-url\":\"http://127.0.0.1:3128\"}}}");
}

TEST(ExecCredentialTest, ClientCertificateFromThePlugin) {
  TempDir dir;
  ExecCredential plugin(
      PluginConfig(dir.WriteScript(
          "plugin",
          "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
          "\"status\":{\"clientCertificateData\":\"CERT\",\"clientKeyData\":\"KEY\"}}'\n")),
      std::nullopt);
  absl::StatusOr<Credential> credential = plugin.GetCredential();
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_EQ(credential->authorization, "");
  EXPECT_EQ(credential->client_certificate_pem, "CERT");
  EXPECT_EQ(credential->client_key_pem, "KEY");
}

}  // namespace
}  // namespace propsy::kube
