#pragma once

// What one replica tells the others about its own nodes' progress, per
// config cluster: a ConfigMap in the lease namespace of that cluster
// (docs/status.md, "Replicas"). Pure: encoding and decoding only.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "model/object_meta.h"
#include "status/desired_status.h"
#include "translate/object_status.h"

namespace propsy::status {

// One replica's report for one config cluster.
struct ProgressReport {
  std::string replica;  // the replica's lease identity
  // GenerationsDigest of the objects as the replica sees them: equal to the
  // reader's own digest, an object missing from `objects` targets none of
  // the replica's nodes; unequal, the replica has not caught up (or is
  // ahead).
  std::string generations;
  // Programmable objects that target at least one of the replica's nodes
  // (`unreported` is always empty here).
  std::map<model::ObjectKey, ObjectProgress> objects;

  // Some object is not complete on the replica's nodes: the replica
  // renews the report while so, so that its readers can tell it alive.
  bool HoldsBack() const;
  bool operator==(const ProgressReport&) const = default;
};

// A content hash of every object's key and generation in config cluster
// `config_cluster` of `reports` (translate::DescribeObjects).
std::string GenerationsDigest(const std::vector<translate::ObjectReport>& reports,
                              size_t config_cluster);

// The label every report carries, valued with the lease name, so that
// installations with different leases in one namespace keep apart.
inline constexpr char kReportLabel[] = "propsy.seznam.cz/progress-report";

// "<lease name>-progress-<replica>", made a valid object name (lower case;
// characters other than [a-z0-9.-] become '-'; shortened with a hash when
// too long).
std::string ReportName(std::string_view lease_name, std::string_view replica);

// The ConfigMap of a report (a create or an unconditional replace: a report
// has one writer). Rejection messages longer than 1,000 bytes are cut.
std::string EncodeReport(const ProgressReport& report, const std::string& name,
                         const std::string& namespace_name, const std::string& lease_name,
                         const std::string& renew_time);

// "/api/v1/namespaces/<ns>/configmaps" and the list of one lease's
// reports (label selector).
std::string ReportCollectionPath(const std::string& namespace_name);
std::string ReportListPath(const std::string& namespace_name, const std::string& lease_name);

// One report as listed.
struct ListedReport {
  std::string name;
  std::string resource_version;
  absl::StatusOr<ProgressReport> report;  // an error names what is malformed
};

// The items of a ConfigMapList of reports; an error when the list itself is
// not one.
absl::StatusOr<std::vector<ListedReport>> DecodeReportList(std::string_view body);

}  // namespace propsy::status
