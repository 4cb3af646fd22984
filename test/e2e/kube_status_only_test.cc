// A status-only change of a ProPsyService on a real API server (the status
// writer's own write-back, or someone's `kubectl patch --subresource=status`)
// changes no configuration: nothing is translated or published, no xDS
// response goes out; the status writer still sees it (it restores its own
// conditions). A spec change right after still goes all the way to Envoy.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "e2e/kube_e2e_fixture.h"
#include "support/wait.h"

namespace propsy::e2e {
namespace {

using namespace std::chrono_literals;

// The /metrics counters that show translation and serving work.
struct Work {
  double publishes = -1;
  double status_updates = -1;
  double translated = -1;
  double reused = -1;
  double classes_built = -1;
  double responses = -1;
  double status_writes = -1;
  double queued = -1;

  std::string ToString() const {
    return fmt::format(
        "publishes {}, status-only updates {}, service parts translated {}, reused {}, node "
        "classes built {}, xDS responses {}, status writes {}, queued {}",
        publishes, status_updates, translated, reused, classes_built, responses, status_writes,
        queued);
  }
};

class KubeStatusOnlyTest : public KubePropsyTest {
 protected:
  Work ReadWork() {
    auto metric = [&](const std::string& family,
                      const std::map<std::string, std::string>& labels = {}) {
      absl::StatusOr<double> value = propsy_->MetricSum(family, labels);
      return value.ok() ? *value : -1.0;
    };
    return Work{
        .publishes = metric("propsy_world_publishes_total"),
        .status_updates = metric("propsy_world_status_updates_total"),
        .translated = metric("propsy_translation_services_translated_total"),
        .reused = metric("propsy_translation_services_reused_total"),
        .classes_built = metric("propsy_translation_node_classes_built_total"),
        .responses = metric("propsy_xds_responses_total"),
        .status_writes = metric("propsy_status_writes_total", {{"cluster", ZoneName(kZoneA)}}),
        .queued = metric("propsy_status_queued_objects", {{"cluster", ZoneName(kZoneA)}}),
    };
  }

  // Waits until nothing is queued and the counters stayed the same for 2 s.
  Work Settled() {
    Work last = ReadWork();
    auto still = std::chrono::steady_clock::now();
    EXPECT_TRUE(test::WaitFor(
        [&] {
          const Work now = ReadWork();
          if (now.publishes != last.publishes || now.status_updates != last.status_updates ||
              now.responses != last.responses || now.status_writes != last.status_writes ||
              now.queued != 0) {
            last = now;
            still = std::chrono::steady_clock::now();
            return false;
          }
          return std::chrono::steady_clock::now() - still >= 2s;
        },
        60s, 200ms))
        << last.ToString() << "\n"
        << propsy_->LogTail();
    return last;
  }

  std::string Accepted(const std::string& field) {
    absl::StatusOr<std::string> value = kube().Kubectl(
        kZoneA,
        {"get", "pps", "web", "-n", kNamespace, "-o",
         fmt::format("jsonpath={{.status.conditions[?(@.type==\"Accepted\")].{}}}", field)});
    return value.ok() ? *value : "";
  }
};

TEST_F(KubeStatusOnlyTest, AStatusWriteIsNeitherTranslatedNorServedASpecChangeIs) {
  ASSERT_NO_FATAL_FAILURE(StartAllOnKube());
  test::HttpBackend& backend = AddKubeBackend("web-a");
  const int port = ApplyWebService(backend);
  Kubectl(kZoneA,
          {"wait", "--for=condition=Programmed", "pps/web", "-n", kNamespace, "--timeout=60s"});
  ASSERT_TRUE(WaitForBody(port, "/", "web-a", 10s)) << Diagnostics();
  const Work before = Settled();
  ASSERT_GE(before.status_writes, 1) << before.ToString();
  // The writer's own writes came back through the watch as status-only
  // changes already (writes close together may arrive in one World).
  EXPECT_GE(before.status_updates, 1) << before.ToString();

  // Someone overwrites the status: a status-only change the writer answers
  // with a write of its own, which comes back as another.
  Kubectl(kZoneA,
          {"patch", "pps", "web", "-n", kNamespace, "--subresource=status", "--type=merge", "-p",
           R"({"status":{"conditions":[{"type":"Accepted","status":"False",)"
           R"("reason":"SetByHand","message":"not ProPsy's","observedGeneration":1,)"
           R"("lastTransitionTime":"2026-01-01T00:00:00Z"}]}})"});
  EXPECT_TRUE(test::WaitFor(
      [&] { return Accepted("status") == "True" && Accepted("reason") == "Accepted"; }, 30s, 200ms))
      << "the writer did not restore its conditions: " << Accepted("reason");
  const Work after = Settled();
  std::cout << "[status-only] before: " << before.ToString()
            << "\n[status-only] after:  " << after.ToString() << "\n";
  EXPECT_GE(after.status_writes, before.status_writes + 1) << "the writer wrote nothing";
  EXPECT_GE(after.status_updates, before.status_updates + 2)
      << "the patch and the writer's answer should both arrive as status-only changes";
  EXPECT_EQ(after.publishes, before.publishes);
  EXPECT_EQ(after.translated, before.translated);
  EXPECT_EQ(after.reused, before.reused);
  EXPECT_EQ(after.classes_built, before.classes_built);
  EXPECT_EQ(after.responses, before.responses) << "Envoy was sent something";

  // A spec change still goes all the way.
  ServiceManifest moved;
  moved.name = "web";
  moved.service = "web";
  moved.listen_port = port;
  moved.path_prefix = "/v2";
  Apply(kZoneA, ServiceYaml(moved));
  EXPECT_TRUE(WaitForBody(port, "/v2/", "web-a", 10s)) << Diagnostics();
  const Work changed = Settled();
  std::cout << "[status-only] after a spec change: " << changed.ToString() << "\n";
  EXPECT_GT(changed.publishes, after.publishes);
  EXPECT_GT(changed.translated, after.translated);
  EXPECT_GT(changed.classes_built, after.classes_built);
  EXPECT_GT(changed.responses, after.responses);
}

}  // namespace
}  // namespace propsy::e2e
