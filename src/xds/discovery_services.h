#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>

#include <memory>
#include <vector>

#include "xds/stream_reactor.h"

namespace propsy::xds {

// Every gRPC service ProPsy offers on the xDS port except health and
// reflection: ADS, the five per-type discovery services (stream, delta and
// Fetch), those of the types ProPsy answers as empty (runtime, extension
// configs, scoped routes, virtual hosts) and Client Status Discovery.
// Register them all with a builder.
std::vector<std::unique_ptr<grpc::Service>> MakeDiscoveryServices(const StreamContext& context);

}  // namespace propsy::xds
