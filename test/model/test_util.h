#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

namespace propsy::model::testing {

// Parses a single YAML (or JSON) object for a test; fails the test (and
// returns null) when the text is not exactly one object.
rapidjson::Document Yaml(std::string_view text);

// `base` with the members of `patch` (a YAML mapping) set in the object at
// `path` ("spec", "metadata"; empty = the root); a null value removes the
// member.
rapidjson::Document Patched(const rapidjson::Document& base, std::string_view path,
                            std::string_view patch);

// Compact JSON text of a value, for failure messages.
std::string ToJson(const rapidjson::Value& value);

// A certificate and its private key, PEM encoded.
struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

// A P-256 certificate for `common_name`, self-signed, or signed by `issuer`
// when given.
CertAndKey MakeCertificate(std::string_view common_name, const CertAndKey* issuer = nullptr);

// `key_pem` re-encoded as an encrypted PEM key (passphrase "secret").
std::string EncryptKey(const std::string& key_pem);

std::string Base64(std::string_view data);

}  // namespace propsy::model::testing
