#pragma once

#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "xds/name_sets.h"
#include "xds/snapshot.h"
#include "xds/stream_events.h"

namespace propsy::xds {

// The state-of-the-world protocol for one stream, free of gRPC so it can be
// tested directly. The owner feeds requests and snapshots in and asks for the
// next response to write whenever the wire is free.
//
// Invariants, per resource type:
//  * A response is sent only when the set the client should hold differs from
//    what was last sent, and never while a response is unanswered: at most one
//    response per type is in flight, so a slow client costs one pending update
//    (the newest snapshot), not a queue.
//  * version_info is the content hash of the set; each response has a fresh
//    nonce. A request whose nonce is not the latest one sent is stale and
//    ignored, subscription changes included (the client will resend them).
//  * A NACKed version is not sent again; the client stays on its last good
//    version until the configuration changes.
//  * Listeners and clusters go out as the complete set every time (the
//    protocol requires it). Other types carry only the resources the client
//    does not hold yet in the version it should have: an endpoint change
//    sends one load assignment, not all of them. After a NACK the next
//    response is complete again.
//  * On ADS, types go out in ResourceType order, and a resource removed from
//    the snapshot is kept in its type's set until every later type has caught
//    up, so removals happen in reverse order (make before break); the walk is
//    PickNextResponse (response_order.h), shared with the delta protocol.
//  * Warming (warming.h): on ADS, a Cluster response that adds or changes a
//    cluster makes that cluster's load assignment due again, sent in the next
//    endpoint response even when the client holds it unchanged (with the
//    set's version, which may be the one it holds).
//  * A type ProPsy does not serve (a well-formed type URL that is not one of
//    ResourceType's, or the type of an unserved per-type service) is an empty
//    set (UnservedSotwSet: for the runtime, an empty layer per named layer):
//    it is answered once (a version and a fresh nonce), ACKs and NACKs count
//    as for any type, and it goes out before the served types. At most
//    kMaxUnservedTypes such types per stream.
class SotwStreamState {
 public:
  using Request = envoy::service::discovery::v3::DiscoveryRequest;
  using Response = envoy::service::discovery::v3::DiscoveryResponse;

  static constexpr size_t kMaxUnservedTypes = 16;

  // `scope`: every type (ADS, std::nullopt) or the one type of a per-type
  // service. `name_sets`, when given, shares subscriptions with other streams.
  explicit SotwStreamState(StreamScope scope, NameSetInterner* name_sets = nullptr);

  // Returns an error (for the stream's status) on a request that is not valid
  // on this stream: a missing or malformed type URL on ADS, a foreign one on
  // a per-type service, or one unserved type too many.
  absl::StatusOr<RequestEvent> OnRequest(const Request& request);
  void SetSnapshot(SnapshotPtr snapshot);

  // The next response to write, if any is due. Records it as sent.
  // Without the resources' bodies (the summary lists them): the caller adds
  // them (LendBodies; AttachBodies copies) when the write can start, so a
  // response waiting for its turn holds no bodies.
  std::optional<Response> NextResponse(SentSummary* summary);
  static void AttachBodies(Response& response, const std::vector<ResourcePtr>& resources);
  // The same without copying: the response points at the shared bodies.
  // The caller keeps `resources` alive and calls ReturnBodies before the
  // response is destroyed, cleared or reused (StreamReactor does both).
  static void LendBodies(Response& response, const std::vector<ResourcePtr>& resources);
  static void ReturnBodies(Response& response);

 private:
  using ResourceMap = std::map<std::string, ResourcePtr>;
  // Usually an alias of a snapshot's own map: most streams hold exactly a
  // type's whole set, which is then never copied per stream.
  using SharedResourceMap = std::shared_ptr<const ResourceMap>;
  struct Plan {
    SharedResourceMap resources;
    std::string version;
  };
  struct TypeState {
    std::optional<ResourceType> served;  // nullopt: a type ProPsy does not serve
    std::string unserved_url;            // that type's URL
    // What an unserved type holds for the current subscription.
    std::shared_ptr<const TypeResources> unserved_set;
    bool requested = false;
    bool wildcard = false;
    SharedNameSet names;         // never null
    uint64_t names_version = 0;  // bumped when `names` or `wildcard` change
    std::string sent_version;
    std::string sent_nonce;
    std::string nacked_version;
    bool awaiting_ack = false;
    // What the client should hold after the last response.
    SharedResourceMap sent;
    bool resend_all = false;  // the last response was NACKed
    // Names the next response carries even if the client holds them as they
    // are: load assignments of clusters that were just added or changed
    // (warming). Usually empty.
    std::set<std::string> rewarm;
    // The last plan without kept removals, and what it was made from.
    std::shared_ptr<const TypeResources> planned_from;
    uint64_t planned_names_version = 0;
    Plan planned;
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
  // What the client should hold of the type now; `keep_removed` keeps what
  // the snapshot dropped (removals wait for later types on ADS).
  Plan Desired(TypeState& state, bool keep_removed);
  static Plan PlanFor(const TypeState& state,
                      const std::shared_ptr<const TypeResources>& available);

  const StreamScope scope_;
  NameSetInterner* name_sets_;  // may be null
  std::array<TypeState, kResourceTypeCount> types_;
  std::vector<TypeState> unserved_;
  SnapshotPtr snapshot_;
  uint64_t nonce_counter_ = 0;
};

}  // namespace propsy::xds
