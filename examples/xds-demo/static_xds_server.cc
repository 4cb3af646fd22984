// Serves a fixed set of Envoy resources, read from a JSON file, to one node
// over every xDS variant ProPsy offers. The file is re-read when it changes,
// so editing it shows a live update in the connected Envoy. A demonstration
// of the xDS core until the `propsy` binary exists.
//
// Usage: static_xds_server LISTEN NODE_ID RESOURCES.json
// RESOURCES.json: {"resources": [{"@type": "type.googleapis.com/...", ...}]}

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "envoy/service/discovery/v3/discovery.pb.h"
#include "xds/server.h"
#include "xds/snapshot_cache.h"

namespace {

using propsy::xds::NodeSnapshotBuilder;
using propsy::xds::ResourceType;

// Envoy names every resource by `name`, except load assignments.
std::string ResourceName(const google::protobuf::Message& message) {
  const auto* descriptor = message.GetDescriptor();
  const auto* field = descriptor->FindFieldByName("name");
  if (field == nullptr) field = descriptor->FindFieldByName("cluster_name");
  return field == nullptr ? "" : message.GetReflection()->GetString(message, field);
}

absl::StatusOr<propsy::xds::SnapshotPtr> LoadSnapshot(const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError("cannot read " + path);
  std::stringstream text;
  text << file.rdbuf();
  envoy::service::discovery::v3::DiscoveryResponse list;
  auto parsed = google::protobuf::util::JsonStringToMessage(text.str(), &list);
  if (!parsed.ok()) return absl::InvalidArgumentError(path + ": " + parsed.ToString());
  NodeSnapshotBuilder builder;
  for (const auto& any : list.resources()) {
    std::optional<ResourceType> type = propsy::xds::ResourceTypeFromUrl(any.type_url());
    if (!type) return absl::InvalidArgumentError(path + ": unsupported type " + any.type_url());
    const auto* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
            any.type_url().substr(any.type_url().find('/') + 1));
    std::unique_ptr<google::protobuf::Message> message(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
    message->ParseFromString(any.value());
    builder.Add(*type, propsy::xds::MakeResource(ResourceName(*message), *message));
  }
  propsy::xds::SnapshotPtr snapshot = builder.Build();
  if (absl::Status status = snapshot->CheckConsistent(); !status.ok()) return status;
  return snapshot;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    fmt::print(stderr, "usage: {} LISTEN NODE_ID RESOURCES.json\n", argv[0]);
    return 2;
  }
  const std::string listen = argv[1], node_id = argv[2], path = argv[3];
  propsy::xds::SnapshotCache cache;
  propsy::xds::NodeStatusRegistry registry;
  propsy::xds::XdsServerOptions options;
  options.listen_address = listen;
  auto server = propsy::xds::XdsServer::Start(options, cache, registry);
  if (!server.ok()) {
    spdlog::error("{}", std::string(server.status().message()));
    return 1;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::filesystem::file_time_type loaded{};
  const timespec poll{1, 0};
  while (true) {
    std::error_code error;
    auto modified = std::filesystem::last_write_time(path, error);
    if (!error && modified != loaded) {
      loaded = modified;
      auto snapshot = LoadSnapshot(path);
      if (snapshot.ok()) {
        cache.SetSnapshot(node_id, *snapshot);
        spdlog::info("serving {} to node \"{}\"", path, node_id);
      } else {
        // Keep serving the last good set.
        spdlog::error("{} (keeping the last good set)", std::string(snapshot.status().message()));
      }
    }
    if (sigtimedwait(&signals, nullptr, &poll) > 0) break;
  }
  spdlog::info("stopping; node status: {} acks, {} nacks", registry.totals().acks,
               registry.totals().nacks);
  return 0;
}
