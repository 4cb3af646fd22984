#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "envoy/config/core/v3/base.pb.h"
#include "envoy/service/status/v3/csds.pb.h"
#include "xds/config_watcher.h"
#include "xds/stream_events.h"
#include "xds/unserved_types.h"

namespace propsy::xds {

// What every connected stream was sent and how its client answered, per
// resource. Feeds Client Status Discovery (CSDS), /debug and metrics.
// Thread-safe; streams report, readers take copies. Times are the injected
// clock's wall time.
class NodeStatusRegistry {
 public:
  using StreamId = uint64_t;
  using WallTime = std::chrono::system_clock::time_point;

  explicit NodeStatusRegistry(const Clock& clock) : clock_(clock) {}

  // Since start, over all streams.
  struct TypeTotals {
    uint64_t responses = 0;
    uint64_t resources = 0;  // resources carried by those responses
    uint64_t acks = 0;
    uint64_t nacks = 0;
  };
  struct Totals {
    uint64_t responses = 0;
    uint64_t resources = 0;
    uint64_t acks = 0;
    uint64_t nacks = 0;
    uint64_t identity_rejections = 0;
    std::array<TypeTotals, kResourceTypeCount> by_type{};  // by Index(ResourceType)
  };

  // Per stream and type: the last NACK, for /debug.
  struct LastNack {
    std::string version;
    std::string error;
    WallTime at;
  };

  StreamId OpenStream(const envoy::config::core::v3::Node& node, std::string_view kind);
  void CloseStream(StreamId stream);
  void OnSent(StreamId stream, const SentSummary& sent);
  void OnRequest(StreamId stream, const RequestEvent& event);
  void OnIdentityRejected();

  // CSDS: one ClientConfig per connected node matching `request` (all when
  // it has no node matchers).
  envoy::service::status::v3::ClientStatusResponse ClientStatus(
      const envoy::service::status::v3::ClientStatusRequest& request) const;

  Totals totals() const;
  size_t ConnectedStreams() const;
  // Distinct node ids among the connected streams.
  size_t ConnectedNodes() const;
  // Requests of types ProPsy does not serve, by type URL. They are not part
  // of the totals above: their answers are empty sets, not configuration.
  std::map<std::string, uint64_t> UnservedRequestsByType() const {
    return unserved_.RequestsByType();
  }

  // What one stream's client holds and how it answered, as the status
  // writer reads it (the Programmed condition). A copy: the writer works on
  // it without holding the registry's lock.
  enum class Answer { kPending, kAcked, kNacked };
  struct HeldAnswer {
    ResourcePtr resource;
    Answer answer = Answer::kPending;
    std::string error;  // the NACK's message
  };
  struct StreamAnswers {
    NodeInfo node;  // uses_ads: the stream is ADS ("ads" or "delta ads")
    std::array<bool, kResourceTypeCount> requested{};              // types the client asked for
    std::array<std::vector<HeldAnswer>, kResourceTypeCount> held;  // sorted by name
    // Per type, until its first response on this stream: the set version a
    // reconnecting SotW client said it holds (then nothing is sent while
    // it is current). Delta clients' claims are in `held`, ACKed.
    std::array<std::string, kResourceTypeCount> claimed_set_version;
    std::array<bool, kResourceTypeCount> sent_any{};
  };
  std::vector<StreamAnswers> Answers() const;
  // Grows with every change Answers() would show (streams opened or closed,
  // responses sent, requests, ACKs, NACKs), so a reader polls cheaply.
  uint64_t answers_version() const;

 private:
  enum class State { kSent, kAcked, kNacked };
  // One response and how its client answered; the resources it carried
  // share this record instead of each keeping its own.
  struct Batch {
    State state = State::kSent;
    std::string error;
    WallTime updated;
    size_t uses = 0;  // held resources last carried by it
  };
  struct HeldResource {
    ResourcePtr resource;
    uint64_t batch = 0;
  };
  // A few words per resource: a thousand nodes of hundreds of resources
  // each are tracked in megabytes, not hundreds of them.
  struct TypeStatus {
    std::vector<HeldResource> held;     // what the client holds or was sent, by name
    std::map<uint64_t, Batch> batches;  // those `held` refers to
    std::optional<uint64_t> in_flight;  // batch of the unanswered response
    uint64_t next_batch = 1;
    std::string sent_version;
    std::optional<LastNack> last_nack;
    // A reconnecting SotW client's version of the set it holds; counts
    // until the first response of the type on this stream.
    std::string claimed_set_version;
    bool sent_any = false;
  };
  struct StreamStatus {
    envoy::config::core::v3::Node node;
    std::string kind;
    std::array<bool, kResourceTypeCount> requested{};
    std::array<TypeStatus, kResourceTypeCount> types;
  };

  const Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<StreamId, StreamStatus> streams_ ABSL_GUARDED_BY(mu_);
  StreamId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  Totals totals_ ABSL_GUARDED_BY(mu_);
  uint64_t answers_version_ ABSL_GUARDED_BY(mu_) = 0;
  UnservedTypes unserved_;
};

}  // namespace propsy::xds
