#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "common/clock.h"
#include "kube/http_transport.h"
#include "model/object_meta.h"

namespace propsy::status {

// What an Event is about: one ProPsyService object.
struct EventSubject {
  model::ObjectKey key;
  std::string uid;
  std::string resource_version;
};

// Warning Events (events.k8s.io/v1) about rejected ProPsyService objects,
// deduplicated like kubelet's: one Event per object and reason; a repeat
// bumps the Event's series (count, lastObservedTime) instead of creating
// another. The Event's name is derived from the object's uid and the reason,
// so a restarted or newly elected replica finds the Event an earlier one made
// (a create answered 409 turns into a series bump). Not thread-safe: the
// status writer's thread owns it.
class EventRecorder {
 public:
  EventRecorder(kube::HttpTransport& transport, Clock& clock, std::string reporting_instance);

  // Records one occurrence of `reason` (with `note`, at most 1 KiB kept)
  // about `subject`. Failures are logged and counted, never retried: an
  // Event is a hint for people, status is the record.
  void Warn(const EventSubject& subject, const std::string& action, const std::string& reason,
            const std::string& note);

  uint64_t created() const { return created_; }
  uint64_t bumped() const { return bumped_; }
  uint64_t failed() const { return failed_; }

  // The Event's name for an object and reason.
  static std::string EventName(const EventSubject& subject, const std::string& reason);

 private:
  bool Create(const EventSubject& subject, const std::string& name, const std::string& action,
              const std::string& reason, const std::string& note);
  // Sets the series count; false when the Event is gone (expired).
  bool Bump(const EventSubject& subject, const std::string& name, int64_t count);
  std::string EventsPath(const std::string& namespace_name) const;

  kube::HttpTransport& transport_;
  Clock& clock_;
  const std::string reporting_instance_;
  // Occurrences recorded per Event name (namespace/name).
  std::map<std::pair<std::string, std::string>, int64_t> counts_;
  uint64_t created_ = 0;
  uint64_t bumped_ = 0;
  uint64_t failed_ = 0;
};

}  // namespace propsy::status
