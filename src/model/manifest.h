#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace propsy::model {

// One object of a manifest file, as the JSON tree the decoders read.
struct ManifestDocument {
  // Owns the memory of `object`, sized to the document: a dir: source keeps
  // thousands of small documents, and rapidjson's default 64 KiB first chunk
  // per document would cost hundreds of megabytes.
  std::unique_ptr<rapidjson::MemoryPoolAllocator<>> allocator;
  rapidjson::Value object;  // always an object (a YAML mapping)
  int line = 0;             // 1-based line where the document starts
};

// Parses manifest text: YAML with any number of `---` separated documents, or
// JSON (JSON is YAML). Each document becomes a JSON object:
// - mappings become objects (keys are the keys' text; duplicate keys are an
//   error, as kubectl reports them), sequences become arrays;
// - scalars follow the YAML 1.2 core schema: null/~/empty -> null,
//   true/false (also True/TRUE...) -> bool, decimal (0o octal, 0x hex)
//   integers -> int64, floats (.inf, .nan too) -> double, anything else and
//   every quoted or block scalar -> string (so "80" stays a string);
// - empty documents are skipped; a document that is not a mapping is an
//   error naming its line;
// - a `kind: List` document (kubectl get -o yaml) is replaced by its items.
// Anchors and aliases are expanded, within a size budget (a few "billion
// laughs" lines must not exhaust memory); nesting deeper than 100 levels is
// an error. Errors read "FILE:LINE:COLUMN: reason" (1-based).
absl::StatusOr<std::vector<ManifestDocument>> ParseManifest(std::string_view text,
                                                            std::string_view file_name);

}  // namespace propsy::model
