#include "status/lease_elector.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>

#include "model/json_fields.h"
#include "status/desired_status.h"

namespace propsy::status {
namespace {

std::string Text(const rapidjson::Value& object, std::string_view name) {
  const rapidjson::Value* value = model::FindField(object, name);
  return value != nullptr && value->IsString() ? std::string(model::StringOf(*value)) : "";
}

int64_t Number(const rapidjson::Value& object, std::string_view name) {
  const rapidjson::Value* value = model::FindField(object, name);
  return value != nullptr && value->IsInt64() ? value->GetInt64() : 0;
}

std::string Describe(const absl::StatusOr<kube::HttpResponse>& response) {
  if (!response.ok()) return std::string(response.status().message());
  return fmt::format("HTTP {}: {}", response->status, response->body.substr(0, 300));
}

}  // namespace

std::string DefaultLeaseIdentity() {
  std::string name;
  if (const char* pod = std::getenv("POD_NAME"); pod != nullptr && *pod != '\0') {
    name = pod;
  } else {
    char host[256] = {};
    name = gethostname(host, sizeof(host) - 1) == 0 ? host : "propsy";
  }
  return fmt::format("{}_{}", name, getpid());
}

LeaseElector::LeaseElector(kube::HttpTransport& transport, Clock& clock,
                           LeaseElectorOptions options)
    : transport_(transport), clock_(clock), options_(std::move(options)) {}

LeaseElector::~LeaseElector() { Stop(); }

void LeaseElector::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LeaseElector::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  Release();
}

bool LeaseElector::IsLeader() const {
  absl::MutexLock lock(&mu_);
  return leader_ && clock_.Now() < last_renew_ + options_.renew_deadline;
}

uint64_t LeaseElector::acquisitions() const {
  absl::MutexLock lock(&mu_);
  return acquisitions_;
}

void LeaseElector::SetLeader(bool leader, Clock::TimePoint renewed) {
  absl::MutexLock lock(&mu_);
  if (leader) {
    if (!leader_) {
      ++acquisitions_;
      spdlog::info("status: config cluster {}: acquired lease {}/{} as {}", options_.cluster,
                   options_.namespace_name, options_.name, options_.identity);
    }
    leader_ = true;
    last_renew_ = renewed;
    return;
  }
  if (leader_ && clock_.Now() >= last_renew_ + options_.renew_deadline) {
    leader_ = false;
    spdlog::warn(
        "status: config cluster {}: lost lease {}/{} (not renewed within {} s); status writes "
        "stop",
        options_.cluster, options_.namespace_name, options_.name, options_.renew_deadline.count());
  }
}

void LeaseElector::Run() {
  while (true) {
    const Clock::TimePoint attempt = clock_.Now();
    const bool held = TryAcquireOrRenew();
    SetLeader(held, attempt);
    absl::MutexLock lock(&mu_);
    if (clock_.AwaitUntil(mu_, absl::Condition(&stopping_), attempt + options_.retry_period)) {
      return;
    }
  }
}

std::string LeaseElector::LeasePath() const {
  return fmt::format("/apis/coordination.k8s.io/v1/namespaces/{}/leases/{}",
                     options_.namespace_name, options_.name);
}

std::string LeaseElector::LeaseBody(const Record& record,
                                    const std::string& resource_version) const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  out.StartObject();
  out.Key("apiVersion");
  out.String("coordination.k8s.io/v1");
  out.Key("kind");
  out.String("Lease");
  out.Key("metadata");
  out.StartObject();
  out.Key("name");
  out.String(options_.name.c_str());
  out.Key("namespace");
  out.String(options_.namespace_name.c_str());
  if (!resource_version.empty()) {
    out.Key("resourceVersion");
    out.String(resource_version.c_str());
  }
  out.EndObject();
  out.Key("spec");
  out.StartObject();
  out.Key("holderIdentity");
  out.String(record.holder.c_str());
  out.Key("leaseDurationSeconds");
  out.Int64(record.duration_seconds);
  if (!record.acquire_time.empty()) {
    out.Key("acquireTime");
    out.String(record.acquire_time.c_str());
  }
  if (!record.renew_time.empty()) {
    out.Key("renewTime");
    out.String(record.renew_time.c_str());
  }
  out.Key("leaseTransitions");
  out.Int64(record.transitions);
  out.EndObject();
  out.EndObject();
  return buffer.GetString();
}

bool LeaseElector::TryAcquireOrRenew() {
  const std::string path = LeasePath();
  const std::string now = Rfc3339Micro(clock_.WallNow());
  const std::vector<std::pair<std::string, std::string>> json_headers{
      {"Content-Type", "application/json"}};
  absl::StatusOr<kube::HttpResponse> got = transport_.Send(
      {.method = "GET", .path = path, .headers = {}, .body = "", .timeout = options_.retry_period});
  if (got.ok() && got->status == 404) {
    Record mine{.holder = options_.identity,
                .duration_seconds = options_.lease_duration.count(),
                .acquire_time = now,
                .renew_time = now,
                .transitions = 0};
    const std::string collection = path.substr(0, path.rfind('/'));
    absl::StatusOr<kube::HttpResponse> created =
        transport_.Send({.method = "POST",
                         .path = collection,
                         .headers = json_headers,
                         .body = LeaseBody(mine, ""),
                         .timeout = options_.retry_period});
    if (created.ok() && created->status / 100 == 2) {
      absl::MutexLock lock(&mu_);
      observed_ = mine;
      observed_at_ = clock_.Now();
      return true;
    }
    if (!created.ok() || created->status != 409) {
      spdlog::warn("status: config cluster {}: creating lease {}: {}", options_.cluster, path,
                   Describe(created));
    }
    return false;
  }
  if (!got.ok() || got->status != 200) {
    spdlog::warn("status: config cluster {}: reading lease {}: {}", options_.cluster, path,
                 Describe(got));
    return false;
  }
  rapidjson::Document lease;
  lease.Parse(got->body.data(), got->body.size());
  if (lease.HasParseError() || !lease.IsObject()) {
    spdlog::warn("status: config cluster {}: lease {} is not JSON", options_.cluster, path);
    return false;
  }
  static const rapidjson::Value kEmpty(rapidjson::kObjectType);
  const rapidjson::Value* spec = model::FindField(lease, "spec");
  const rapidjson::Value* metadata = model::FindField(lease, "metadata");
  const rapidjson::Value& spec_value = spec != nullptr ? *spec : kEmpty;
  Record record{.holder = Text(spec_value, "holderIdentity"),
                .duration_seconds = Number(spec_value, "leaseDurationSeconds"),
                .acquire_time = Text(spec_value, "acquireTime"),
                .renew_time = Text(spec_value, "renewTime"),
                .transitions = Number(spec_value, "leaseTransitions")};
  const std::string version = metadata != nullptr ? Text(*metadata, "resourceVersion") : "";
  const Clock::TimePoint local_now = clock_.Now();
  {
    absl::MutexLock lock(&mu_);
    if (!(record == observed_)) {
      observed_ = record;
      observed_at_ = local_now;
    }
    observed_version_ = version;
    const auto duration = std::chrono::seconds(std::max<int64_t>(record.duration_seconds, 1));
    if (!record.holder.empty() && record.holder != options_.identity &&
        local_now < observed_at_ + duration) {
      // Someone else holds it and renews it: not leading, whatever the
      // renew deadline says.
      if (leader_) {
        leader_ = false;
        spdlog::warn("status: config cluster {}: lease {}/{} is held by {}; status writes stop",
                     options_.cluster, options_.namespace_name, options_.name, record.holder);
      }
      return false;
    }
  }
  const bool mine_already = record.holder == options_.identity;
  Record next{.holder = options_.identity,
              .duration_seconds = options_.lease_duration.count(),
              .acquire_time = mine_already ? record.acquire_time : now,
              .renew_time = now,
              .transitions = mine_already ? record.transitions : record.transitions + 1};
  absl::StatusOr<kube::HttpResponse> updated = transport_.Send({.method = "PUT",
                                                                .path = path,
                                                                .headers = json_headers,
                                                                .body = LeaseBody(next, version),
                                                                .timeout = options_.retry_period});
  if (updated.ok() && updated->status == 200) {
    absl::MutexLock lock(&mu_);
    observed_ = next;
    observed_at_ = clock_.Now();
    return true;
  }
  if (!updated.ok() || updated->status != 409) {
    spdlog::warn("status: config cluster {}: updating lease {}: {}", options_.cluster, path,
                 Describe(updated));
  }
  return false;
}

void LeaseElector::Release() {
  std::string version;
  Record record;
  {
    absl::MutexLock lock(&mu_);
    if (!leader_) return;
    leader_ = false;
    version = observed_version_;
    record = observed_;
  }
  if (record.holder != options_.identity) return;
  // client-go's release: no holder, a one-second duration.
  const std::string now = Rfc3339Micro(clock_.WallNow());
  Record released{.holder = "",
                  .duration_seconds = 1,
                  .acquire_time = now,
                  .renew_time = now,
                  .transitions = record.transitions};
  // The version of our last renewal is unknown here (the PUT answered it):
  // read the lease once more so the release is a proper update.
  absl::StatusOr<kube::HttpResponse> got = transport_.Send({.method = "GET",
                                                            .path = LeasePath(),
                                                            .headers = {},
                                                            .body = "",
                                                            .timeout = options_.retry_period});
  if (got.ok() && got->status == 200) {
    rapidjson::Document lease;
    lease.Parse(got->body.data(), got->body.size());
    const rapidjson::Value* spec = lease.IsObject() ? model::FindField(lease, "spec") : nullptr;
    const rapidjson::Value* metadata =
        lease.IsObject() ? model::FindField(lease, "metadata") : nullptr;
    if (spec == nullptr || Text(*spec, "holderIdentity") != options_.identity) return;
    version = metadata != nullptr ? Text(*metadata, "resourceVersion") : version;
  }
  absl::StatusOr<kube::HttpResponse> updated =
      transport_.Send({.method = "PUT",
                       .path = LeasePath(),
                       .headers = {{"Content-Type", "application/json"}},
                       .body = LeaseBody(released, version),
                       .timeout = options_.retry_period});
  if (updated.ok() && updated->status == 200) {
    spdlog::info("status: config cluster {}: released lease {}/{}", options_.cluster,
                 options_.namespace_name, options_.name);
  } else {
    spdlog::warn("status: config cluster {}: releasing lease: {}", options_.cluster,
                 Describe(updated));
  }
}

}  // namespace propsy::status
