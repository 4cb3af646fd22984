#pragma once

#include <google/protobuf/duration.pb.h>

#include <cstdint>

namespace propsy::translate {

// Writes a millisecond count as a protobuf Duration.
inline void SetMillis(google::protobuf::Duration* duration, uint32_t ms) {
  duration->set_seconds(ms / 1000);
  duration->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
}

}  // namespace propsy::translate
