#include "model/tls_secret.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>

#include "model/test_util.h"

namespace propsy::model {
namespace {

using ::propsy::model::testing::Base64;
using ::propsy::model::testing::CertAndKey;
using ::propsy::model::testing::EncryptKey;
using ::propsy::model::testing::MakeCertificate;
using ::propsy::model::testing::Patched;
using ::propsy::model::testing::ToJson;
using ::propsy::model::testing::Yaml;
using ::testing::HasSubstr;

class TlsSecretTest : public ::testing::Test {
 protected:
  void SetUp() override { pair_ = MakeCertificate("web.shop"); }

  // A Secret whose `data` holds the given PEM texts (base64 encoded).
  rapidjson::Document Secret(const std::string& cert, const std::string& key) const {
    return Yaml(R"(
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {name: web-tls, namespace: shop}
data:
  tls.crt: )" + Base64(cert) +
                R"(
  tls.key: )" + Base64(key) +
                "\n");
  }

  void ExpectError(const rapidjson::Value& object, std::string_view error) {
    absl::StatusOr<TlsSecret> secret = DecodeTlsSecret(object);
    ASSERT_FALSE(secret.ok()) << ToJson(object);
    EXPECT_EQ(secret.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(secret.status().message()), HasSubstr(error));
    EXPECT_EQ(ERR_peek_error(), 0u) << "OpenSSL error queue left non-empty";
  }

  CertAndKey pair_;
};

TEST_F(TlsSecretTest, DecodesBase64Data) {
  absl::StatusOr<TlsSecret> secret = DecodeTlsSecret(Secret(pair_.cert_pem, pair_.key_pem));
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->meta.key, (ObjectKey{"shop", "web-tls"}));
  EXPECT_EQ(secret->certificate_chain_pem, pair_.cert_pem);
  EXPECT_EQ(secret->private_key_pem, pair_.key_pem);
}

TEST_F(TlsSecretTest, DecodesStringDataAndDataWinsPerKey) {
  rapidjson::Document object = Yaml(R"(
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {name: web-tls}
stringData:
  tls.crt: "not a certificate"
data:
  tls.crt: )" + Base64(pair_.cert_pem) +
                                    "\n");
  // tls.key only in stringData.
  rapidjson::Value key(pair_.key_pem.c_str(), object.GetAllocator());
  object["stringData"].AddMember("tls.key", key, object.GetAllocator());
  absl::StatusOr<TlsSecret> secret = DecodeTlsSecret(object);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->meta.key, (ObjectKey{"default", "web-tls"}));
  EXPECT_EQ(secret->certificate_chain_pem, pair_.cert_pem);
  EXPECT_EQ(secret->private_key_pem, pair_.key_pem);
}

TEST_F(TlsSecretTest, AcceptsAChain) {
  const CertAndKey ca = MakeCertificate("ca");
  const CertAndKey leaf = MakeCertificate("leaf", &ca);
  absl::StatusOr<TlsSecret> secret =
      DecodeTlsSecret(Secret(leaf.cert_pem + ca.cert_pem, leaf.key_pem));
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_TRUE(ValidateTlsKeyPair(leaf.cert_pem + ca.cert_pem, leaf.key_pem).ok());
  // The key must match the first certificate, not any of the chain.
  EXPECT_FALSE(ValidateTlsKeyPair(ca.cert_pem + leaf.cert_pem, leaf.key_pem).ok());
}

TEST_F(TlsSecretTest, RejectsMismatchedKey) {
  const CertAndKey other = MakeCertificate("other");
  ExpectError(Secret(pair_.cert_pem, other.key_pem),
              "data[tls.key]: private key does not match the certificate");
  absl::Status status = ValidateTlsKeyPair(pair_.cert_pem, other.key_pem);
  EXPECT_EQ(status.message(), "private key: private key does not match the certificate");
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_F(TlsSecretTest, RejectsGarbagePem) {
  ExpectError(Secret("garbage", pair_.key_pem), "data[tls.crt]: no PEM certificate found");
  ExpectError(Secret(pair_.cert_pem, "garbage"), "data[tls.key]: no PEM private key found");
  ExpectError(
      Secret("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", pair_.key_pem),
      "data[tls.crt]: certificate 1 does not parse");
  // A good first certificate followed by a broken one.
  ExpectError(
      Secret(pair_.cert_pem + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
             pair_.key_pem),
      "data[tls.crt]: certificate 2 does not parse");
  // A key where the certificate belongs.
  ExpectError(Secret(pair_.key_pem, pair_.key_pem), "data[tls.crt]: no PEM certificate found");
}

TEST_F(TlsSecretTest, RejectsEncryptedKey) {
  ExpectError(Secret(pair_.cert_pem, EncryptKey(pair_.key_pem)),
              "data[tls.key]: encrypted private keys are not supported");
}

TEST_F(TlsSecretTest, ErrorsNameTheField) {
  const rapidjson::Document good = Secret(pair_.cert_pem, pair_.key_pem);
  ExpectError(Patched(good, "data", "tls.crt: \"!!!not base64\""),
              "data[tls.crt]: not valid base64");
  ExpectError(Patched(good, "data", "tls.key: null"), "data[tls.key]: missing");
  ExpectError(Patched(good, "data", "tls.key: \"\""), "data[tls.key]: empty");
  ExpectError(Patched(good, "data", "tls.crt: 5"), "data[tls.crt]: must be a base64 string, got 5");
  ExpectError(Patched(good, "", "type: Opaque"), "type: must be kubernetes.io/tls, got \"Opaque\"");
  ExpectError(Patched(good, "", "type: null"), "type: missing");
  ExpectError(Patched(good, "", "data: [1]"), "data: must be an object, got a list");
  ExpectError(Patched(good, "", "kind: ConfigMap"), "kind: must be Secret");
  ExpectError(Patched(good, "", "metadata: {namespace: shop}"), "metadata.name: missing");
  rapidjson::Document plain = Patched(good, "", "{data: null, stringData: {tls.crt: garbage}}");
  rapidjson::Value key(pair_.key_pem.c_str(), plain.GetAllocator());
  plain["stringData"].AddMember("tls.key", key, plain.GetAllocator());
  ExpectError(plain, "stringData[tls.crt]: no PEM certificate found");
}

TEST_F(TlsSecretTest, Base64LineBreaksAreIgnored) {
  std::string wrapped = Base64(pair_.cert_pem);
  for (size_t i = 76; i < wrapped.size(); i += 77) wrapped.insert(i, "\n");
  const rapidjson::Document object = Patched(
      Secret(pair_.cert_pem, pair_.key_pem), "data", "tls.crt: \"" + [&] {
        std::string escaped;
        for (char c : wrapped) escaped += c == '\n' ? std::string("\\n") : std::string(1, c);
        return escaped;
      }() + "\"");
  absl::StatusOr<TlsSecret> secret = DecodeTlsSecret(object);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(secret->certificate_chain_pem, pair_.cert_pem);
}

}  // namespace
}  // namespace propsy::model
