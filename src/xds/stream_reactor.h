#pragma once

#include <google/protobuf/arena.h>
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
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
// The protocol lives in `State` (SotwStreamState or DeltaStreamState). The
// stream plans its responses only on its own turns: a read or a write
// completing, or a turn it asked gRPC for (an Alarm due at once) when the
// config watcher woke it. A wake only sets a flag, so the publisher never
// does a stream's work; the turn reads the newest snapshot then. Responses
// are built when the wire is free, so a stuck client holds one snapshot, not
// a queue, and never slows another stream. Start*/Finish and the watch
// handle are never called with mu_ held (lock order: watch → mu_).
template <typename State>
class StreamReactor final
    : public grpc::ServerBidiReactor<typename State::Request, typename State::Response> {
 public:
  using Request = typename State::Request;
  using Response = typename State::Response;

  // Creates a reactor that owns itself until gRPC calls OnDone.
  static grpc::ServerBidiReactor<Request, Response>* Start(grpc::CallbackServerContext* context,
                                                           const StreamContext& deps,
                                                           StreamScope scope,
                                                           std::string_view kind) {
    auto reactor = std::shared_ptr<StreamReactor>(new StreamReactor(context, deps, scope, kind));
    reactor->self_ = reactor;
    reactor->weak_self_ = reactor;
    reactor->StartNextRead();
    return reactor.get();
  }

  // gRPC completes every write before OnDone; should one never complete,
  // the borrowed bodies still go back rather than be freed with the message.
  ~StreamReactor() override { State::ReturnBodies(response_); }

 private:
  static constexpr bool kStateOfTheWorld =
      std::is_same_v<Request, envoy::service::discovery::v3::DiscoveryRequest>;

  StreamReactor(grpc::CallbackServerContext* context, const StreamContext& deps, StreamScope scope,
                std::string_view kind)
      : context_(context),
        deps_(deps),
        kind_(kind),
        ads_(scope.aggregated()),
        state_(scope, &deps.name_sets) {}

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
      absl::MutexLock lock(&mu_);
      event = state_.OnRequest(*request_);
    }
    if (!event.ok()) {
      spdlog::warn("xds: {} stream of node \"{}\": {}", kind_, node_.id,
                   std::string(event.status().message()));
      FinishWith(grpc::Status(static_cast<grpc::StatusCode>(event.status().code()),
                              std::string(event.status().message())));
      return;
    }
    deps_.registry.OnRequest(*stream_id_, *event);
    // An empty answer to a type ProPsy does not serve may be rejected (Envoy
    // does for RTDS); that is expected, and the registry logs such types.
    if (event->kind == RequestEvent::Kind::kNack && event->type.has_value()) {
      spdlog::warn("xds: node \"{}\" rejected {} version {}: {}", node_.id, ShortName(*event->type),
                   event->version, event->error);
    }
    if (first) {
      std::shared_ptr<WatchHandle> watch = deps_.watcher.Watch(node_, [weak = weak_self_] {
        if (auto self = weak.lock()) self->OnWake();
      });
      absl::MutexLock lock(&mu_);
      watch_ = std::move(watch);
      snapshot_changed_ = true;
    }
    StartNextRead();
    TakeLatestSnapshot();
    MaybeWrite();
  }

  // Reads the next request into an emptied arena. Freed rather than
  // cleared: a cleared message keeps its strings for reuse, and a thousand
  // idle streams would each keep hundreds of names. On an arena, a request's
  // hundreds of names cost a few block allocations instead of one each
  // (an ACK names every resource the client holds).
  void StartNextRead() {
    request_ = nullptr;
    request_arena_.Reset();
    request_ = google::protobuf::Arena::CreateMessage<Request>(&request_arena_);
    this->StartRead(request_);
  }

  // The first block is allocated by every Reset (it holds these options),
  // so it is what each idle stream keeps: small, and the blocks double from
  // there for an ACK's names.
  static google::protobuf::ArenaOptions RequestArenaOptions() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 1024;
    options.max_block_size = 65536;
    return options;
  }

  // Checks the first request: it must name the node, and under mutual TLS
  // the node must be the certificate's owner.
  grpc::Status Admit() {
    if (!request_->has_node() || request_->node().id().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the first request on a stream must carry node.id");
    }
    node_.id = request_->node().id();
    node_.zone = request_->node().locality().zone();
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
    admission_ = deps_.drain.Admit([weak = weak_self_] {
      if (auto self = weak.lock()) {
        self->FinishWith(
            grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
      }
    });
    if (admission_ == nullptr) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down");
    }
    stream_id_ = deps_.registry.OpenStream(request_->node(), kind_);
    spdlog::debug("xds: node \"{}\" opened {} from {}", node_.id, kind_, context_->peer());
    return grpc::Status::OK;
  }

  // The watcher's wake: notes the change and asks for a turn, unless one is
  // coming anyway (a write in flight ends in OnWriteDone, which plans).
  void OnWake() {
    {
      absl::MutexLock lock(&mu_);
      snapshot_changed_ = true;
      if (finishing_ || writing_ || turn_requested_) return;
      turn_requested_ = true;
    }
    // An alarm already due: gRPC runs the callback on one of its threads.
    // One alarm per turn, freed by its own callback: an alarm must not be
    // set again while its previous callback may still run.
    auto alarm = std::make_shared<grpc::Alarm>();
    grpc::Alarm& turn = *alarm;
    turn.Set(gpr_inf_past(GPR_CLOCK_MONOTONIC),
             [weak = weak_self_, alarm = std::move(alarm)](bool) mutable {
               alarm.reset();
               if (auto self = weak.lock()) self->OnTurn();
             });
  }

  void OnTurn() {
    {
      absl::MutexLock lock(&mu_);
      turn_requested_ = false;
    }
    TakeLatestSnapshot();
    MaybeWrite();
  }

  // Moves the watch's newest snapshot into the protocol state, if it changed.
  void TakeLatestSnapshot() {
    std::shared_ptr<WatchHandle> watch;
    {
      absl::MutexLock lock(&mu_);
      if (!snapshot_changed_ || watch_ == nullptr) return;
      snapshot_changed_ = false;
      watch = watch_;
    }
    SnapshotPtr snapshot = watch->Latest();
    absl::MutexLock lock(&mu_);
    state_.SetSnapshot(std::move(snapshot));
  }

  // Builds the next response, if any is due, and writes it when the write
  // budget gives it a turn (at once, unless many streams are writing).
  void MaybeWrite() {
    SentSummary summary;
    std::optional<Response> response;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finishing_) return;
      response = state_.NextResponse(&summary);
      if (!response.has_value()) return;
      writing_ = true;
    }
    deps_.registry.OnSent(*stream_id_, summary);
    size_t bytes = 0;
    for (const ResourcePtr& resource : summary.resources) bytes += resource->body.ByteSizeLong();
    deps_.write_budget.Acquire(
        bytes, [weak = weak_self_, response = std::move(*response),
                resources = std::move(summary.resources)](WriteBudget::Grant grant) mutable {
          // The reactor lives until OnDone, which cannot come while this
          // write is pending; the check guards the impossible anyway.
          if (auto self = weak.lock()) {
            {
              // The write completes on another gRPC thread (OnWriteDone),
              // ordered by gRPC internals that TSan cannot see; the lock
              // makes that order visible to it.
              absl::MutexLock lock(&self->mu_);
              self->response_ = std::move(response);
              // Lent, not copied: gRPC serializes the shared bodies
              // straight into its buffer. Copying each body into each
              // response and freeing it after the write was about a third
              // of the initial sync's CPU (docs/performance.md).
              State::LendBodies(self->response_, resources);
              self->response_resources_ = std::move(resources);
              self->grant_ = std::move(grant);
            }
            self->StartWrite(&self->response_);
          }
        });
  }

  void OnWriteDone(bool ok) override {
    // Still ours until writing_ is cleared below. Freed now rather than at
    // the next write: a thousand idle streams would each hold their last
    // response.
    std::optional<grpc::Status> finish;
    {
      // Returned to the budget after unlocking: that may start other
      // streams' writes, which take their own locks.
      WriteBudget::Grant done;
      std::vector<ResourcePtr> lent;
      absl::MutexLock lock(&mu_);
      State::ReturnBodies(response_);
      response_ = Response();
      lent = std::move(response_resources_);
      done = std::move(grant_);
      writing_ = false;
      if (finishing_ && pending_finish_.has_value()) finish = std::exchange(pending_finish_, {});
    }
    if (finish.has_value()) {
      this->Finish(*finish);
      return;
    }
    if (!ok) return;       // the call broke; OnReadDone(false) follows
    TakeLatestSnapshot();  // a wake during the write asked for no turn
    MaybeWrite();
  }

  // Finishes the call once, after the write in flight (if any) completes.
  void FinishWith(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
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
    std::shared_ptr<WatchHandle> watch;
    {
      absl::MutexLock lock(&mu_);
      watch = std::move(watch_);
    }
    watch.reset();  // waits for a wake in progress; none come after
    admission_.reset();
    if (stream_id_.has_value()) deps_.registry.CloseStream(*stream_id_);
    auto last_reference = std::move(self_);  // frees this reactor on return
  }

  grpc::CallbackServerContext* const context_;
  const StreamContext deps_;
  const std::string kind_;  // for logs: "ads", "delta ads", "cds", ...
  const bool ads_;
  // Owns the reactor until OnDone; only OnDone touches it after Start.
  std::shared_ptr<StreamReactor> self_;
  // Set once in Start, before anything runs concurrently: what wakes,
  // turns and write grants hold.
  std::weak_ptr<StreamReactor> weak_self_;

  // Touched only by the read path (one read at a time) and OnDone.
  google::protobuf::Arena request_arena_{RequestArenaOptions()};
  Request* request_ = nullptr;  // the request being read, on request_arena_
  NodeInfo node_;
  std::optional<NodeStatusRegistry::StreamId> stream_id_;
  std::unique_ptr<StreamDrain::Admission> admission_;

  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_);
  // Shared with a turn reading Latest() unlocked; OnDone drops it.
  std::shared_ptr<WatchHandle> watch_ ABSL_GUARDED_BY(mu_);
  bool snapshot_changed_ ABSL_GUARDED_BY(mu_) = false;
  bool turn_requested_ ABSL_GUARDED_BY(mu_) = false;
  // The write in flight's message, the resources whose bodies it borrows
  // and its budget grant, owned by it while writing_.
  Response response_;
  std::vector<ResourcePtr> response_resources_;
  WriteBudget::Grant grant_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mu_);
};

}  // namespace propsy::xds
