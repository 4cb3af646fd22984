#include "kube/exec_credential.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "kube/subprocess.h"

namespace propsy::kube {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(Writer& writer, std::string_view key) {
  writer.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

void String(Writer& writer, std::string_view key, std::string_view value) {
  Key(writer, key);
  writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// A string member of `object`: nullopt when absent or null, an error when of
// another type.
absl::StatusOr<std::optional<std::string>> StringMember(const rapidjson::Value& object,
                                                        const char* name, std::string_view path) {
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (!it->value.IsString()) {
    return absl::InvalidArgumentError(fmt::format("{}.{} must be a string", path, name));
  }
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace

absl::StatusOr<ExecCredentialOutput> ParseExecCredentialOutput(std::string_view json,
                                                               std::string_view api_version) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (document.HasParseError() || !document.IsObject()) {
    return absl::InvalidArgumentError("the output is not a JSON object");
  }
  absl::StatusOr<std::optional<std::string>> version =
      StringMember(document, "apiVersion", "ExecCredential");
  if (!version.ok()) return version.status();
  if (*version != std::optional<std::string>(std::string(api_version))) {
    return absl::InvalidArgumentError(
        fmt::format("the plugin is configured for apiVersion {} but returned {}", api_version,
                    version->value_or("none")));
  }
  absl::StatusOr<std::optional<std::string>> kind =
      StringMember(document, "kind", "ExecCredential");
  if (!kind.ok()) return kind.status();
  if (*kind != std::optional<std::string>("ExecCredential")) {
    return absl::InvalidArgumentError(
        fmt::format("the output's kind is {}, not ExecCredential", kind->value_or("missing")));
  }
  const rapidjson::Value& root = document;
  const auto status = root.FindMember("status");
  if (status == root.MemberEnd() || !status->value.IsObject()) {
    return absl::InvalidArgumentError("the output has no status object");
  }
  ExecCredentialOutput output;
  absl::StatusOr<std::optional<std::string>> token = StringMember(status->value, "token", "status");
  absl::StatusOr<std::optional<std::string>> certificate =
      StringMember(status->value, "clientCertificateData", "status");
  absl::StatusOr<std::optional<std::string>> key =
      StringMember(status->value, "clientKeyData", "status");
  absl::StatusOr<std::optional<std::string>> expiry =
      StringMember(status->value, "expirationTimestamp", "status");
  for (const auto* field : {&token, &certificate, &key, &expiry}) {
    if (!field->ok()) return field->status();
  }
  const bool has_token = token->has_value() && !(*token)->empty();
  const bool has_certificate = certificate->has_value() && !(*certificate)->empty();
  const bool has_key = key->has_value() && !(*key)->empty();
  if (has_certificate != has_key) {
    return absl::InvalidArgumentError(
        "status.clientCertificateData and status.clientKeyData must be given together");
  }
  if (!has_token && !has_certificate) {
    return absl::InvalidArgumentError(
        "status has neither a token nor clientCertificateData and clientKeyData");
  }
  if (has_token) output.credential.authorization = "Bearer " + **token;
  if (has_certificate) {
    output.credential.client_certificate_pem = **certificate;
    output.credential.client_key_pem = **key;
  }
  if (expiry->has_value()) {
    absl::Time time;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, **expiry, &time, &error)) {
      return absl::InvalidArgumentError(
          fmt::format("status.expirationTimestamp \"{}\" is not RFC 3339: {}", **expiry, error));
    }
    output.expiry = absl::ToChronoTime(time);
  }
  return output;
}

ExecCredential::ExecCredential(ExecConfig config, std::optional<ExecClusterInfo> cluster,
                               ExecCredentialOptions options)
    : config_(std::move(config)), cluster_(std::move(cluster)), options_(std::move(options)) {}

std::string ExecCredential::ExecInfoJson() const {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  String(writer, "apiVersion", config_.api_version);
  String(writer, "kind", "ExecCredential");
  Key(writer, "spec");
  writer.StartObject();
  Key(writer, "interactive");
  writer.Bool(false);
  if (config_.provide_cluster_info && cluster_.has_value()) {
    Key(writer, "cluster");
    writer.StartObject();
    String(writer, "server", cluster_->server);
    if (!cluster_->tls_server_name.empty()) {
      String(writer, "tls-server-name", cluster_->tls_server_name);
    }
    if (cluster_->insecure_skip_tls_verify) {
      Key(writer, "insecure-skip-tls-verify");
      writer.Bool(true);
    }
    if (!cluster_->certificate_authority_pem.empty()) {
      String(writer, "certificate-authority-data",
             absl::Base64Escape(cluster_->certificate_authority_pem));
    }
    if (!cluster_->proxy_url.empty()) String(writer, "proxy-url", cluster_->proxy_url);
    if (!cluster_->config_json.empty()) {
      Key(writer, "config");
      writer.RawValue(cluster_->config_json.data(), cluster_->config_json.size(),
                      rapidjson::kObjectType);
    }
    writer.EndObject();
  }
  writer.EndObject();
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::StatusOr<ExecCredentialOutput> ExecCredential::RunPlugin() const {
  std::vector<std::string> overrides;
  for (const auto& [name, value] : config_.env) overrides.push_back(name + "=" + value);
  overrides.push_back("KUBERNETES_EXEC_INFO=" + ExecInfoJson());
  const ProcessSpec spec{.command = config_.command,
                         .args = config_.args,
                         .environment = EnvironmentWith(overrides),
                         .timeout = options_.timeout,
                         .max_stdout_bytes = 4 << 20,
                         .stderr_tail_bytes = 2048};
  const std::string hint =
      config_.install_hint.empty() ? "" : fmt::format("; {}", config_.install_hint);
  absl::StatusOr<ProcessResult> result = RunProcess(spec);
  if (!result.ok()) {
    const std::string message =
        fmt::format("exec plugin: {}{}", std::string(result.status().message()), hint);
    if (result.status().code() == absl::StatusCode::kNotFound) {
      return absl::FailedPreconditionError(message);
    }
    return absl::UnavailableError(message);
  }
  if (result->signal != 0 || result->exit_code != 0) {
    return absl::UnavailableError(fmt::format(
        "exec plugin {} failed ({}): {}{}", config_.command,
        result->signal != 0 ? fmt::format("signal {}", result->signal)
                            : fmt::format("exit code {}", result->exit_code),
        result->stderr_tail.empty() ? "no output on stderr" : result->stderr_tail, hint));
  }
  absl::StatusOr<ExecCredentialOutput> output =
      ParseExecCredentialOutput(result->stdout_text, config_.api_version);
  if (!output.ok()) {
    return absl::UnavailableError(
        fmt::format("exec plugin {}: {}", config_.command, std::string(output.status().message())));
  }
  return output;
}

absl::StatusOr<Credential> ExecCredential::GetCredential() {
  absl::MutexLock lock(&mutex_);
  const auto now = options_.clock ? options_.clock() : std::chrono::system_clock::now();
  if (cached_.has_value() &&
      (!cached_->expiry.has_value() || now + options_.expiry_margin < *cached_->expiry)) {
    return cached_->credential;
  }
  cached_.reset();
  ++runs_;
  absl::StatusOr<ExecCredentialOutput> output = RunPlugin();
  if (!output.ok()) return output.status();
  spdlog::debug("exec plugin {} gave a credential{}", config_.command,
                output->expiry.has_value() ? " with an expiry" : "");
  cached_ = *std::move(output);
  return cached_->credential;
}

bool ExecCredential::OnUnauthorized(const Credential& rejected) {
  absl::MutexLock lock(&mutex_);
  // Only the credential that was rejected is dropped: when several requests
  // fail at once, the plugin runs once, not once per request.
  if (cached_.has_value() && cached_->credential == rejected) cached_.reset();
  return true;
}

int ExecCredential::runs() const {
  absl::MutexLock lock(&mutex_);
  return runs_;
}

}  // namespace propsy::kube
