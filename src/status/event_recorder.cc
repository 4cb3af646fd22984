#include "status/event_recorder.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include "common/content_hash.h"
#include "model/json_fields.h"
#include "status/desired_status.h"

namespace propsy::status {
namespace {

constexpr char kReportingController[] = "propsy.seznam.cz/propsy";
constexpr size_t kMaxNote = 1024;  // the API server's limit for a note

std::vector<std::pair<std::string, std::string>> JsonHeaders() {
  return {{"Content-Type", "application/json"}};
}

std::string Describe(const absl::StatusOr<kube::HttpResponse>& response) {
  if (!response.ok()) return std::string(response.status().message());
  return fmt::format("HTTP {}: {}", response->status, response->body.substr(0, 300));
}

}  // namespace

EventRecorder::EventRecorder(kube::HttpTransport& transport, Clock& clock,
                             std::string reporting_instance)
    : transport_(transport), clock_(clock), reporting_instance_(std::move(reporting_instance)) {}

std::string EventRecorder::EventName(const EventSubject& subject, const std::string& reason) {
  ContentHasher hasher;
  hasher.Add(subject.uid);
  hasher.Add(subject.key.ToString());
  hasher.Add(reason);
  // Object names are at most 253 characters; the suffix keeps the Event's
  // name within that.
  std::string name = subject.key.name.substr(0, 253 - 17);
  return fmt::format("{}.{}", name, hasher.Finish().substr(0, 16));
}

std::string EventRecorder::EventsPath(const std::string& namespace_name) const {
  return fmt::format("/apis/events.k8s.io/v1/namespaces/{}/events", namespace_name);
}

void EventRecorder::Warn(const EventSubject& subject, const std::string& action,
                         const std::string& reason, const std::string& note) {
  const std::string name = EventName(subject, reason);
  const std::pair<std::string, std::string> id{subject.key.namespace_name, name};
  auto known = counts_.find(id);
  if (known != counts_.end()) {
    if (Bump(subject, name, known->second + 1)) {
      ++known->second;
      return;
    }
    counts_.erase(known);  // expired: start a new one
  }
  if (Create(subject, name, action, reason, note)) counts_[id] = 1;
}

bool EventRecorder::Create(const EventSubject& subject, const std::string& name,
                           const std::string& action, const std::string& reason,
                           const std::string& note) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  const std::string now = Rfc3339Micro(clock_.WallNow());
  const std::string kept_note = note.substr(0, kMaxNote);
  out.StartObject();
  out.Key("apiVersion");
  out.String("events.k8s.io/v1");
  out.Key("kind");
  out.String("Event");
  out.Key("metadata");
  out.StartObject();
  out.Key("name");
  out.String(name.c_str());
  out.Key("namespace");
  out.String(subject.key.namespace_name.c_str());
  out.EndObject();
  out.Key("eventTime");
  out.String(now.c_str());
  out.Key("reportingController");
  out.String(kReportingController);
  out.Key("reportingInstance");
  out.String(reporting_instance_.c_str());
  out.Key("action");
  out.String(action.c_str());
  out.Key("reason");
  out.String(reason.c_str());
  out.Key("note");
  out.String(kept_note.c_str(), static_cast<rapidjson::SizeType>(kept_note.size()));
  out.Key("type");
  out.String("Warning");
  out.Key("regarding");
  out.StartObject();
  out.Key("apiVersion");
  out.String("propsy.seznam.cz/v1");
  out.Key("kind");
  out.String("ProPsyService");
  out.Key("namespace");
  out.String(subject.key.namespace_name.c_str());
  out.Key("name");
  out.String(subject.key.name.c_str());
  out.Key("uid");
  out.String(subject.uid.c_str());
  out.Key("resourceVersion");
  out.String(subject.resource_version.c_str());
  out.EndObject();
  out.EndObject();
  absl::StatusOr<kube::HttpResponse> created =
      transport_.Send({.method = "POST",
                       .path = EventsPath(subject.key.namespace_name),
                       .headers = JsonHeaders(),
                       .body = buffer.GetString(),
                       .timeout = std::chrono::seconds(10)});
  if (created.ok() && created->status / 100 == 2) {
    ++created_;
    return true;
  }
  if (created.ok() && created->status == 409) {
    // Made by an earlier leader or an earlier run: this is a repeat.
    absl::StatusOr<kube::HttpResponse> got =
        transport_.Send({.method = "GET",
                         .path = EventsPath(subject.key.namespace_name) + "/" + name,
                         .headers = {},
                         .body = "",
                         .timeout = std::chrono::seconds(10)});
    int64_t count = 1;
    if (got.ok() && got->status == 200) {
      rapidjson::Document event;
      event.Parse(got->body.data(), got->body.size());
      const rapidjson::Value* series =
          event.IsObject() ? model::FindField(event, "series") : nullptr;
      const rapidjson::Value* series_count =
          series != nullptr ? model::FindField(*series, "count") : nullptr;
      if (series_count != nullptr && series_count->IsInt64()) count = series_count->GetInt64();
    }
    if (Bump(subject, name, count + 1)) {
      counts_[{subject.key.namespace_name, name}] = count + 1;
      return false;  // recorded as a repeat; Warn must not count it as created
    }
  }
  ++failed_;
  spdlog::warn("status: event {} about {}: {}", reason, subject.key.ToString(), Describe(created));
  return false;
}

bool EventRecorder::Bump(const EventSubject& subject, const std::string& name, int64_t count) {
  const std::string now = Rfc3339Micro(clock_.WallNow());
  const std::string body =
      fmt::format(R"({{"series":{{"count":{},"lastObservedTime":"{}"}}}})", count, now);
  absl::StatusOr<kube::HttpResponse> patched =
      transport_.Send({.method = "PATCH",
                       .path = EventsPath(subject.key.namespace_name) + "/" + name,
                       .headers = {{"Content-Type", "application/merge-patch+json"}},
                       .body = body,
                       .timeout = std::chrono::seconds(10)});
  if (patched.ok() && patched->status == 200) {
    ++bumped_;
    return true;
  }
  if (patched.ok() && patched->status == 404) return false;
  ++failed_;
  spdlog::warn("status: event series of {}: {}", subject.key.ToString(), Describe(patched));
  return true;  // keep the count; the next repeat tries again
}

}  // namespace propsy::status
