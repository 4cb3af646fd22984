#pragma once

#include <rapidjson/document.h>

#include <string>

#include "absl/status/statusor.h"
#include "model/object_meta.h"

namespace propsy::model {

// A kubernetes.io/tls Secret whose certificate chain and private key parse as
// PEM and belong together.
struct TlsSecret {
  ObjectMeta meta;
  std::string certificate_chain_pem;
  std::string private_key_pem;
  bool operator==(const TlsSecret&) const = default;
};

// Decodes a core/v1 Secret of type kubernetes.io/tls. Accepts base64 `data`
// (as the API server returns it) and plain `stringData` (handy in manifests;
// `data` wins per key). Errors name the field (e.g. "data[tls.key]: private
// key does not match the certificate"; "stringData[...]" when the value came
// from there). apiVersion/kind are checked when present.
absl::StatusOr<TlsSecret> DecodeTlsSecret(const rapidjson::Value& object);

// Checks PEM text: the chain parses (at least one certificate), the key
// parses (unencrypted), and the key matches the first certificate. Leaves
// the thread's OpenSSL error queue empty.
absl::Status ValidateTlsKeyPair(const std::string& certificate_chain_pem,
                                const std::string& private_key_pem);

}  // namespace propsy::model
