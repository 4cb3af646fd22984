#include "model/tls_secret.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <climits>
#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "model/json_fields.h"
#include "model/validation_errors.h"

namespace propsy::model {
namespace {

using ScopedField = ValidationErrors::ScopedField;

constexpr char kTlsType[] = "kubernetes.io/tls";
constexpr char kCertKey[] = "tls.crt";
constexpr char kPrivateKeyKey[] = "tls.key";

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// Refuses to prompt for a passphrase: OpenSSL's default callback would read
// the terminal for an encrypted key.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

// The reason of the newest OpenSSL error; clears the thread's error queue so
// that later, unrelated calls do not see stale errors.
std::string TakeOpensslError() {
  const unsigned long code = ERR_peek_last_error();
  const char* reason = code == 0 ? nullptr : ERR_reason_error_string(code);
  std::string text = reason != nullptr ? reason : "unknown error";
  ERR_clear_error();
  return text;
}

bool LastErrorIsNoStartLine() {
  const unsigned long code = ERR_peek_last_error();
  return ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE;
}

BioPtr MemoryBio(const std::string& pem) {
  if (pem.size() > INT_MAX) return nullptr;
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Which half of the key pair a problem is about.
enum class PairPart { kCertificate, kPrivateKey };
struct PairProblem {
  PairPart part;
  std::string message;
};

std::optional<PairProblem> CheckKeyPair(const std::string& chain_pem, const std::string& key_pem) {
  ERR_clear_error();
  BioPtr chain_bio = MemoryBio(chain_pem);
  if (chain_bio == nullptr) return PairProblem{PairPart::kCertificate, "too large"};
  std::vector<X509Ptr> chain;
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(chain_bio.get(), nullptr, NoPassphrase, nullptr));
    if (cert == nullptr) {
      if (LastErrorIsNoStartLine()) {
        ERR_clear_error();
        if (!chain.empty()) break;  // the end of the chain
        return PairProblem{PairPart::kCertificate, "no PEM certificate found"};
      }
      return PairProblem{PairPart::kCertificate, fmt::format("certificate {} does not parse: {}",
                                                             chain.size() + 1, TakeOpensslError())};
    }
    chain.push_back(std::move(cert));
  }

  if (key_pem.find("-----BEGIN ") == std::string::npos) {
    return PairProblem{PairPart::kPrivateKey, "no PEM private key found"};
  }
  BioPtr key_bio = MemoryBio(key_pem);
  if (key_bio == nullptr) return PairProblem{PairPart::kPrivateKey, "too large"};
  PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    if (key_pem.find("ENCRYPTED") != std::string::npos) {
      ERR_clear_error();
      return PairProblem{PairPart::kPrivateKey, "encrypted private keys are not supported"};
    }
    if (LastErrorIsNoStartLine()) {
      ERR_clear_error();
      return PairProblem{PairPart::kPrivateKey, "no PEM private key found"};
    }
    return PairProblem{PairPart::kPrivateKey,
                       fmt::format("private key does not parse: {}", TakeOpensslError())};
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return PairProblem{PairPart::kPrivateKey, "private key does not match the certificate"};
  }
  return std::nullopt;
}

// One key of data (base64) or stringData (plain); `data` wins. Returns the
// value and the field it came from, or nullopt (reported).
std::optional<std::pair<std::string, std::string>> ReadSecretValue(const rapidjson::Value& object,
                                                                   std::string_view key,
                                                                   ValidationErrors* errors) {
  const rapidjson::Value* data = FindField(object, "data");
  const rapidjson::Value* string_data = FindField(object, "stringData");
  const rapidjson::Value* encoded = data == nullptr ? nullptr : FindField(*data, key);
  const rapidjson::Value* plain = string_data == nullptr ? nullptr : FindField(*string_data, key);
  if (encoded != nullptr) {
    std::string field = fmt::format("data[{}]", key);
    ScopedField scoped(errors, field);
    if (!encoded->IsString()) {
      errors->AddError(fmt::format("must be a base64 string, got {}", DescribeValue(*encoded)));
      return std::nullopt;
    }
    // Line breaks are ignored, as Kubernetes' decoder does.
    std::string text;
    for (char c : StringOf(*encoded)) {
      if (c != '\n' && c != '\r') text += c;
    }
    std::string decoded;
    if (!absl::Base64Unescape(absl::string_view(text.data(), text.size()), &decoded)) {
      errors->AddError("not valid base64");
      return std::nullopt;
    }
    if (decoded.empty()) {
      errors->AddError("empty");
      return std::nullopt;
    }
    return std::make_pair(std::move(decoded), std::move(field));
  }
  if (plain != nullptr) {
    std::string field = fmt::format("stringData[{}]", key);
    ScopedField scoped(errors, field);
    if (!plain->IsString()) {
      errors->AddError(fmt::format("must be a string, got {}", DescribeValue(*plain)));
      return std::nullopt;
    }
    if (plain->GetStringLength() == 0) {
      errors->AddError("empty");
      return std::nullopt;
    }
    return std::make_pair(std::string(StringOf(*plain)), std::move(field));
  }
  ScopedField scoped(errors, fmt::format("data[{}]", key));
  errors->AddError("missing");
  return std::nullopt;
}

void CheckIsObject(const rapidjson::Value& object, std::string_view name,
                   ValidationErrors* errors) {
  const rapidjson::Value* value = FindField(object, name);
  if (value == nullptr || value->IsObject()) return;
  ScopedField field(errors, name);
  errors->AddError(fmt::format("must be an object, got {}", DescribeValue(*value)));
}

}  // namespace

absl::StatusOr<TlsSecret> DecodeTlsSecret(const rapidjson::Value& object) {
  ValidationErrors errors;
  if (!object.IsObject()) {
    errors.AddError(fmt::format("must be an object, got {}", DescribeValue(object)));
    return errors.status();
  }
  TlsSecret secret;
  CheckTypeMeta(object, "v1", "Secret", Presence::kOptional, &errors);
  secret.meta = DecodeObjectMeta(object, &errors);
  const std::optional<std::string> type = ReadString(object, "type", Presence::kOptional, &errors);
  if (FindField(object, "type") == nullptr) {
    ScopedField field(&errors, "type");
    errors.AddError(fmt::format("missing (must be {})", kTlsType));
  } else if (type.has_value() && *type != kTlsType) {
    ScopedField field(&errors, "type");
    errors.AddError(fmt::format("must be {}, got \"{}\"", kTlsType, SanitizeForMessage(*type)));
  }
  CheckIsObject(object, "data", &errors);
  CheckIsObject(object, "stringData", &errors);
  auto cert = ReadSecretValue(object, kCertKey, &errors);
  auto key = ReadSecretValue(object, kPrivateKeyKey, &errors);
  if (cert.has_value() && key.has_value()) {
    if (std::optional<PairProblem> problem = CheckKeyPair(cert->first, key->first)) {
      ScopedField field(&errors,
                        problem->part == PairPart::kCertificate ? cert->second : key->second);
      errors.AddError(problem->message);
    }
  }
  if (!errors.ok()) return errors.status();
  secret.certificate_chain_pem = std::move(cert->first);
  secret.private_key_pem = std::move(key->first);
  return secret;
}

absl::Status ValidateTlsKeyPair(const std::string& certificate_chain_pem,
                                const std::string& private_key_pem) {
  const std::optional<PairProblem> problem = CheckKeyPair(certificate_chain_pem, private_key_pem);
  if (!problem.has_value()) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format(
      "{}: {}", problem->part == PairPart::kCertificate ? "certificate chain" : "private key",
      problem->message));
}

}  // namespace propsy::model
