#include "xds/stream_drain.h"

#include <vector>

namespace propsy::xds {

StreamDrain::Admission::~Admission() { drain_.Remove(id_); }

std::unique_ptr<StreamDrain::Admission> StreamDrain::Admit(std::function<void()> close) {
  absl::MutexLock lock(&mu_);
  if (draining_) return nullptr;
  uint64_t id = next_id_++;
  open_.emplace(id, std::move(close));
  return std::unique_ptr<Admission>(new Admission(*this, id));
}

void StreamDrain::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  open_.erase(id);
}

void StreamDrain::BeginDrain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

bool StreamDrain::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

size_t StreamDrain::open_streams() const {
  absl::MutexLock lock(&mu_);
  return open_.size();
}

void StreamDrain::Abort() {
  absl::MutexLock lock(&mu_);
  aborted_ = true;
}

void StreamDrain::Drain(Clock& clock, Clock::Duration period) {
  std::vector<uint64_t> schedule;
  Clock::TimePoint start;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    for (const auto& [id, close] : open_) schedule.push_back(id);
    start = clock.Now();
  }
  const size_t count = schedule.size();
  for (size_t i = 0; i < count; ++i) {
    std::function<void()> close;
    {
      absl::MutexLock lock(&mu_);
      const Clock::TimePoint due = start + period * i / count;
      if (clock.AwaitUntil(mu_, absl::Condition(&aborted_), due)) return;
      auto open = open_.find(schedule[i]);
      if (open == open_.end()) continue;  // ended on its own meanwhile
      close = std::move(open->second);
      open_.erase(open);
    }
    close();
  }
}

}  // namespace propsy::xds
