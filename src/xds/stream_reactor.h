#pragma once

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "xds/config_watcher.h"
#include "xds/name_sets.h"
#include "xds/node_status.h"
#include "xds/peer_identity.h"
#include "xds/stream_drain.h"
#include "xds/write_budget.h"

namespace propsy::xds {

// What every discovery stream needs from the server.
struct StreamContext {
  ConfigWatcher& watcher;
  NodeStatusRegistry& registry;
  WriteBudget& write_budget;
  NameSetInterner& name_sets;
  StreamDrain& drain;
  bool check_peer_identity = false;  // mutual TLS without -peerskipcn
};

// One bidirectional discovery stream (state of the world or delta, ADS or
// per-type) on gRPC's callback API: no thread is held per stream.
//
// States: reading the first request (which must name the node) -> serving
// (a read always outstanding; at most one write in flight) -> finishing
// (Finish waits for the write in flight) -> done (gRPC calls OnDone; the
// watch is cancelled and the reactor frees itself). A stream is admitted by
// the server's StreamDrain, which refuses it (UNAVAILABLE) once the server
// drains and closes it (UNAVAILABLE) when its turn in the drain comes.
//
// The protocol lives in `State` (SotwStreamState or DeltaStreamState). A new
// snapshot only replaces the state's pointer; responses are built when the
// wire is free, so a stuck client holds one snapshot, not a queue, and never
// slows another stream. Start*/Finish are never called with mu_ held.
template <typename State>
class StreamReactor final
    : public grpc::ServerBidiReactor<typename State::Request, typename State::Response> {
 public:
  using Request = typename State::Request;
  using Response = typename State::Response;

  // Creates a reactor that owns itself until gRPC calls OnDone.
  static grpc::ServerBidiReactor<Request, Response>* Start(grpc::CallbackServerContext* context,
                                                           const StreamContext& deps,
                                                           std::optional<ResourceType> fixed_type,
                                                           std::string_view kind) {
    auto reactor =
        std::shared_ptr<StreamReactor>(new StreamReactor(context, deps, fixed_type, kind));
    reactor->self_ = reactor;
    reactor->StartRead(&reactor->request_);
    return reactor.get();
  }

 private:
  static constexpr bool kStateOfTheWorld =
      std::is_same_v<Request, envoy::service::discovery::v3::DiscoveryRequest>;

  StreamReactor(grpc::CallbackServerContext* context, const StreamContext& deps,
                std::optional<ResourceType> fixed_type, std::string_view kind)
      : context_(context),
        deps_(deps),
        kind_(kind),
        ads_(!fixed_type.has_value()),
        state_(fixed_type, &deps.name_sets) {}

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side, or the call broke
      FinishWith(grpc::Status::OK);
      return;
    }
    const bool first = !stream_id_.has_value();
    if (first) {
      if (grpc::Status status = Admit(); !status.ok()) {
        FinishWith(status);
        return;
      }
    }
    absl::StatusOr<RequestEvent> event;
    {
      std::lock_guard lock(mu_);
      event = state_.OnRequest(request_);
    }
    if (!event.ok()) {
      spdlog::warn("xds: {} stream of node \"{}\": {}", kind_, node_.id,
                   std::string(event.status().message()));
      FinishWith(grpc::Status(static_cast<grpc::StatusCode>(event.status().code()),
                              std::string(event.status().message())));
      return;
    }
    deps_.registry.OnRequest(*stream_id_, *event);
    if (event->kind == RequestEvent::Kind::kNack) {
      spdlog::warn("xds: node \"{}\" rejected {} version {}: {}", node_.id, ShortName(event->type),
                   event->version, event->error);
    }
    if (first) {
      std::weak_ptr<StreamReactor> weak = self_;
      watch_ = deps_.watcher.Watch(node_, [weak](SnapshotPtr snapshot) {
        if (auto self = weak.lock()) self->OnSnapshot(std::move(snapshot));
      });
    }
    // Freed rather than cleared: a cleared message keeps its strings for
    // reuse, and a thousand idle streams would each keep hundreds of names.
    request_ = Request();
    this->StartRead(&request_);
    MaybeWrite();
  }

  // Checks the first request: it must name the node, and under mutual TLS
  // the node must be the certificate's owner.
  grpc::Status Admit() {
    if (!request_.has_node() || request_.node().id().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the first request on a stream must carry node.id");
    }
    node_.id = request_.node().id();
    node_.zone = request_.node().locality().zone();
    node_.uses_ads = ads_;
    if (deps_.check_peer_identity) {
      if (absl::Status status = CheckPeerIdentity(*context_->auth_context(), node_.id);
          !status.ok()) {
        deps_.registry.OnIdentityRejected();
        spdlog::warn("xds: refused {} from {}: {}", kind_, context_->peer(),
                     std::string(status.message()));
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, std::string(status.message()));
      }
    }
    std::weak_ptr<StreamReactor> weak = self_;
    admission_ = deps_.drain.Admit([weak] {
      if (auto self = weak.lock()) {
        self->FinishWith(
            grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
      }
    });
    if (admission_ == nullptr) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down");
    }
    stream_id_ = deps_.registry.OpenStream(request_.node(), kind_);
    spdlog::debug("xds: node \"{}\" opened {} from {}", node_.id, kind_, context_->peer());
    return grpc::Status::OK;
  }

  void OnSnapshot(SnapshotPtr snapshot) {
    {
      std::lock_guard lock(mu_);
      state_.SetSnapshot(std::move(snapshot));
    }
    MaybeWrite();
  }

  // Builds the next response, if any is due, and writes it when the write
  // budget gives it a turn (at once, unless many streams are writing).
  void MaybeWrite() {
    SentSummary summary;
    std::optional<Response> response;
    {
      std::lock_guard lock(mu_);
      if (writing_ || finishing_) return;
      response = state_.NextResponse(&summary);
      if (!response.has_value()) return;
      writing_ = true;
    }
    deps_.registry.OnSent(*stream_id_, summary);
    size_t bytes = 0;
    for (const ResourcePtr& resource : summary.resources) bytes += resource->body.ByteSizeLong();
    std::weak_ptr<StreamReactor> weak = self_;
    deps_.write_budget.Acquire(
        bytes, [weak, response = std::move(*response),
                resources = std::move(summary.resources)](WriteBudget::Grant grant) mutable {
          // The reactor lives until OnDone, which cannot come while this
          // write is pending; the check guards the impossible anyway.
          if (auto self = weak.lock()) {
            State::AttachBodies(response, resources);
            self->response_ = std::move(response);
            self->grant_ = std::move(grant);
            self->StartWrite(&self->response_);
          }
        });
  }

  void OnWriteDone(bool ok) override {
    // Still ours until writing_ is cleared below. Freed now rather than at
    // the next write: a thousand idle streams would each hold their last
    // response.
    response_ = Response();
    grant_ = WriteBudget::Grant();
    std::optional<grpc::Status> finish;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (finishing_ && pending_finish_.has_value()) finish = std::exchange(pending_finish_, {});
    }
    if (finish.has_value()) {
      this->Finish(*finish);
      return;
    }
    if (ok) MaybeWrite();  // otherwise the call broke; OnReadDone(false) follows
  }

  // Finishes the call once, after the write in flight (if any) completes.
  void FinishWith(grpc::Status status) {
    {
      std::lock_guard lock(mu_);
      if (finishing_) return;
      finishing_ = true;
      if (writing_) {
        pending_finish_ = std::move(status);
        return;
      }
    }
    this->Finish(status);
  }

  void OnDone() override {
    watch_.reset();  // waits for a callback in progress; none come after
    admission_.reset();
    if (stream_id_.has_value()) deps_.registry.CloseStream(*stream_id_);
    auto last_reference = std::move(self_);  // frees this reactor on return
  }

  grpc::CallbackServerContext* const context_;
  const StreamContext deps_;
  const std::string kind_;  // for logs: "ads", "delta ads", "cds", ...
  const bool ads_;
  std::shared_ptr<StreamReactor> self_;

  // Touched only by the read path (one read at a time) and OnDone.
  Request request_;
  NodeInfo node_;
  std::optional<NodeStatusRegistry::StreamId> stream_id_;
  std::unique_ptr<WatchHandle> watch_;
  std::unique_ptr<StreamDrain::Admission> admission_;

  std::mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_);
  // The write in flight's message and budget grant, owned by it while
  // writing_.
  Response response_;
  WriteBudget::Grant grant_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mu_);
};

}  // namespace propsy::xds
