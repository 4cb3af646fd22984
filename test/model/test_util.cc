#include "model/test_util.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "model/manifest.h"

namespace propsy::model::testing {
namespace {

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

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(size));
}

PkeyPtr ReadKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

X509Ptr ReadCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

}  // namespace

rapidjson::Document Yaml(std::string_view text) {
  absl::StatusOr<std::vector<ManifestDocument>> documents = ParseManifest(text, "test.yaml");
  rapidjson::Document out;
  if (!documents.ok()) {
    ADD_FAILURE() << documents.status();
    return out;
  }
  if (documents->size() != 1) {
    ADD_FAILURE() << "expected one document, got " << documents->size();
    return out;
  }
  out.CopyFrom(documents->front().object, out.GetAllocator());
  return out;
}

rapidjson::Document Patched(const rapidjson::Document& base, std::string_view path,
                            std::string_view patch) {
  rapidjson::Document out;
  out.CopyFrom(base, out.GetAllocator());
  rapidjson::Value* target = &out;
  if (!path.empty()) {
    const rapidjson::Value name(rapidjson::StringRef(path.data(), path.size()));
    if (!out.HasMember(name)) {
      out.AddMember(rapidjson::Value(path.data(), path.size(), out.GetAllocator()),
                    rapidjson::Value(rapidjson::kObjectType), out.GetAllocator());
    }
    target = &out[name];
  }
  const rapidjson::Document changes = Yaml(patch);
  if (!changes.IsObject()) return out;
  for (const auto& member : changes.GetObject()) {
    target->RemoveMember(member.name);
    if (member.value.IsNull()) continue;
    target->AddMember(rapidjson::Value(member.name, out.GetAllocator()),
                      rapidjson::Value(member.value, out.GetAllocator()), out.GetAllocator());
  }
  return out;
}

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

CertAndKey MakeCertificate(std::string_view common_name, const CertAndKey* issuer) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), issuer != nullptr ? 2 : 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::string cn(common_name);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  PkeyPtr signing_key;
  if (issuer != nullptr) {
    X509Ptr issuer_cert = ReadCert(issuer->cert_pem);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert.get()));
    signing_key = ReadKey(issuer->key_pem);
  } else {
    X509_set_issuer_name(cert.get(), name);
  }
  X509_sign(cert.get(), signing_key != nullptr ? signing_key.get() : key.get(), EVP_sha256());

  CertAndKey out;
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cert_bio.get(), cert.get());
  out.cert_pem = BioText(cert_bio.get());
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  out.key_pem = BioText(key_bio.get());
  return out;
}

std::string EncryptKey(const std::string& key_pem) {
  PkeyPtr key = ReadKey(key_pem);
  BioPtr bio(BIO_new(BIO_s_mem()));
  static char passphrase[] = "secret";
  PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_128_cbc(), passphrase,
                                sizeof(passphrase) - 1, nullptr, nullptr);
  return BioText(bio.get());
}

std::string Base64(std::string_view data) {
  std::string out;
  absl::Base64Escape(absl::string_view(data.data(), data.size()), &out);
  return out;
}

}  // namespace propsy::model::testing
