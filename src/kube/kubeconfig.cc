#include "kube/kubeconfig.h"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "kube/exec_credential.h"
#include "model/json_fields.h"
#include "model/manifest.h"
#include "model/validation_errors.h"

namespace propsy::kube {
namespace {

using model::Presence;
using model::ValidationErrors;
using Field = ValidationErrors::ScopedField;

constexpr char kExecExtension[] = "client.authentication.k8s.io/exec";

// Reads and decodes one kubeconfig; errors go to `errors` by field path.
class KubeconfigReader {
 public:
  KubeconfigReader(const rapidjson::Value& root, std::string base_dir, ValidationErrors* errors)
      : root_(root), base_dir_(std::move(base_dir)), errors_(errors) {}

  std::optional<ClusterConnectionConfig> Read() {
    ClusterConnectionConfig config;
    if (const rapidjson::Value* kind = model::FindField(root_, "kind");
        kind != nullptr && !(kind->IsString() && model::StringOf(*kind) == "Config")) {
      Field field(errors_, ".kind");
      errors_->AddError(fmt::format("must be Config, got {}", model::DescribeValue(*kind)));
      return std::nullopt;
    }
    const std::optional<std::string> current =
        model::ReadString(root_, "current-context", Presence::kOptional, errors_);
    if (!errors_->ok()) return std::nullopt;
    if (!current.has_value() || current->empty()) {
      Field field(errors_, ".current-context");
      errors_->AddError("not set: the kubeconfig names no context to use");
      return std::nullopt;
    }
    config.context = *current;
    std::optional<Entry> context = FindNamed("contexts", "context", *current);
    if (!context.has_value()) {
      if (errors_->ok()) {
        Field field(errors_, ".current-context");
        errors_->AddError(fmt::format("no context named \"{}\" in contexts",
                                      model::SanitizeForMessage(*current)));
      }
      return std::nullopt;
    }
    std::optional<std::string> cluster_name;
    std::optional<std::string> user_name;
    {
      Field list(errors_, ".contexts");
      Field index(errors_, fmt::format("[{}]", context->index));
      Field body(errors_, ".context");
      if (!context->body->IsObject()) {
        errors_->AddError(
            fmt::format("must be an object, got {}", model::DescribeValue(*context->body)));
        return std::nullopt;
      }
      cluster_name = model::ReadString(*context->body, "cluster", Presence::kRequired, errors_);
      user_name = model::ReadString(*context->body, "user", Presence::kOptional, errors_);
      if (!errors_->ok()) return std::nullopt;
      if (!FindNamed("clusters", "cluster", *cluster_name).has_value() && errors_->ok()) {
        Field field(errors_, ".cluster");
        errors_->AddError(fmt::format("no cluster named \"{}\" in clusters",
                                      model::SanitizeForMessage(*cluster_name)));
      }
      if (user_name.has_value() && !user_name->empty() &&
          !FindNamed("users", "user", *user_name).has_value() && errors_->ok()) {
        Field field(errors_, ".user");
        errors_->AddError(
            fmt::format("no user named \"{}\" in users", model::SanitizeForMessage(*user_name)));
      }
      if (!errors_->ok()) return std::nullopt;
    }
    const Entry cluster = *FindNamed("clusters", "cluster", *cluster_name);
    std::optional<ExecClusterInfo> cluster_info = ReadCluster(cluster, &config);
    config.authenticator = std::make_shared<NoAuthentication>();
    if (user_name.has_value() && !user_name->empty()) {
      ReadUser(*FindNamed("users", "user", *user_name), cluster_info, &config);
    }
    if (!errors_->ok()) return std::nullopt;
    return config;
  }

 private:
  // One element of a named list ("clusters[2]"): its index and its body
  // (the "cluster" member).
  struct Entry {
    size_t index;
    const rapidjson::Value* body;
  };

  // The last entry of root.`list` named `name` (kubectl lets later entries
  // win). Reports a list that is not a list; entries without a name or a
  // body are skipped.
  std::optional<Entry> FindNamed(std::string_view list_name, std::string_view body_name,
                                 std::string_view name) {
    const rapidjson::Value* list = model::FindField(root_, list_name);
    if (list == nullptr) return std::nullopt;
    if (!list->IsArray()) {
      Field field(errors_, fmt::format(".{}", list_name));
      errors_->AddError(fmt::format("must be a list, got {}", model::DescribeValue(*list)));
      return std::nullopt;
    }
    std::optional<Entry> found;
    for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
      const rapidjson::Value& entry = (*list)[i];
      const rapidjson::Value* entry_name = model::FindField(entry, "name");
      const rapidjson::Value* body = model::FindField(entry, body_name);
      if (entry_name == nullptr || !entry_name->IsString() ||
          model::StringOf(*entry_name) != name) {
        continue;
      }
      if (body == nullptr) {
        // kubectl accepts a named entry without a body as an empty one.
        static const rapidjson::Value kEmptyObject(rapidjson::kObjectType);
        body = &kEmptyObject;
      }
      found = Entry{.index = i, .body = body};
    }
    return found;
  }

  std::string Resolve(const std::string& path) const {
    if (path.empty() || std::filesystem::path(path).is_absolute() || base_dir_.empty()) {
      return path;
    }
    return (std::filesystem::path(base_dir_) / path).lexically_normal().string();
  }

  // Base64 text (whitespace allowed, as in wrapped PEM-in-base64 blocks).
  std::optional<std::string> DecodeBase64(const std::string& text) {
    std::string compact;
    for (char c : text) {
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') compact += c;
    }
    std::string decoded;
    if (!absl::Base64Unescape(compact, &decoded)) {
      errors_->AddError("not base64");
      return std::nullopt;
    }
    return decoded;
  }

  // A PEM value given inline (`data_field`, base64) or as a file
  // (`file_field`); inline data wins. Empty when neither is set.
  std::string ReadPem(const rapidjson::Value& object, std::string_view file_field,
                      std::string_view data_field) {
    const std::optional<std::string> file =
        model::ReadString(object, file_field, Presence::kOptional, errors_);
    const std::optional<std::string> data =
        model::ReadString(object, data_field, Presence::kOptional, errors_);
    if (data.has_value() && !data->empty()) {
      Field field(errors_, fmt::format(".{}", data_field));
      if (file.has_value() && !file->empty()) {
        spdlog::warn("kubeconfig: {} and {} are both set; {} is used", file_field, data_field,
                     data_field);
      }
      std::optional<std::string> pem = DecodeBase64(*data);
      if (!pem.has_value()) return "";
      if (pem->find("-----BEGIN ") == std::string::npos) {
        errors_->AddError("not PEM after base64 decoding");
        return "";
      }
      return *pem;
    }
    if (file.has_value() && !file->empty()) {
      Field field(errors_, fmt::format(".{}", file_field));
      absl::StatusOr<std::string> pem = ReadSmallFile(Resolve(*file));
      if (!pem.ok()) {
        errors_->AddError(std::string(pem.status().message()));
        return "";
      }
      if (pem->find("-----BEGIN ") == std::string::npos) {
        errors_->AddError(fmt::format("{} is not PEM", Resolve(*file)));
        return "";
      }
      return *pem;
    }
    return "";
  }

  std::optional<ExecClusterInfo> ReadCluster(const Entry& entry, ClusterConnectionConfig* config) {
    Field list(errors_, ".clusters");
    Field index(errors_, fmt::format("[{}]", entry.index));
    Field body(errors_, ".cluster");
    const rapidjson::Value& cluster = *entry.body;
    if (!cluster.IsObject()) {
      errors_->AddError(fmt::format("must be an object, got {}", model::DescribeValue(cluster)));
      return std::nullopt;
    }
    if (std::optional<std::string> server =
            model::ReadString(cluster, "server", Presence::kRequired, errors_)) {
      Field field(errors_, ".server");
      while (!server->empty() && server->back() == '/') server->pop_back();
      if (!server->starts_with("https://") && !server->starts_with("http://")) {
        errors_->AddError(fmt::format("\"{}\" must start with https:// or http://",
                                      model::SanitizeForMessage(*server)));
      } else if (server->find_first_of(" \t\r\n") != std::string::npos ||
                 server->find('\0') != std::string::npos) {
        errors_->AddError("must not contain whitespace");
      } else {
        config->server = *server;
      }
    }
    config->certificate_authority_pem =
        ReadPem(cluster, "certificate-authority", "certificate-authority-data");
    config->tls_server_name =
        model::ReadString(cluster, "tls-server-name", Presence::kOptional, errors_).value_or("");
    config->insecure_skip_tls_verify =
        model::ReadBool(cluster, "insecure-skip-tls-verify", Presence::kOptional, errors_)
            .value_or(false);
    config->proxy_url =
        model::ReadString(cluster, "proxy-url", Presence::kOptional, errors_).value_or("");
    if (config->insecure_skip_tls_verify && !config->certificate_authority_pem.empty()) {
      Field field(errors_, ".insecure-skip-tls-verify");
      errors_->AddError(
          "cannot be combined with a certificate authority: either verify the server or not");
    }
    if (!config->proxy_url.empty()) {
      Field field(errors_, ".proxy-url");
      const std::string& proxy = config->proxy_url;
      if (!proxy.starts_with("http://") && !proxy.starts_with("https://") &&
          !proxy.starts_with("socks5://")) {
        errors_->AddError(fmt::format("\"{}\" must be an http, https or socks5 URL",
                                      model::SanitizeForMessage(proxy)));
      }
    }
    return ExecClusterInfo{.server = config->server,
                           .tls_server_name = config->tls_server_name,
                           .insecure_skip_tls_verify = config->insecure_skip_tls_verify,
                           .certificate_authority_pem = config->certificate_authority_pem,
                           .proxy_url = config->proxy_url,
                           .config_json = ExecExtension(cluster)};
  }

  // The JSON text of extensions[name == client.authentication.k8s.io/exec]
  // .extension, or "".
  std::string ExecExtension(const rapidjson::Value& cluster) {
    const rapidjson::Value* extensions = model::FindField(cluster, "extensions");
    if (extensions == nullptr) return "";
    Field field(errors_, ".extensions");
    if (!extensions->IsArray()) {
      errors_->AddError(fmt::format("must be a list, got {}", model::DescribeValue(*extensions)));
      return "";
    }
    for (const rapidjson::Value& extension : extensions->GetArray()) {
      const rapidjson::Value* name = model::FindField(extension, "name");
      const rapidjson::Value* value = model::FindField(extension, "extension");
      if (name == nullptr || !name->IsString() || model::StringOf(*name) != kExecExtension ||
          value == nullptr) {
        continue;
      }
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      value->Accept(writer);
      return std::string(buffer.GetString(), buffer.GetSize());
    }
    return "";
  }

  std::optional<ExecConfig> ReadExec(const rapidjson::Value& exec) {
    Field field(errors_, ".exec");
    if (!exec.IsObject()) {
      errors_->AddError(fmt::format("must be an object, got {}", model::DescribeValue(exec)));
      return std::nullopt;
    }
    ExecConfig config;
    config.api_version =
        model::ReadString(exec, "apiVersion", Presence::kRequired, errors_).value_or("");
    config.command = model::ReadString(exec, "command", Presence::kRequired, errors_).value_or("");
    config.install_hint =
        model::ReadString(exec, "installHint", Presence::kOptional, errors_).value_or("");
    config.provide_cluster_info =
        model::ReadBool(exec, "provideClusterInfo", Presence::kOptional, errors_).value_or(false);
    const std::optional<std::string> mode =
        model::ReadString(exec, "interactiveMode", Presence::kOptional, errors_);
    if (!config.api_version.empty() && config.api_version != kExecApiV1 &&
        config.api_version != kExecApiV1Beta1) {
      Field version(errors_, ".apiVersion");
      errors_->AddError(fmt::format("\"{}\" is not supported (use {} or {})",
                                    model::SanitizeForMessage(config.api_version), kExecApiV1,
                                    kExecApiV1Beta1));
    }
    {
      Field mode_field(errors_, ".interactiveMode");
      if (!mode.has_value() || mode->empty()) {
        // v1 makes the mode explicit; v1beta1 defaulted it.
        if (config.api_version == kExecApiV1) {
          errors_->AddError("missing (required by " + std::string(kExecApiV1) + ")");
        }
        config.interactive_mode = "IfAvailable";
      } else if (*mode == "Always") {
        errors_->AddError("Always is not supported: ProPsy runs without a terminal");
      } else if (*mode != "Never" && *mode != "IfAvailable") {
        errors_->AddError(fmt::format("\"{}\" is not Never, IfAvailable or Always",
                                      model::SanitizeForMessage(*mode)));
      } else {
        config.interactive_mode = *mode;
      }
    }
    if (const rapidjson::Value* command = model::FindField(exec, "command");
        command != nullptr && command->IsString() && config.command.empty()) {
      Field command_field(errors_, ".command");
      errors_->AddError("must not be empty");
    }
    // A relative command with a directory part is relative to the kubeconfig.
    if (config.command.find('/') != std::string::npos) config.command = Resolve(config.command);
    if (const rapidjson::Value* args = model::FindField(exec, "args")) {
      Field args_field(errors_, ".args");
      if (!args->IsArray()) {
        errors_->AddError(fmt::format("must be a list, got {}", model::DescribeValue(*args)));
      } else {
        for (rapidjson::SizeType i = 0; i < args->Size(); ++i) {
          if ((*args)[i].IsString()) {
            config.args.emplace_back(model::StringOf((*args)[i]));
          } else {
            Field index(errors_, fmt::format("[{}]", i));
            errors_->AddError(
                fmt::format("must be a string, got {}", model::DescribeValue((*args)[i])));
          }
        }
      }
    }
    if (const rapidjson::Value* env = model::FindField(exec, "env")) {
      Field env_field(errors_, ".env");
      if (!env->IsArray()) {
        errors_->AddError(fmt::format("must be a list, got {}", model::DescribeValue(*env)));
      } else {
        for (rapidjson::SizeType i = 0; i < env->Size(); ++i) {
          Field index(errors_, fmt::format("[{}]", i));
          const rapidjson::Value& variable = (*env)[i];
          if (!variable.IsObject()) {
            errors_->AddError(
                fmt::format("must be an object, got {}", model::DescribeValue(variable)));
            continue;
          }
          std::optional<std::string> name =
              model::ReadString(variable, "name", Presence::kRequired, errors_);
          std::optional<std::string> value =
              model::ReadString(variable, "value", Presence::kOptional, errors_);
          if (!name.has_value()) continue;
          if (name->empty() || name->find('=') != std::string::npos ||
              name->find('\0') != std::string::npos) {
            Field name_field(errors_, ".name");
            errors_->AddError(
                fmt::format("\"{}\" is not a variable name", model::SanitizeForMessage(*name)));
            continue;
          }
          config.env.emplace_back(*name, value.value_or(""));
        }
      }
    }
    if (errors_->FieldHasErrors()) return std::nullopt;
    return config;
  }

  void ReadUser(const Entry& entry, const std::optional<ExecClusterInfo>& cluster_info,
                ClusterConnectionConfig* config) {
    Field list(errors_, ".users");
    Field index(errors_, fmt::format("[{}]", entry.index));
    Field body(errors_, ".user");
    const rapidjson::Value& user = *entry.body;
    if (!user.IsObject()) {
      errors_->AddError(fmt::format("must be an object, got {}", model::DescribeValue(user)));
      return;
    }
    config->client_certificate_pem = ReadPem(user, "client-certificate", "client-certificate-data");
    config->client_key_pem = ReadPem(user, "client-key", "client-key-data");
    if (config->client_certificate_pem.empty() != config->client_key_pem.empty() &&
        !errors_->FieldHasErrors()) {
      errors_->AddError("a client certificate needs a client key and a key needs a certificate");
    }
    const std::optional<std::string> token =
        model::ReadString(user, "token", Presence::kOptional, errors_);
    const std::optional<std::string> token_file =
        model::ReadString(user, "tokenFile", Presence::kOptional, errors_);
    const std::optional<std::string> username =
        model::ReadString(user, "username", Presence::kOptional, errors_);
    const std::optional<std::string> password =
        model::ReadString(user, "password", Presence::kOptional, errors_);
    const rapidjson::Value* exec = model::FindField(user, "exec");
    if (model::FindField(user, "auth-provider") != nullptr) {
      Field field(errors_, ".auth-provider");
      errors_->AddError("is not supported: use an exec credential plugin instead");
      return;
    }
    const bool has_token =
        (token.has_value() && !token->empty()) || (token_file.has_value() && !token_file->empty());
    const bool has_basic = (username.has_value() && !username->empty()) ||
                           (password.has_value() && !password->empty());
    if (static_cast<int>(has_token) + static_cast<int>(has_basic) +
            static_cast<int>(exec != nullptr) >
        1) {
      errors_->AddError(
          "more than one authentication method (token/tokenFile, username/password, exec)");
      return;
    }
    if (exec != nullptr) {
      std::optional<ExecConfig> exec_config = ReadExec(*exec);
      if (exec_config.has_value()) {
        config->authenticator =
            std::make_shared<ExecCredential>(*std::move(exec_config), cluster_info);
      }
      return;
    }
    if (has_basic) {
      config->authenticator =
          std::make_shared<BasicAuth>(username.value_or(""), password.value_or(""));
      return;
    }
    // tokenFile wins over token: its contents are what rotates.
    if (token_file.has_value() && !token_file->empty()) {
      Field field(errors_, ".tokenFile");
      absl::StatusOr<std::unique_ptr<TokenFile>> file = TokenFile::Create(Resolve(*token_file));
      if (!file.ok()) {
        errors_->AddError(std::string(file.status().message()));
        return;
      }
      config->authenticator = *std::move(file);
      return;
    }
    if (token.has_value() && !token->empty()) {
      config->authenticator = std::make_shared<StaticToken>(*token);
    }
  }

  const rapidjson::Value& root_;
  const std::string base_dir_;
  ValidationErrors* errors_;
};

absl::StatusOr<ClusterConnectionConfig> Parse(std::string_view yaml_text,
                                              const std::string& base_dir,
                                              std::string_view file_name) {
  absl::StatusOr<std::vector<model::ManifestDocument>> documents =
      model::ParseManifest(yaml_text, file_name);
  if (!documents.ok()) return documents.status();
  if (documents->size() > 1) {
    return absl::InvalidArgumentError(
        fmt::format("{}:{}: a kubeconfig is one document", file_name, (*documents)[1].line));
  }
  const rapidjson::Value empty(rapidjson::kObjectType);
  const rapidjson::Value& root = documents->empty() ? empty : (*documents)[0].object;
  ValidationErrors errors;
  std::optional<ClusterConnectionConfig> config = KubeconfigReader(root, base_dir, &errors).Read();
  if (!errors.ok() || !config.has_value()) {
    absl::Status status = errors.status();
    return absl::InvalidArgumentError(fmt::format(
        "{}: {}", file_name, status.ok() ? std::string("invalid") : std::string(status.message())));
  }
  return *std::move(config);
}

}  // namespace

absl::StatusOr<ClusterConnectionConfig> ParseKubeconfig(std::string_view yaml_text,
                                                        const std::string& base_dir) {
  return Parse(yaml_text, base_dir, "kubeconfig");
}

absl::StatusOr<ClusterConnectionConfig> LoadKubeconfig(const std::string& path) {
  // Kubeconfigs with inline certificates of a few clusters stay far below
  // this; anything larger is not a kubeconfig.
  absl::StatusOr<std::string> text = ReadSmallFile(path, 16 << 20);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        fmt::format("kubeconfig {}", std::string(text.status().message())));
  }
  const std::string base_dir = std::filesystem::path(path).parent_path().string();
  return Parse(*text, base_dir.empty() ? "." : base_dir, path);
}

}  // namespace propsy::kube
