#pragma once

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "xds/resource.h"

namespace propsy::xds {

// The resources one client holds of one type, by name: shared pointers in a
// sorted vector, two words per resource. A thousand clients of hundreds of
// resources each cost megabytes, not the tens a map of copied names would.
class HeldResources {
 public:
  using const_iterator = std::vector<ResourcePtr>::const_iterator;

  // Null when not held.
  const Resource* Find(std::string_view name) const {
    auto it = LowerBound(name);
    return it != sorted_.end() && (*it)->name == name ? it->get() : nullptr;
  }
  bool Contains(std::string_view name) const { return Find(name) != nullptr; }

  // Holds `resource` in place of the one of its name; returns that one (null
  // if there was none).
  ResourcePtr Put(ResourcePtr resource) {
    auto it = LowerBound(resource->name);
    if (it != sorted_.end() && (*it)->name == resource->name) return std::exchange(*it, resource);
    sorted_.insert(it, std::move(resource));
    return nullptr;
  }
  // Returns the resource no longer held (null if it was not).
  ResourcePtr Erase(std::string_view name) {
    auto it = LowerBound(name);
    if (it == sorted_.end() || (*it)->name != name) return nullptr;
    ResourcePtr erased = std::move(*it);
    sorted_.erase(it);
    return erased;
  }
  template <typename Predicate>
  void EraseIf(Predicate predicate) {
    std::erase_if(sorted_, [&](const ResourcePtr& resource) { return predicate(*resource); });
  }

  // Room for `count` resources, so a first response is held without regrowth.
  void Reserve(size_t count) { sorted_.reserve(count); }

  const_iterator begin() const { return sorted_.begin(); }
  const_iterator end() const { return sorted_.end(); }
  size_t size() const { return sorted_.size(); }

 private:
  std::vector<ResourcePtr>::iterator LowerBound(std::string_view name) {
    return sorted_.begin() + (std::as_const(*this).LowerBound(name) - sorted_.cbegin());
  }
  const_iterator LowerBound(std::string_view name) const {
    return std::lower_bound(
        sorted_.begin(), sorted_.end(), name,
        [](const ResourcePtr& resource, std::string_view key) { return resource->name < key; });
  }

  std::vector<ResourcePtr> sorted_;
};

}  // namespace propsy::xds
