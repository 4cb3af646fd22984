#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <vector>

namespace propsy::translate::test {

// Checks `message` against the protoc-gen-validate rules Envoy enforces when
// it loads configuration, as far as generated resources use them: required
// messages and oneofs, string lengths, numeric and duration bounds, repeated
// minimum sizes, defined enum values. Any fields are unpacked through the
// generated descriptor pool and checked recursively; an Any whose type is
// unknown or whose bytes do not parse is an error. Returns one line per
// problem, with the field path.
std::vector<std::string> ValidationErrors(const google::protobuf::Message& message);

}  // namespace propsy::translate::test
