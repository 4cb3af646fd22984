#include "status/node_progress.h"

#include <algorithm>
#include <tuple>

namespace propsy::status {

using Answer = xds::NodeStatusRegistry::Answer;
using HeldAnswer = xds::NodeStatusRegistry::HeldAnswer;
using StreamAnswers = xds::NodeStatusRegistry::StreamAnswers;

std::vector<NodeProgress> GatherNodeProgress(
    const std::vector<StreamAnswers>& streams,
    const std::function<xds::SnapshotPtr(const xds::NodeInfo&)>& snapshot_of) {
  // Streams of one node: ADS carries every type; per-type services one each.
  std::map<std::tuple<std::string, std::string, bool>, std::vector<const StreamAnswers*>> nodes;
  for (const StreamAnswers& stream : streams) {
    nodes[{stream.node.id, stream.node.zone, stream.node.uses_ads}].push_back(&stream);
  }
  std::vector<NodeProgress> progress;
  progress.reserve(nodes.size());
  for (const auto& [key, node_streams] : nodes) {
    NodeProgress& node = progress.emplace_back();
    node.node = node_streams.front()->node;
    const xds::SnapshotPtr snapshot = snapshot_of(node.node);
    node.has_snapshot = snapshot != nullptr;
    if (snapshot == nullptr) continue;
    for (xds::ResourceType type : xds::kAllResourceTypes) {
      const int index = xds::Index(type);
      // The newest stream that asked for the type speaks for it.
      const StreamAnswers* holder = nullptr;
      for (const StreamAnswers* stream : node_streams) {
        if (stream->requested[index] || !stream->held[index].empty()) holder = stream;
      }
      if (holder == nullptr) continue;
      // A reconnected SotW client holding the current set was sent nothing.
      if (!holder->sent_any[index] && !holder->claimed_set_version[index].empty() &&
          holder->claimed_set_version[index] == snapshot->Of(type).version) {
        continue;
      }
      // Both in name order: one merge walk, not a search per resource.
      const std::vector<HeldAnswer>& held = holder->held[index];
      auto found = held.begin();
      for (const auto& [name, resource] : snapshot->Of(type).by_name) {
        while (found != held.end() && found->resource->name < name) ++found;
        if (found == held.end() || found->resource->name != name ||
            found->resource->version != resource->version) {
          node.shortfalls[index][name] = Shortfall{};
          continue;
        }
        if (found->answer == Answer::kAcked) continue;
        node.shortfalls[index][name] =
            Shortfall{.rejected = found->answer == Answer::kNacked, .error = found->error};
      }
    }
  }
  return progress;
}

NodeProgressIndex::NodeProgressIndex(const std::vector<NodeProgress>& nodes) : nodes_(nodes) {
  for (size_t i = 0; i < nodes.size(); ++i) by_id_[nodes[i].node.id].push_back(i);
}

std::vector<size_t> NodeProgressIndex::Targeted(const std::vector<std::string>& names) const {
  std::vector<size_t> targeted;
  if (std::find(names.begin(), names.end(), "*") != names.end()) {
    targeted.resize(nodes_.size());
    for (size_t i = 0; i < targeted.size(); ++i) targeted[i] = i;
    return targeted;
  }
  for (const std::string& name : names) {
    auto found = by_id_.find(name);
    if (found == by_id_.end()) continue;
    targeted.insert(targeted.end(), found->second.begin(), found->second.end());
  }
  std::sort(targeted.begin(), targeted.end());
  targeted.erase(std::unique(targeted.begin(), targeted.end()), targeted.end());
  return targeted;
}

}  // namespace propsy::status
