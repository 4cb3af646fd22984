#include "model/validation_errors.h"

#include <fmt/format.h>

namespace propsy::model {

void ValidationErrors::PushField(std::string_view segment) { fields_.emplace_back(segment); }

void ValidationErrors::PopField() {
  if (!fields_.empty()) fields_.pop_back();
}

std::string ValidationErrors::CurrentPath() const {
  std::string path;
  for (const std::string& field : fields_) path += field;
  if (!path.empty() && path.front() == '.') path.erase(0, 1);
  return path;
}

void ValidationErrors::AddError(std::string_view message) {
  errors_.emplace_back(CurrentPath(), std::string(message));
}

bool ValidationErrors::FieldHasErrors() const {
  const std::string path = CurrentPath();
  for (const auto& [error_path, message] : errors_) {
    if (error_path.compare(0, path.size(), path) != 0) continue;
    // "spec.percent" is below "spec" but "spec.percentage" is not below
    // "spec.percent".
    if (error_path.size() == path.size() || path.empty() || error_path[path.size()] == '.' ||
        error_path[path.size()] == '[') {
      return true;
    }
  }
  return false;
}

absl::Status ValidationErrors::status() const {
  if (errors_.empty()) return absl::OkStatus();
  std::string text;
  size_t listed = 0;
  for (const auto& [path, message] : errors_) {
    if (listed == kMaxListedErrors) break;
    if (!text.empty()) text += "; ";
    text += path.empty() ? message : fmt::format("{}: {}", path, message);
    ++listed;
  }
  if (errors_.size() > listed) {
    text += fmt::format("; and {} more errors", errors_.size() - listed);
  }
  return absl::InvalidArgumentError(text);
}

}  // namespace propsy::model
