#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace propsy::model {

// Collects every problem found while decoding one object, each under the
// field path where it was found ("spec.percent", "spec.nodes[2]").
//
// The path is a stack of segments pushed by ScopedField: a segment is either
// a member (".percent"; the leading dot of the whole path is dropped) or an
// index/key ("[2]", "[tls.crt]"). Decoders keep going after an error so that
// one status reports everything wrong with the object, not just the first
// problem. Not thread-safe; one instance per decode.
class ValidationErrors {
 public:
  // At most this many errors are spelled out in status(); the rest are
  // counted. Keeps messages readable (and within Kubernetes condition limits)
  // for objects that are wrong everywhere.
  static constexpr size_t kMaxListedErrors = 32;

  // Pushes a path segment for its lifetime.
  class ScopedField {
   public:
    ScopedField(ValidationErrors* errors, std::string_view segment) : errors_(errors) {
      errors_->PushField(segment);
    }
    ~ScopedField() { errors_->PopField(); }
    ScopedField(const ScopedField&) = delete;
    ScopedField& operator=(const ScopedField&) = delete;

   private:
    ValidationErrors* errors_;
  };

  void PushField(std::string_view segment);
  void PopField();

  // Records `message` for the current field path.
  void AddError(std::string_view message);

  // True when an error was recorded at the current path or below it.
  bool FieldHasErrors() const;

  bool ok() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }

  // OK when nothing was recorded; otherwise InvalidArgument whose message is
  // every error as "field.path: message", joined by "; " in the order found.
  absl::Status status() const;

 private:
  std::string CurrentPath() const;

  std::vector<std::string> fields_;
  std::vector<std::pair<std::string, std::string>> errors_;  // path, message
};

}  // namespace propsy::model
