#include "sources/dir_source.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace propsy::sources {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr milliseconds kTimeout{5000};

// A ProPsyService manifest; `percent` may be out of range on purpose.
std::string Service(const std::string& name, int percent, const std::string& ns = "shop") {
  return fmt::format(R"(apiVersion: propsy.seznam.cz/v1
kind: ProPsyService
metadata: {{ name: {}, namespace: {} }}
spec:
  service: {}
  servicePort: 8080
  listen: 127.0.0.1:10080
  nodes: ["*"]
  percent: {}
)",
                     name, ns, name, percent);
}

std::string Slice(const std::string& name, const std::string& service, const std::string& ip,
                  const std::string& ns = "shop") {
  return fmt::format(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{ name: {}, namespace: {}, labels: {{ kubernetes.io/service-name: {} }} }}
addressType: IPv4
ports: [{{ name: http, port: 8080 }}]
endpoints:
- addresses: ["{}"]
)",
                     name, ns, service, ip);
}

void Write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::trunc);
  out << content;
}

// Writes next to `path` and renames into place, as careful tools do.
void WriteAtomically(const fs::path& path, const std::string& content) {
  fs::path temporary = path.parent_path() / ("." + path.filename().string() + ".tmp");
  Write(temporary, content);
  fs::rename(temporary, path);
}

// Collects every state the source reports.
class Recorder {
 public:
  ClusterSource::Callback Callback() {
    return [this](ClusterState state) {
      absl::MutexLock lock(&mu_);
      states_.push_back(std::move(state));
    };
  }

  size_t Count() {
    absl::MutexLock lock(&mu_);
    return states_.size();
  }

  std::optional<ClusterState> Latest() {
    absl::MutexLock lock(&mu_);
    if (states_.empty()) return std::nullopt;
    return states_.back();
  }

  // Waits until the latest state satisfies `done`; returns it.
  std::optional<ClusterState> WaitUntil(const std::function<bool(const ClusterState&)>& done) {
    std::optional<ClusterState> found;
    test::WaitFor(
        [&] {
          found = Latest();
          return found.has_value() && done(*found);
        },
        kTimeout, milliseconds(10));
    if (found.has_value() && !done(*found)) return std::nullopt;
    return found;
  }

 private:
  absl::Mutex mu_;
  std::vector<ClusterState> states_ ABSL_GUARDED_BY(mu_);
};

const model::Entry<model::ProPsyService>* FindService(const ClusterState& state,
                                                      const std::string& name,
                                                      const std::string& ns = "shop") {
  auto it = state.objects->services.find({ns, name});
  return it == state.objects->services.end() ? nullptr : &it->second;
}

// The percent of the service's last good version, or -1 when there is none.
int Percent(const ClusterState& state, const std::string& name) {
  const model::Entry<model::ProPsyService>* entry = FindService(state, name);
  if (entry == nullptr || !entry->last_good.has_value()) return -1;
  return static_cast<int>(entry->last_good->spec.percent);
}

bool HasProblemContaining(const ClusterState& state, const std::string& text) {
  for (const std::string& problem : state.problems) {
    if (problem.find(text) != std::string::npos) return true;
  }
  return false;
}

class DirSourceTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(root_); }

  // Starts a source on root_ and waits for its first report.
  ClusterState Start(DirSourceOptions options = {}) {
    absl::StatusOr<std::unique_ptr<DirSource>> source =
        DirSource::Create(root_.string(), std::move(options));
    EXPECT_TRUE(source.ok()) << source.status();
    if (!source.ok()) return {};
    source_ = *std::move(source);
    EXPECT_TRUE(source_->Start(recorder_.Callback()).ok());
    std::optional<ClusterState> first =
        recorder_.WaitUntil([](const ClusterState&) { return true; });
    EXPECT_TRUE(first.has_value()) << "no initial report";
    return first.value_or(ClusterState{});
  }

  test::TempDir temp_{"propsy-dir-source"};
  fs::path root_ = temp_.path() / "manifests";
  Recorder recorder_;
  std::unique_ptr<DirSource> source_;
};

TEST_F(DirSourceTest, InitialScanReadsEveryManifestRecursively) {
  Write(root_ / "services.yaml", Service("web", 80) + "---\n" + Service("api", 100));
  Write(root_ / "zone" / "endpoints.yml", Slice("web-1", "web", "10.0.0.1"));
  Write(
      root_ / "more.json",
      R"({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "db", "namespace": "shop"},
            "subsets": [{"addresses": [{"ip": "10.0.0.9"}], "ports": [{"port": 5432}]}]})");
  Write(root_ / "notes.txt", Service("ignored-txt", 1));
  Write(root_ / ".hidden.yaml", Service("ignored-hidden", 1));
  Write(root_ / ".git" / "x.yaml", Service("ignored-dotdir", 1));
  Write(root_ / "other-kinds.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n");

  ClusterState state = Start();
  EXPECT_TRUE(state.synced);
  EXPECT_FALSE(state.stale);
  EXPECT_THAT(state.problems, IsEmpty());
  ASSERT_NE(state.objects, nullptr);
  EXPECT_EQ(state.objects->services.size(), 2u);
  EXPECT_EQ(Percent(state, "web"), 80);
  EXPECT_EQ(Percent(state, "api"), 100);
  ASSERT_TRUE(state.objects->endpoints.contains({"shop", "web"}));
  EXPECT_TRUE(state.objects->endpoints.at({"shop", "web"})->slices.contains("web-1"));
  ASSERT_TRUE(state.objects->endpoints.contains({"shop", "db"}));
  EXPECT_TRUE(state.objects->endpoints.at({"shop", "db"})->core_endpoints.has_value());
  EXPECT_EQ(source_->Describe(), "dir:" + root_.string());
}

TEST_F(DirSourceTest, NamespaceFilterIgnoresOtherNamespacesAsIfAbsent) {
  Write(root_ / "a.yaml", Service("web", 80) + "---\n" + Service("web", 30, "other") + "---\n" +
                              Service("bad", 400, "other"));
  Write(root_ / "b.yaml",
        Slice("web-1", "web", "10.0.0.1") + "---\n" + Slice("web-1", "web", "10.0.0.2", "other"));
  DirSourceOptions options;
  options.namespaces = {"shop"};
  ClusterState state = Start(options);
  ASSERT_NE(state.objects, nullptr);
  EXPECT_EQ(state.objects->services.size(), 1u);
  EXPECT_EQ(Percent(state, "web"), 80);
  EXPECT_EQ(FindService(state, "web", "other"), nullptr);
  EXPECT_EQ(state.objects->endpoints.size(), 1u);
  EXPECT_TRUE(state.objects->endpoints.contains({"shop", "web"}));
  EXPECT_THAT(state.problems, IsEmpty()) << "the invalid object is in another namespace";

  // A change in another namespace reports nothing; the objects keep their
  // identity, so nothing downstream sees a change.
  const size_t reports = recorder_.Count();
  Write(root_ / "c.yaml", Service("api", 10, "other"));
  Write(root_ / "d.yaml", Service("api", 20));
  std::optional<ClusterState> after =
      recorder_.WaitUntil([](const ClusterState& s) { return Percent(s, "api") == 20; });
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(recorder_.Count(), reports + 1);
  EXPECT_EQ(after->objects->services.size(), 2u);
  EXPECT_EQ(after->objects->endpoints.at({"shop", "web"}),
            state.objects->endpoints.at({"shop", "web"}))
      << "an unchanged endpoint set is the same object";
}

TEST_F(DirSourceTest, LiveAddModifyAndDelete) {
  Write(root_ / "web.yaml", Service("web", 80));
  Start();

  Write(root_ / "api.yaml", Service("api", 40));
  ASSERT_TRUE(recorder_.WaitUntil([](const ClusterState& s) { return Percent(s, "api") == 40; }));

  Write(root_ / "web.yaml", Service("web", 55));
  std::optional<ClusterState> modified =
      recorder_.WaitUntil([](const ClusterState& s) { return Percent(s, "web") == 55; });
  ASSERT_TRUE(modified);
  EXPECT_EQ(Percent(*modified, "api"), 40);

  fs::remove(root_ / "api.yaml");
  std::optional<ClusterState> deleted =
      recorder_.WaitUntil([](const ClusterState& s) { return FindService(s, "api") == nullptr; });
  ASSERT_TRUE(deleted);
  EXPECT_EQ(Percent(*deleted, "web"), 55);
  EXPECT_THAT(deleted->problems, IsEmpty());
}

TEST_F(DirSourceTest, MalformedFileIsReportedWithFileAndLineWhileOthersStay) {
  Write(root_ / "good.yaml", Service("web", 80));
  Write(root_ / "bad.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: [unclosed\n");
  ClusterState state = Start();
  EXPECT_EQ(Percent(state, "web"), 80);
  ASSERT_EQ(state.problems.size(), 1u);
  EXPECT_THAT(state.problems[0], ContainsRegex("^bad\\.yaml:[0-9]+:[0-9]+: "));

  // A duplicate key is reported on the key's own line.
  Write(root_ / "bad.yaml", "apiVersion: v1\nkind: Secret\nkind: Secret\nmetadata: {name: x}\n");
  std::optional<ClusterState> duplicate = recorder_.WaitUntil(
      [](const ClusterState& s) { return HasProblemContaining(s, "bad.yaml:3:"); });
  ASSERT_TRUE(duplicate);
  EXPECT_EQ(Percent(*duplicate, "web"), 80);

  Write(root_ / "bad.yaml", Service("api", 10));
  std::optional<ClusterState> fixed =
      recorder_.WaitUntil([](const ClusterState& s) { return s.problems.empty(); });
  ASSERT_TRUE(fixed);
  EXPECT_EQ(Percent(*fixed, "api"), 10);
}

TEST_F(DirSourceTest, FileTurningMalformedKeepsItsObjects) {
  Write(root_ / "services.yaml", Service("web", 80) + "---\n" + Service("api", 30));
  ClusterState before = Start();
  ASSERT_EQ(before.objects->services.size(), 2u);

  // Half-written: the editor saved the first lines only.
  Write(root_ / "services.yaml", "apiVersion: propsy.seznam.cz/v1\nkind: [\n");
  std::optional<ClusterState> broken = recorder_.WaitUntil(
      [](const ClusterState& s) { return HasProblemContaining(s, "services.yaml:"); });
  ASSERT_TRUE(broken);
  EXPECT_EQ(Percent(*broken, "web"), 80);
  EXPECT_EQ(Percent(*broken, "api"), 30);
  // Nothing changed in the objects: the same snapshot.
  EXPECT_EQ(broken->objects, before.objects);

  // The next good version replaces them as usual.
  Write(root_ / "services.yaml", Service("web", 60));
  std::optional<ClusterState> repaired = recorder_.WaitUntil(
      [](const ClusterState& s) { return s.problems.empty() && Percent(s, "web") == 60; });
  ASSERT_TRUE(repaired);
  EXPECT_EQ(FindService(*repaired, "api"), nullptr);
}

TEST_F(DirSourceTest, InvalidUpdateKeepsLastGoodAndNamesTheObject) {
  Write(root_ / "a.yaml", "# leading comment\n" + Service("web", 80));
  Write(root_ / "b.yaml", Service("api", 20));
  Start();

  Write(root_ / "a.yaml", "# leading comment\n" + Service("web", 150));
  std::optional<ClusterState> invalid =
      recorder_.WaitUntil([](const ClusterState& s) { return !s.problems.empty(); });
  ASSERT_TRUE(invalid);
  ASSERT_EQ(invalid->problems.size(), 1u);
  EXPECT_THAT(invalid->problems[0],
              AllOf(StartsWith("a.yaml:2: ProPsyService shop/web: "), HasSubstr("spec.percent")));
  const model::Entry<model::ProPsyService>* web = FindService(*invalid, "web");
  ASSERT_NE(web, nullptr);
  EXPECT_FALSE(web->error.ok());
  EXPECT_EQ(Percent(*invalid, "web"), 80);  // last good
  EXPECT_EQ(Percent(*invalid, "api"), 20);  // untouched
}

TEST_F(DirSourceTest, SubdirectoriesCreatedAfterStartAreWatched) {
  Start();
  fs::create_directories(root_ / "team-a" / "nested");
  Write(root_ / "team-a" / "nested" / "web.yaml", Service("web", 70));
  ASSERT_TRUE(recorder_.WaitUntil([](const ClusterState& s) { return Percent(s, "web") == 70; }));

  // The new directory is watched itself, not only found by a rescan.
  Write(root_ / "team-a" / "nested" / "web.yaml", Service("web", 71));
  ASSERT_TRUE(recorder_.WaitUntil([](const ClusterState& s) { return Percent(s, "web") == 71; }));

  fs::remove_all(root_ / "team-a");
  ASSERT_TRUE(
      recorder_.WaitUntil([](const ClusterState& s) { return s.objects->services.empty(); }));
}

TEST_F(DirSourceTest, AtomicRenameIntoPlace) {
  Write(root_ / "web.yaml", Service("web", 80));
  Start();
  WriteAtomically(root_ / "web.yaml", Service("web", 25));
  ASSERT_TRUE(recorder_.WaitUntil([](const ClusterState& s) { return Percent(s, "web") == 25; }));
  WriteAtomically(root_ / "api.yaml", Service("api", 35));
  ASSERT_TRUE(recorder_.WaitUntil([](const ClusterState& s) { return Percent(s, "api") == 35; }));
  // Moving a file out of the tree removes its objects.
  fs::rename(root_ / "api.yaml", temp_.path() / "api.yaml");
  ASSERT_TRUE(
      recorder_.WaitUntil([](const ClusterState& s) { return FindService(s, "api") == nullptr; }));
}

TEST_F(DirSourceTest, ConfigMapDataSymlinkSwap) {
  // The layout the kubelet writes for a mounted ConfigMap.
  Write(root_ / "..2024_01_01_00_00_00.1" / "services.yaml", Service("web", 80));
  fs::create_directory_symlink("..2024_01_01_00_00_00.1", root_ / "..data");
  fs::create_symlink("..data/services.yaml", root_ / "services.yaml");
  ClusterState initial = Start();
  EXPECT_EQ(Percent(initial, "web"), 80);
  EXPECT_EQ(initial.objects->services.size(), 1u);  // the timestamped directory is not read twice

  // An update: new timestamped directory, ..data swapped atomically, old one removed.
  Write(root_ / "..2024_01_01_00_05_00.2" / "services.yaml", Service("web", 50));
  fs::create_directory_symlink("..2024_01_01_00_05_00.2", root_ / "..data_tmp");
  fs::rename(root_ / "..data_tmp", root_ / "..data");
  fs::remove_all(root_ / "..2024_01_01_00_00_00.1");
  std::optional<ClusterState> swapped =
      recorder_.WaitUntil([](const ClusterState& s) { return Percent(s, "web") == 50; });
  ASSERT_TRUE(swapped);
  EXPECT_THAT(swapped->problems, IsEmpty());
}

TEST_F(DirSourceTest, StaleWhileTheDirectoryIsGoneThenRecovers) {
  Write(root_ / "web.yaml", Service("web", 80));
  Start();
  const int64_t before_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();

  fs::remove_all(root_);
  std::optional<ClusterState> stale =
      recorder_.WaitUntil([](const ClusterState& s) { return s.stale; });
  ASSERT_TRUE(stale);
  EXPECT_EQ(Percent(*stale, "web"), 80);  // last known state kept
  EXPECT_GE(stale->stale_since_unix_ms, before_ms);
  EXPECT_TRUE(stale->synced);
  EXPECT_TRUE(HasProblemContaining(*stale, "missing"));

  Write(root_ / "api.yaml", Service("api", 45));
  std::optional<ClusterState> back =
      recorder_.WaitUntil([](const ClusterState& s) { return !s.stale; });
  ASSERT_TRUE(back);
  EXPECT_EQ(Percent(*back, "api"), 45);
  EXPECT_EQ(FindService(*back, "web"), nullptr);
  EXPECT_THAT(back->problems, IsEmpty());

  // Watched again after recovery.
  Write(root_ / "api.yaml", Service("api", 46));
  ASSERT_TRUE(recorder_.WaitUntil([](const ClusterState& s) { return Percent(s, "api") == 46; }));
}

TEST_F(DirSourceTest, FirstFileInPathOrderWinsDuplicates) {
  Write(root_ / "b.yaml", Service("web", 20));
  Write(root_ / "a.yaml", Service("web", 10));
  ClusterState state = Start();
  EXPECT_EQ(Percent(state, "web"), 10);
  ASSERT_EQ(state.problems.size(), 1u);
  EXPECT_THAT(state.problems[0],
              AllOf(StartsWith("b.yaml:1: ProPsyService shop/web: "), HasSubstr("a.yaml:1")));

  fs::remove(root_ / "a.yaml");
  std::optional<ClusterState> after = recorder_.WaitUntil(
      [](const ClusterState& s) { return Percent(s, "web") == 20 && s.problems.empty(); });
  ASSERT_TRUE(after);
}

TEST_F(DirSourceTest, ReportsOnlyChanges) {
  Write(root_ / "web.yaml", Service("web", 80));
  ClusterState first = Start();
  size_t count = recorder_.Count();
  EXPECT_EQ(count, 1u);

  // Same content rewritten, a file ProPsy does not read, a touch: no report.
  Write(root_ / "web.yaml", Service("web", 80));
  Write(root_ / "README.md", "hello");
  fs::last_write_time(root_ / "web.yaml", fs::file_time_type::clock::now());
  // Then a real change, which proves the events above were processed first.
  Write(root_ / "api.yaml", Service("api", 5));
  std::optional<ClusterState> changed =
      recorder_.WaitUntil([](const ClusterState& s) { return Percent(s, "api") == 5; });
  ASSERT_TRUE(changed);
  EXPECT_EQ(recorder_.Count(), count + 1);
  EXPECT_NE(changed->objects, first.objects);
}

TEST_F(DirSourceTest, NoCallbacksAfterDestruction) {
  Start();
  source_.reset();
  size_t count = recorder_.Count();
  Write(root_ / "web.yaml", Service("web", 80));
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(recorder_.Count(), count);
}

TEST(DirSourceCreateTest, RejectsWhatIsNotADirectory) {
  test::TempDir temp("propsy-dir-source");
  EXPECT_FALSE(DirSource::Create((temp.path() / "missing").string()).ok());
  Write(temp.path() / "file.yaml", "a: 1\n");
  absl::StatusOr<std::unique_ptr<DirSource>> file =
      DirSource::Create((temp.path() / "file.yaml").string());
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("not a directory"));
  EXPECT_FALSE(DirSource::Create("").ok());
}

TEST(DirSourceCreateTest, StartTwiceIsAnError) {
  test::TempDir temp("propsy-dir-source");
  Recorder recorder;  // outlives the source, whose thread calls it
  absl::StatusOr<std::unique_ptr<DirSource>> source = DirSource::Create(temp.path().string());
  ASSERT_TRUE(source.ok());
  ASSERT_TRUE((*source)->Start(recorder.Callback()).ok());
  EXPECT_FALSE((*source)->Start(recorder.Callback()).ok());
}

}  // namespace
}  // namespace propsy::sources
