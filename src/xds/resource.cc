#include "xds/resource.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "common/content_hash.h"

namespace propsy::xds {
namespace {

constexpr std::string_view kTypeUrlPrefix = "type.googleapis.com/";

std::string SerializeDeterministically(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

ResourcePtr MakeFromBytes(std::string name, std::string_view full_name, std::string bytes,
                          std::string version) {
  auto resource = std::make_shared<Resource>();
  resource->name = std::move(name);
  resource->version = std::move(version);
  resource->body.set_type_url(std::string(kTypeUrlPrefix) + std::string(full_name));
  resource->body.set_value(std::move(bytes));
  return resource;
}

}  // namespace

ResourcePtr MakeResource(std::string name, const google::protobuf::Message& message) {
  std::string bytes = SerializeDeterministically(message);
  std::string version = ContentHash(bytes);
  return MakeFromBytes(std::move(name), message.GetDescriptor()->full_name(), std::move(bytes),
                       std::move(version));
}

ResourcePtr ResourceInterner::Intern(std::string name, const google::protobuf::Message& message) {
  std::string bytes = SerializeDeterministically(message);
  std::string version = ContentHash(bytes);
  std::string key = name + '\0' + version;
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    ResourcePtr existing = it->second.lock();
    // Equal hash and equal bytes: the same resource. (The byte check makes a
    // hash collision harmless instead of serving the wrong config.)
    if (existing && existing->body.value() == bytes) return existing;
  }
  ResourcePtr resource = MakeFromBytes(std::move(name), message.GetDescriptor()->full_name(),
                                       std::move(bytes), std::move(version));
  entries_[std::move(key)] = resource;
  // Sweep expired entries now and then, so the table tracks live resources.
  if (++inserts_since_sweep_ > entries_.size()) {
    std::erase_if(entries_, [](const auto& entry) { return entry.second.expired(); });
    inserts_since_sweep_ = 0;
  }
  return resource;
}

size_t ResourceInterner::LiveCount() const {
  absl::MutexLock lock(&mu_);
  size_t live = 0;
  for (const auto& [key, weak] : entries_) live += weak.expired() ? 0 : 1;
  return live;
}

std::string SetVersion(const std::map<std::string, ResourcePtr>& resources) {
  ContentHasher hasher;
  for (const auto& [name, resource] : resources) {
    hasher.Add(name);
    hasher.Add(resource->version);
  }
  return hasher.Finish();
}

std::shared_ptr<const TypeResources> TypeResources::Make(
    std::map<std::string, ResourcePtr> by_name) {
  auto set = std::make_shared<TypeResources>();
  set->version = SetVersion(by_name);
  set->by_name = std::move(by_name);
  return set;
}

const std::shared_ptr<const TypeResources>& TypeResources::Empty() {
  static const std::shared_ptr<const TypeResources> kEmpty = Make({});
  return kEmpty;
}

}  // namespace propsy::xds
