#pragma once

#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "kube/http_transport.h"
#include "kube/list_request.h"
#include "kube/watch_decoder.h"
#include "model/cluster_objects.h"
#include "model/object_meta.h"

namespace propsy::kube {

// One change a reflector hands to its sink: a complete list (upserts of
// everything listed, deletes of what the list no longer has) or one watch
// event. Pointers are valid during ObjectSink::Apply only.
struct ObjectBatch {
  model::ObjectKind kind = model::ObjectKind::kProPsyService;
  std::vector<const rapidjson::Value*> upserts;
  std::vector<model::ObjectKey> deletes;
};

// Where a reflector puts what it sees; the reflector does not know what the
// kinds mean. Called from the reflector's thread; a sink shared by several
// reflectors must lock.
class ObjectSink {
 public:
  virtual ~ObjectSink() = default;
  // Applies `batch` as one change: the upserts in order, then the deletes.
  // Returns one status per upsert, in order: the decode problem of that
  // object (ok when it decoded cleanly).
  virtual std::vector<absl::Status> Apply(const ObjectBatch& batch) = 0;
  // The reflector's Stats() changed in a way a reader may care about
  // (synced, connected or not, a decode error). Default: nothing.
  virtual void StateChanged() {}
};

struct ReflectorOptions {
  // Collection path, cluster-wide ("/apis/propsy.seznam.cz/v1/propsyservices")
  // or namespaced ("/api/v1/namespaces/shop/secrets").
  std::string collection_path;
  // The kind of the collection's items (list items of built-in kinds come
  // without apiVersion/kind).
  model::ObjectKind kind = model::ObjectKind::kProPsyService;
  // E.g. "type=kubernetes.io/tls" for Secrets, so no other Secret is ever
  // read. Objects that stop matching arrive as DELETED.
  std::string field_selector;
  std::string label_selector;
  int page_size = 500;
  // Each watch asks the server to end it after a random time in this range
  // (timeoutSeconds), so many clients do not reconnect in step.
  std::chrono::seconds min_watch_timeout{std::chrono::minutes(5)};
  std::chrono::seconds max_watch_timeout{std::chrono::minutes(10)};
  // Backoff after failures: a random delay in [0, current] ("full jitter");
  // current starts at `initial_backoff` and doubles up to `max_backoff`.
  // A Retry-After header replaces the random delay (capped at max_backoff).
  std::chrono::milliseconds initial_backoff{800};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(30)};
  // While the API server does not answer at all (transport failures), the
  // delay is also capped here: a refused connection costs it nothing, and
  // ProPsy must see changes within seconds of the server's return. Servers
  // that answer 429/5xx get the full backoff.
  std::chrono::milliseconds max_unreachable_backoff{std::chrono::seconds(2)};
  // A watch that ends cleanly sooner than this without any event counts as
  // a failure of sorts: it is retried after a backoff, not at once.
  std::chrono::milliseconds min_clean_watch{std::chrono::seconds(1)};
  std::chrono::milliseconds list_timeout{std::chrono::minutes(2)};
  size_t max_list_body_bytes = size_t{1} << 30;
  size_t max_watch_line_bytes = WatchDecoder::kDefaultMaxLineBytes;
  // Recent decode problems kept for Stats().
  size_t max_recent_problems = 16;
};

// Randomness, injectable so tests are deterministic (time comes from the
// injected Clock).
struct ReflectorHooks {
  // A uniformly distributed integer in [lo, hi]. Null: a per-reflector
  // Mersenne twister seeded from std::random_device.
  std::function<int64_t(int64_t lo, int64_t hi)> random;
};

// What a reflector has done, for /metrics, /debug and staleness.
struct ReflectorStats {
  std::string collection;  // the collection path
  bool synced = false;     // a complete LIST was applied at least once
  int64_t lists = 0;       // complete LISTs applied (all pages)
  int64_t relists = 0;     // of which after the first (410, or no version to resume)
  int64_t watches_started = 0;
  int64_t watch_restarts = 0;  // watches that ended and were followed by another
  int64_t decode_errors = 0;   // malformed lines and objects skipped or kept last-good
  std::string last_error;      // the newest failure or decode problem; never cleared
  // The last exchange with the API server succeeded (a LIST completed, a
  // watch delivered bytes or ended cleanly). False until the first one.
  bool connected = false;
  std::chrono::system_clock::time_point connected_since;     // when connected
  std::chrono::system_clock::time_point disconnected_since;  // when !connected (start time first)
  std::string resource_version;                              // to resume watching from
  // Malformed lines and objects skipped without reaching the sink, newest
  // last; a complete LIST clears them.
  std::vector<std::string> recent_decode_errors;
};

// Keeps one Kubernetes collection mirrored into an ObjectSink, with
// client-go's list/watch semantics:
//
//   LIST (pages of `page_size`; an expired continue token -> one full LIST)
//     -> sink gets every listed object, and deletes of the objects this
//        reflector had put before that the list no longer has
//   WATCH ?resourceVersion=<list RV>&allowWatchBookmarks=true&timeoutSeconds=rand
//     ADDED/MODIFIED -> upsert; DELETED -> delete; BOOKMARK -> version only
//     clean end of the stream -> WATCH again from the last version (no LIST)
//     410 / Expired / Gone (HTTP or ERROR event) -> LIST again
//     transport error, 429, 5xx -> backoff, then WATCH from the last version
//     other failures -> backoff, then LIST again
//
// Invariants:
// - The sink only sees objects of complete lists and of watch events newer
//   than the list, in the API server's order; a relist deletes only objects
//   that are really gone (never "delete all, re-add").
// - Malformed objects and watch lines are skipped (or, for objects, kept
//   last-good by the sink), logged with the collection and the object name
//   when readable, and counted; the watch keeps going.
// - One thread per reflector; Stop() (or the destructor) returns within
//   about a second: waits are interruptible and transports check the cancel
//   flag at least every 200 ms.
// - Backoff waits and watch durations run on the injected clock; Stats()
//   times are its wall time.
class Reflector {
 public:
  // `sink` and `clock` must outlive the reflector.
  Reflector(std::shared_ptr<HttpTransport> transport, ReflectorOptions options, ObjectSink& sink,
            Clock& clock, ReflectorHooks hooks = {});
  ~Reflector();
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  // Starts the thread; once only.
  void Start();
  // Asks the thread to stop without waiting (to stop many at once).
  void RequestStop();
  // RequestStop() and waits for the thread. Idempotent.
  void Stop();

  bool HasSynced() const { return synced_.load(); }
  ReflectorStats Stats() const;
  const ReflectorOptions& options() const { return options_; }
  // "https://10.0.0.1:6443/api/v1/secrets", for logs.
  std::string Describe() const;

 private:
  enum class WatchEnd { kClosed, kQuickClose, kExpired, kRetry, kRelist, kCancelled };

  void Run();
  // Lists and applies the collection; false (failure recorded) on failure.
  bool ListAndApply(std::optional<RequestFailure>* failure);
  WatchEnd Watch(std::optional<RequestFailure>* failure);
  // Applies one decoded event; false when the watch must end (ERROR event).
  bool HandleEvent(const WatchEvent& event, WatchEnd* end, std::optional<RequestFailure>* failure);
  // Sleeps the next backoff (or the failure's Retry-After); false when
  // stopped. `failure` may be null (a pause without a failed request).
  bool Backoff(const RequestFailure* failure);
  bool SleepFor(std::chrono::milliseconds delay);
  int64_t Random(int64_t lo, int64_t hi);

  void MarkConnected();
  void MarkFailed(const std::string& message);
  // Counts and logs a decode problem. `skipped`: nothing reached the sink
  // (a malformed line, an unnamed object), so it is kept among the recent
  // problems; otherwise the sink holds the object with its problem.
  void RecordDecodeError(const std::string& message, bool skipped);
  // The object's "namespace/name" if readable, for messages.
  static std::string NameOf(const rapidjson::Value& object);

  const std::shared_ptr<HttpTransport> transport_;
  const ReflectorOptions options_;
  ObjectSink& sink_;
  Clock& clock_;
  ReflectorHooks hooks_;
  std::mt19937_64 rng_;  // used only when hooks_.random is null; thread-owned

  std::atomic<bool> cancelled_{false};
  std::atomic<bool> synced_{false};
  std::thread thread_;

  // Owned by the reflector thread.
  std::string resource_version_;
  std::set<model::ObjectKey> known_;  // keys this reflector has put in the sink
  std::chrono::milliseconds backoff_;

  // Also what a backoff wait releases; Stop() takes it so the wait wakes.
  mutable absl::Mutex mu_;
  ReflectorStats stats_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> recent_problems_ ABSL_GUARDED_BY(mu_);
};

}  // namespace propsy::kube
