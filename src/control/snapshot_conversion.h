#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "translate/translate.h"
#include "xds/resource.h"
#include "xds/snapshot.h"

namespace propsy::control {

// Wraps translated resources as an xDS snapshot, interning every resource so
// nodes that get identical resources share one serialized copy. Fails if the
// snapshot is not self-consistent (a listener naming a missing route
// configuration, a cluster without its load assignment): such a snapshot is
// never served.
// Interns `messages` as one type's set, each named by `name_of(message)`.
template <typename Message, typename NameOf>
std::shared_ptr<const xds::TypeResources> InternAll(const std::vector<Message>& messages,
                                                    xds::ResourceInterner& interner,
                                                    NameOf name_of) {
  std::map<std::string, xds::ResourcePtr> by_name;
  for (const Message& message : messages) {
    std::string name = name_of(message);
    by_name.emplace(name, interner.Intern(name, message));
  }
  return xds::TypeResources::Make(std::move(by_name));
}

absl::StatusOr<xds::SnapshotPtr> ToSnapshot(const translate::NodeResources& resources,
                                            xds::ResourceInterner& interner);

}  // namespace propsy::control
