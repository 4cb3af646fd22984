#pragma once

// Test-side xDS clients: a bidirectional stream wrapper whose every wait is
// bounded, and request builders for state-of-the-world and delta discovery.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "envoy/service/discovery/v3/discovery.pb.h"

namespace propsy::xds::testing {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using std::chrono::milliseconds;

// Upper bound for any single call made by a test: nothing can hang longer.
inline constexpr milliseconds kCallDeadline{20'000};
// How long to wait for a response that must come.
inline constexpr milliseconds kExpectWithin{5'000};
// How long to listen to conclude that nothing (more) comes.
inline constexpr milliseconds kQuietFor{300};

inline std::chrono::system_clock::time_point DeadlineIn(milliseconds timeout) {
  return std::chrono::system_clock::now() + timeout;
}

// A client bidi stream (synchronous API) with a reader thread that feeds a
// queue, so a test can "read the next response within N ms or get none".
// The call has a deadline; the destructor cancels it.
template <typename Request, typename Response>
class BidiStream {
 public:
  using Call = grpc::ClientReaderWriter<Request, Response>;
  using Opener = std::function<std::unique_ptr<Call>(grpc::ClientContext*)>;

  // `start_reading = false` leaves responses unread (a stuck client) until
  // StartReading().
  explicit BidiStream(const Opener& open, bool start_reading = true) {
    context_.set_deadline(DeadlineIn(kCallDeadline));
    call_ = open(&context_);
    if (start_reading) StartReading();
  }

  BidiStream(const BidiStream&) = delete;
  BidiStream& operator=(const BidiStream&) = delete;

  ~BidiStream() {
    context_.TryCancel();
    StartReading();  // drains the cancelled call if nothing read it yet
    if (reader_.joinable()) reader_.join();
    if (!finished_) call_->Finish();
  }

  void StartReading() {
    if (reading_started_) return;
    reading_started_ = true;
    reader_ = std::thread([this] { ReadLoop(); });
  }

  bool Send(const Request& request) { return call_->Write(request); }

  // The next response, or nullopt if none arrives within `timeout` (or the
  // stream ended).
  std::optional<Response> Next(milliseconds timeout = kExpectWithin) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &BidiStream::ArrivedLocked),
                         absl::FromChrono(timeout));
    if (queue_.empty()) return std::nullopt;
    Response response = std::move(queue_.front());
    queue_.pop_front();
    return response;
  }

  // Everything that arrives within `window`.
  std::vector<Response> Drain(milliseconds window = kQuietFor) {
    std::vector<Response> out;
    const absl::Time until = absl::Now() + absl::FromChrono(window);
    absl::MutexLock lock(&mu_);
    while (true) {
      mu_.AwaitWithDeadline(absl::Condition(this, &BidiStream::ArrivedLocked), until);
      while (!queue_.empty()) {
        out.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (read_done_ || absl::Now() >= until) return out;
    }
  }

  // Waits (bounded) for the server to end the call and returns its status.
  // If it does not end in time the call is cancelled and DEADLINE_EXCEEDED
  // with a "test:" message is returned.
  grpc::Status AwaitStatus(milliseconds timeout = kExpectWithin) {
    StartReading();
    bool ended;
    {
      absl::MutexLock lock(&mu_);
      ended = mu_.AwaitWithTimeout(absl::Condition(&read_done_), absl::FromChrono(timeout));
    }
    if (!ended) context_.TryCancel();
    if (reader_.joinable()) reader_.join();
    if (!finished_) {
      status_ = call_->Finish();
      finished_ = true;
    }
    if (!ended) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "test: the server did not end the stream");
    }
    return status_;
  }

  grpc::ClientContext& context() { return context_; }

 private:
  void ReadLoop() {
    Response response;
    while (call_->Read(&response)) {
      absl::MutexLock lock(&mu_);
      queue_.push_back(std::move(response));
      response = Response();
    }
    absl::MutexLock lock(&mu_);
    read_done_ = true;
  }

  bool ArrivedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || read_done_;
  }

  grpc::ClientContext context_;
  std::unique_ptr<Call> call_;
  std::thread reader_;
  bool reading_started_ = false;  // test thread only
  bool finished_ = false;         // Finish called (test thread only)
  grpc::Status status_;

  // Waits here are real time: they bound how long a test listens to a real
  // server over a real connection.
  absl::Mutex mu_;
  std::deque<Response> queue_ ABSL_GUARDED_BY(mu_);
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
};

using SotwStream = BidiStream<DiscoveryRequest, DiscoveryResponse>;
using DeltaStream = BidiStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

// Opens a stream with a stub method such as
// &AggregatedDiscoveryService::Stub::StreamAggregatedResources.
template <typename Stream, typename Stub, typename Method>
std::unique_ptr<Stream> OpenStream(Stub& stub, Method method, bool start_reading = true) {
  return std::make_unique<Stream>(
      [&stub, method](grpc::ClientContext* context) { return (stub.*method)(context); },
      start_reading);
}

// A state-of-the-world request. `node_id` empty: no node (allowed after the
// first request of a stream).
inline DiscoveryRequest SotwRequest(const std::string& node_id, std::string_view type_url,
                                    const std::vector<std::string>& names = {},
                                    const std::string& version = "",
                                    const std::string& nonce = "") {
  DiscoveryRequest request;
  if (!node_id.empty()) request.mutable_node()->set_id(node_id);
  request.set_type_url(std::string(type_url));
  for (const std::string& name : names) request.add_resource_names(name);
  request.set_version_info(version);
  request.set_response_nonce(nonce);
  return request;
}

// ACK of `response`, keeping the subscription `names`.
inline DiscoveryRequest SotwAck(const DiscoveryResponse& response,
                                const std::vector<std::string>& names = {}) {
  return SotwRequest("", response.type_url(), names, response.version_info(), response.nonce());
}

// NACK of `response`; `last_good_version` is what the client keeps.
inline DiscoveryRequest SotwNack(const DiscoveryResponse& response,
                                 const std::string& last_good_version, const std::string& error,
                                 const std::vector<std::string>& names = {}) {
  DiscoveryRequest request =
      SotwRequest("", response.type_url(), names, last_good_version, response.nonce());
  request.mutable_error_detail()->set_code(3);  // INVALID_ARGUMENT
  request.mutable_error_detail()->set_message(error);
  return request;
}

inline DeltaDiscoveryRequest DeltaRequest(
    const std::string& node_id, std::string_view type_url,
    const std::vector<std::string>& subscribe = {},
    const std::vector<std::string>& unsubscribe = {},
    const std::vector<std::pair<std::string, std::string>>& initial_versions = {}) {
  DeltaDiscoveryRequest request;
  if (!node_id.empty()) request.mutable_node()->set_id(node_id);
  request.set_type_url(std::string(type_url));
  for (const std::string& name : subscribe) request.add_resource_names_subscribe(name);
  for (const std::string& name : unsubscribe) request.add_resource_names_unsubscribe(name);
  for (const auto& [name, version] : initial_versions) {
    (*request.mutable_initial_resource_versions())[name] = version;
  }
  return request;
}

inline DeltaDiscoveryRequest DeltaAck(const DeltaDiscoveryResponse& response) {
  DeltaDiscoveryRequest request;
  request.set_type_url(response.type_url());
  request.set_response_nonce(response.nonce());
  return request;
}

inline DeltaDiscoveryRequest DeltaNack(const DeltaDiscoveryResponse& response,
                                       const std::string& error) {
  DeltaDiscoveryRequest request = DeltaAck(response);
  request.mutable_error_detail()->set_code(3);
  request.mutable_error_detail()->set_message(error);
  return request;
}

}  // namespace propsy::xds::testing
