#pragma once

// An in-memory Kubernetes API server for the status tests: objects by path
// with resourceVersions and uids, GET, POST (create, 409 when it exists), PUT
// (409 on a stale resourceVersion; ConfigMaps also unconditionally), DELETE
// (with a resourceVersion precondition), lists by label, and PATCH as a JSON merge patch (RFC
// 7386; metadata.resourceVersion in the patch is a precondition, as on a
// real server). A `/status` path patches only the object's status. Every
// request is recorded; an outage fails them all.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "kube/http_transport.h"

namespace propsy::status::testing {

class FakeApiServer : public kube::HttpTransport {
 public:
  // Stores `json` (an object with metadata.name) at `path`; returns its uid.
  std::string Put(const std::string& path, const std::string& json) {
    absl::MutexLock lock(&mu_);
    rapidjson::Document document;
    document.Parse(json.c_str());
    return StoreLocked(path, document, /*new_uid=*/true);
  }
  // The object at `path` as JSON, or "" when absent.
  std::string Get(const std::string& path) const {
    absl::MutexLock lock(&mu_);
    auto it = objects_.find(path);
    return it == objects_.end() ? "" : it->second;
  }
  bool Has(const std::string& path) const { return !Get(path).empty(); }
  void Delete(const std::string& path) {
    absl::MutexLock lock(&mu_);
    objects_.erase(path);
  }
  void SetOutage(bool outage) { outage_ = outage; }
  // Requests so far with this method whose path starts with `prefix`.
  size_t Count(const std::string& method, const std::string& prefix = "") const {
    absl::MutexLock lock(&mu_);
    size_t count = 0;
    for (const kube::HttpRequest& request : requests_) {
      if (request.method == method && request.path.starts_with(prefix)) ++count;
    }
    return count;
  }
  std::vector<kube::HttpRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  absl::StatusOr<kube::HttpResponse> Send(const kube::HttpRequest& request) override {
    absl::MutexLock lock(&mu_);
    requests_.push_back(request);
    if (outage_) return absl::UnavailableError("connection refused");
    if (request.method == "GET" && request.path.find('?') != std::string::npos) {
      return ListLocked(request.path);
    }
    if (request.method == "DELETE") {
      auto it = objects_.find(request.path);
      if (it == objects_.end()) return Answer(404, R"({"kind":"Status","code":404})");
      rapidjson::Document options;
      options.Parse(request.body.c_str());
      if (!options.HasParseError() && options.IsObject() && options.HasMember("preconditions")) {
        rapidjson::Document current;
        current.Parse(it->second.c_str());
        if (std::string(options["preconditions"]["resourceVersion"].GetString()) !=
            current["metadata"]["resourceVersion"].GetString()) {
          return Answer(409, R"({"reason":"Conflict"})");
        }
      }
      objects_.erase(it);
      return Answer(200, R"({"kind":"Status","status":"Success"})");
    }
    if (request.method == "GET") {
      auto it = objects_.find(request.path);
      if (it == objects_.end()) return Answer(404, R"({"kind":"Status","code":404})");
      return Answer(200, it->second);
    }
    rapidjson::Document body;
    body.Parse(request.body.c_str());
    if (body.HasParseError() || !body.IsObject()) return Answer(400, "bad body");
    if (request.method == "POST") {
      const std::string path = request.path + "/" + body["metadata"]["name"].GetString();
      if (objects_.contains(path)) return Answer(409, R"({"reason":"AlreadyExists"})");
      StoreLocked(path, body, true);
      return Answer(201, objects_[path]);
    }
    const bool status_only = request.path.ends_with("/status");
    const std::string path =
        status_only ? request.path.substr(0, request.path.size() - 7) : request.path;
    auto it = objects_.find(path);
    if (it == objects_.end()) return Answer(404, R"({"kind":"Status","code":404})");
    rapidjson::Document current;
    current.Parse(it->second.c_str());
    const std::string version = current["metadata"]["resourceVersion"].GetString();
    if (body.HasMember("metadata") && body["metadata"].HasMember("resourceVersion") &&
        std::string(body["metadata"]["resourceVersion"].GetString()) != version) {
      return Answer(409, R"({"reason":"Conflict"})");
    }
    if (request.method == "PUT") {
      // ConfigMaps, like most kinds, allow an unconditional update.
      if ((!body.HasMember("metadata") || !body["metadata"].HasMember("resourceVersion")) &&
          path.find("/configmaps/") == std::string::npos) {
        return Answer(422, "resourceVersion required");
      }
      body["metadata"].AddMember("uid",
                                 rapidjson::Value(current["metadata"]["uid"], body.GetAllocator()),
                                 body.GetAllocator());
      StoreLocked(path, body, false);
      return Answer(200, objects_[path]);
    }
    if (request.method == "PATCH") {
      if (status_only) {
        if (body.HasMember("status")) {
          if (current.HasMember("status")) {
            Merge(current["status"], body["status"], current.GetAllocator());
          } else {
            current.AddMember("status", rapidjson::Value(body["status"], current.GetAllocator()),
                              current.GetAllocator());
          }
        }
      } else {
        if (body.HasMember("metadata")) body["metadata"].RemoveMember("resourceVersion");
        Merge(current, body, current.GetAllocator());
      }
      StoreLocked(path, current, false);
      return Answer(200, objects_[path]);
    }
    return Answer(405, "method not allowed");
  }

  // Answers to list requests (a path with a query) are this status instead
  // (0: list).
  void SetListStatus(int status) { list_status_ = status; }

  absl::StatusOr<kube::HttpResponse> Stream(const kube::HttpRequest& request, const ChunkCallback&,
                                            const std::atomic<bool>&) override {
    return absl::UnimplementedError("no watches here: " + request.path);
  }
  std::string Describe() const override { return "fake-api"; }

 private:
  static absl::StatusOr<kube::HttpResponse> Answer(int status, std::string body) {
    return kube::HttpResponse{.status = status, .headers = {}, .body = std::move(body)};
  }
  // RFC 7386: objects merge member by member, null deletes, anything else
  // replaces.
  static void Merge(rapidjson::Value& target, const rapidjson::Value& patch,
                    rapidjson::Document::AllocatorType& allocator) {
    if (!patch.IsObject() || !target.IsObject()) {
      target.CopyFrom(patch, allocator);
      return;
    }
    for (auto member = patch.MemberBegin(); member != patch.MemberEnd(); ++member) {
      if (member->value.IsNull()) {
        target.RemoveMember(member->name);
        continue;
      }
      if (!target.HasMember(member->name)) {
        target.AddMember(rapidjson::Value(member->name, allocator),
                         rapidjson::Value(member->value, allocator), allocator);
      } else {
        Merge(target[member->name], member->value, allocator);
      }
    }
  }
  // A list of the objects directly under the path's collection, filtered
  // by a "labelSelector=KEY%3DVALUE" (with %2F for '/') if there is one.
  absl::StatusOr<kube::HttpResponse> ListLocked(const std::string& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (list_status_ != 0) return Answer(list_status_, R"({"kind":"Status","reason":"Forbidden"})");
    const std::string collection = path.substr(0, path.find('?')) + "/";
    std::string query = path.substr(path.find('?') + 1);
    std::string label_key;
    std::string label_value;
    if (query.starts_with("labelSelector=")) {
      std::string selector = query.substr(14);
      for (const auto& [escaped, plain] : {std::pair{"%2F", "/"}, std::pair{"%3D", "="}}) {
        for (size_t at = selector.find(escaped); at != std::string::npos;
             at = selector.find(escaped)) {
          selector.replace(at, 3, plain);
        }
      }
      label_key = selector.substr(0, selector.find('='));
      label_value = selector.substr(selector.find('=') + 1);
    }
    std::string items;
    for (const auto& [object_path, json] : objects_) {
      if (!object_path.starts_with(collection) ||
          object_path.find('/', collection.size()) != std::string::npos) {
        continue;
      }
      if (!label_key.empty()) {
        rapidjson::Document object;
        object.Parse(json.c_str());
        const rapidjson::Value& metadata = object["metadata"];
        if (!metadata.HasMember("labels") || !metadata["labels"].HasMember(label_key.c_str()) ||
            metadata["labels"][label_key.c_str()].GetString() != label_value) {
          continue;
        }
      }
      items += (items.empty() ? "" : ",") + json;
    }
    return Answer(200, R"({"kind":"List","metadata":{"resourceVersion":")" +
                           std::to_string(next_version_) + R"("},"items":[)" + items + "]}");
  }
  std::string StoreLocked(const std::string& path, rapidjson::Document& document, bool new_uid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto& allocator = document.GetAllocator();
    if (!document.HasMember("metadata")) {
      document.AddMember("metadata", rapidjson::Value(rapidjson::kObjectType), allocator);
    }
    rapidjson::Value& metadata = document["metadata"];
    const std::string version = std::to_string(++next_version_);
    metadata.RemoveMember("resourceVersion");
    metadata.AddMember("resourceVersion", rapidjson::Value(version.c_str(), allocator), allocator);
    if (new_uid) {
      const std::string uid = "uid-" + std::to_string(++next_uid_);
      metadata.RemoveMember("uid");
      metadata.AddMember("uid", rapidjson::Value(uid.c_str(), allocator), allocator);
    }
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    document.Accept(writer);
    objects_[path] = buffer.GetString();
    return metadata["uid"].GetString();
  }

  mutable absl::Mutex mu_;
  std::map<std::string, std::string> objects_ ABSL_GUARDED_BY(mu_);
  std::vector<kube::HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
  int64_t next_version_ ABSL_GUARDED_BY(mu_) = 100;
  int64_t next_uid_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> outage_{false};
  std::atomic<int> list_status_{0};
};

}  // namespace propsy::status::testing
