#pragma once

#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "xds/held_resources.h"
#include "xds/name_sets.h"
#include "xds/snapshot.h"
#include "xds/stream_events.h"

namespace propsy::xds {

// The incremental (delta) protocol for one stream, free of gRPC.
//
// Invariants, per resource type:
//  * The server tracks the version of every resource the client holds
//    (seeded from initial_resource_versions on the first request, so a
//    reconnecting client is sent only what changed) and sends a resource
//    only when that version differs from the snapshot's, except as below.
//  * The protocol's two MUSTs: every name in resource_names_subscribe of a
//    later request is answered (in resources, or in removed_resources when it
//    does not exist) even if the client holds that version already; and an
//    explicit name unsubscribed while a `*` subscription still covers it is
//    answered the same way, since the client may have dropped it. Only the
//    first request of a type is exempt: its initial_resource_versions say
//    what the client holds at that very moment.
//  * removed_resources lists resources the client holds that left the
//    snapshot, and explicitly subscribed names that do not exist (once,
//    unless subscribed again).
//  * At most one response per type is in flight. Subscription changes are
//    applied whatever nonce a request carries; only the in-flight nonce ACKs
//    or NACKs. A NACKed resource version is not sent again unless the client
//    subscribes to it again.
//  * On ADS, types go out in ResourceType order and removals are held back
//    until every later type has caught up (reverse order for removals); the
//    walk is PickNextResponse (response_order.h), shared with SotW.
//  * Warming (warming.h): on ADS, a Cluster response that adds or changes a
//    cluster makes that cluster's load assignment due again (answered like
//    the MUSTs above) when the client holds it: the new cluster warms until
//    it gets it, and Envoy asks for nothing new (it is subscribed already).
//  * A type ProPsy does not serve (a well-formed type URL that is not one of
//    ResourceType's, or the type of an unserved per-type service) has no
//    resources: subscribed names are listed in removed_resources, a wildcard
//    subscription gets one empty response, and such types go out before the
//    served ones. At most kMaxUnservedTypes of them per stream.
class DeltaStreamState {
 public:
  using Request = envoy::service::discovery::v3::DeltaDiscoveryRequest;
  using Response = envoy::service::discovery::v3::DeltaDiscoveryResponse;

  static constexpr size_t kMaxUnservedTypes = 16;

  // `scope`: every type (ADS, std::nullopt) or the one type of a per-type
  // service. `name_sets`, when given, shares subscriptions with other streams.
  explicit DeltaStreamState(StreamScope scope, NameSetInterner* name_sets = nullptr);

  // Returns an error (for the stream's status) on a request that is not valid
  // on this stream: a missing or malformed type URL on ADS, a foreign one on
  // a per-type service, or one unserved type too many.
  absl::StatusOr<RequestEvent> OnRequest(const Request& request);
  void SetSnapshot(SnapshotPtr snapshot);
  // Without the resources (the summary lists them): the caller adds them
  // (LendBodies; AttachBodies copies) when the write can start, so a
  // response waiting for its turn holds no bodies.
  std::optional<Response> NextResponse(SentSummary* summary);
  static void AttachBodies(Response& response, const std::vector<ResourcePtr>& resources);
  // The same without copying: the response points at the shared bodies.
  // The caller keeps `resources` alive and calls ReturnBodies before the
  // response is destroyed, cleared or reused (StreamReactor does both).
  static void LendBodies(Response& response, const std::vector<ResourcePtr>& resources);
  static void ReturnBodies(Response& response);

 private:
  struct TypeState {
    std::optional<ResourceType> served;  // nullopt: a type ProPsy does not serve
    std::string unserved_url;            // that type's URL
    bool requested = false;
    bool wildcard = false;
    SharedNameSet names;                        // explicit subscriptions; never null
    HeldResources held;                         // what the client holds (or reported)
    std::map<std::string, std::string> nacked;  // name -> rejected version
    std::set<std::string> told_absent;          // reported as not existing
    // Names the next response must carry whatever the client holds (the two
    // MUSTs above, and load assignments of clusters just added or changed).
    // Usually empty.
    std::set<std::string> answer_anyway;
    bool awaiting_ack = false;
    std::string sent_nonce;
    std::string sent_version;  // system version of the in-flight response
    // Each resource of the in-flight response with what the client held of
    // that name before (null: nothing), restored if the response is NACKed.
    std::vector<std::pair<ResourcePtr, ResourcePtr>> before_in_flight;
    // A first wildcard request is answered even when there is nothing to
    // send: the client waits for that answer to finish initializing.
    bool must_answer = false;
    // Bumped whenever the fields above change. With the snapshot's set it
    // names a state found to have nothing to send, so later calls skip the
    // comparison of every resource (most streams, most of the time).
    // One such record per value of hold_removals, which flips with the
    // state of later types.
    uint64_t epoch = 0;
    std::array<std::shared_ptr<const TypeResources>, 2> quiet_from;
    std::array<uint64_t, 2> quiet_epoch = {0, 0};
  };
  struct Plan {
    std::vector<ResourcePtr> updates;
    std::vector<std::string> removals;  // held resources that are gone
    std::vector<std::string> absent;    // subscribed names that never existed
    bool empty() const { return updates.empty() && removals.empty() && absent.empty(); }
  };

  // The state of the type `requested` names, made on its first request;
  // an error when it would be one unserved type too many.
  absl::StatusOr<TypeState*> StateOf(const RequestedType& requested);
  // Types in send order: the unserved ones (in the order they were first
  // asked for), then ResourceType's.
  size_t TypeCount() const { return unserved_.size() + types_.size(); }
  TypeState& AtSendPosition(size_t position);
  // What the snapshot has of the type (an unserved type has nothing).
  const std::shared_ptr<const TypeResources>& Available(const TypeState& state) const;
  // What the type would send now; nullopt when nothing.
  std::optional<Plan> PlanFor(TypeState& state, bool hold_removals);
  static Plan Compute(const TypeState& state, const TypeResources& available, bool hold_removals);

  const StreamScope scope_;
  NameSetInterner* name_sets_;  // may be null
  std::array<TypeState, kResourceTypeCount> types_;
  std::vector<TypeState> unserved_;
  SnapshotPtr snapshot_;
  uint64_t nonce_counter_ = 0;
};

}  // namespace propsy::xds
