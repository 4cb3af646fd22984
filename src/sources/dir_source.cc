#include "sources/dir_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include "common/content_hash.h"
#include "model/json_fields.h"

namespace propsy::sources {
namespace {

constexpr uint32_t kWatchMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR;

// A manifest larger than this is reported, not read: nobody writes 64 MiB of
// YAML on purpose, and reading it on every rescan would hurt.
constexpr off_t kMaxFileBytes = off_t{64} << 20;

// Keeps a subdirectory tree from running away (symlink games).
constexpr int kMaxDepth = 32;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsManifestName(std::string_view name) {
  if (name.empty() || name.front() == '.') return false;
  return name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json");
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

// Reads a whole file; nullopt with `error` set when it cannot.
std::optional<std::string> ReadFile(const std::string& path, std::string* error) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::strerror(errno);
    return std::nullopt;
  }
  std::string content;
  struct stat info;
  if (fstat(fd, &info) == 0 && info.st_size > kMaxFileBytes) {
    close(fd);
    *error = fmt::format("file is larger than {} MiB", kMaxFileBytes >> 20);
    return std::nullopt;
  }
  std::array<char, 65536> buffer;
  while (true) {
    ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = std::strerror(errno);
      close(fd);
      return std::nullopt;
    }
    content.append(buffer.data(), static_cast<size_t>(n));
    if (static_cast<off_t>(content.size()) > kMaxFileBytes) {
      close(fd);
      *error = fmt::format("file is larger than {} MiB", kMaxFileBytes >> 20);
      return std::nullopt;
    }
  }
  close(fd);
  return content;
}

// Ok when `path` is a directory this process may list; else why not.
absl::Status CheckReadableDirectory(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  if (!S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(fmt::format("{}: not a directory", path));
  }
  if (access(path.c_str(), R_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<DirSource>> DirSource::Create(std::string path,
                                                             DirSourceOptions options) {
  if (path.empty()) return absl::InvalidArgumentError("dir: needs a path");
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (absl::Status status = CheckReadableDirectory(path); !status.ok()) return status;
  return std::unique_ptr<DirSource>(new DirSource(std::move(path), options));
}

DirSource::DirSource(std::string path, DirSourceOptions options)
    : path_(std::move(path)), options_(options) {}

DirSource::~DirSource() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    // The thread polls this fd; a failed write would leave it running, so
    // retry on EINTR (the counter cannot overflow with one write).
    while (write(stop_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
}

absl::Status DirSource::Start(Callback on_change) {
  if (thread_.joinable() || inotify_fd_ >= 0) {
    return absl::FailedPreconditionError(fmt::format("{}: already started", Describe()));
  }
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    return absl::InternalError(fmt::format("{}: inotify: {}", Describe(), std::strerror(errno)));
  }
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0) {
    return absl::InternalError(fmt::format("{}: eventfd: {}", Describe(), std::strerror(errno)));
  }
  on_change_ = std::move(on_change);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void DirSource::Run() {
  Rescan();
  std::array<pollfd, 2> fds = {pollfd{.fd = stop_fd_, .events = POLLIN, .revents = 0},
                               pollfd{.fd = inotify_fd_, .events = POLLIN, .revents = 0}};
  while (true) {
    // Only a missing (or not yet scanned) directory needs a timer: it has no
    // watch that could tell when it comes back.
    const bool missing = stale_ || !synced_;
    const int timeout = missing ? static_cast<int>(options_.missing_poll.count()) : -1;
    int ready = poll(fds.data(), fds.size(), timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      spdlog::error("{}: poll: {}; no longer watching", Describe(), std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0) return;
    if (fds[1].revents != 0) {
      DrainEvents();
      if (!WaitForQuiet()) return;
    } else if (!missing) {
      continue;
    }
    Rescan();
  }
}

bool DirSource::DrainEvents() {
  // Aligned for inotify_event; any size >= one event with NAME_MAX works.
  alignas(inotify_event) std::array<char, 16384> buffer;
  bool any = false;
  while (true) {
    ssize_t n = read(inotify_fd_, buffer.data(), buffer.size());
    if (n > 0) {
      any = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return any;  // EAGAIN: drained
  }
}

bool DirSource::WaitForQuiet() {
  const auto deadline = std::chrono::steady_clock::now() + options_.max_delay;
  std::array<pollfd, 2> fds = {pollfd{.fd = stop_fd_, .events = POLLIN, .revents = 0},
                               pollfd{.fd = inotify_fd_, .events = POLLIN, .revents = 0}};
  while (std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    int timeout = static_cast<int>(
        std::clamp(left, std::chrono::milliseconds(0), options_.quiet_period).count());
    int ready = poll(fds.data(), fds.size(), timeout);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return true;  // quiet (or poll failed: rescan anyway)
    if (fds[0].revents != 0) return false;
    DrainEvents();
  }
  return true;
}

bool DirSource::ListTree(std::vector<ListedFile>* files) {
  if (!CheckReadableDirectory(path_).ok()) return false;
  std::set<std::pair<dev_t, ino_t>> visited;
  std::set<int> watches;
  ListDirectory("", &visited, &watches, files);
  if (visited.empty()) return false;  // the root vanished meanwhile
  // Directories that left the tree (or were replaced) stop being watched.
  for (int wd : watches_) {
    if (!watches.contains(wd)) inotify_rm_watch(inotify_fd_, wd);
  }
  watches_ = std::move(watches);
  std::sort(files->begin(), files->end(),
            [](const ListedFile& a, const ListedFile& b) { return a.relative < b.relative; });
  return true;
}

void DirSource::ListDirectory(const std::string& relative,
                              std::set<std::pair<dev_t, ino_t>>* visited, std::set<int>* watches,
                              std::vector<ListedFile>* files) {
  const std::string absolute = relative.empty() ? path_ : path_ + "/" + relative;
  struct stat info;
  if (stat(absolute.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) return;
  // A directory reached twice (through a symlink) is listed once.
  if (!visited->insert({info.st_dev, info.st_ino}).second) return;
  if (std::count(relative.begin(), relative.end(), '/') >= kMaxDepth) return;
  // Watch before listing: a file created meanwhile raises an event, which
  // causes another rescan.
  int wd = inotify_add_watch(inotify_fd_, absolute.c_str(), kWatchMask);
  if (wd < 0) {
    spdlog::warn("{}: cannot watch {}: {}", Describe(), absolute, std::strerror(errno));
  } else {
    watches->insert(wd);
  }
  DIR* dir = opendir(absolute.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> names;
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (!name.empty() && name.front() != '.') names.push_back(std::move(name));
  }
  closedir(dir);
  for (const std::string& name : names) {
    const std::string child = Join(relative, name);
    struct stat child_info;
    // stat, not lstat: symlinks count as what they point to.
    if (stat((path_ + "/" + child).c_str(), &child_info) != 0) continue;  // dangling
    if (S_ISDIR(child_info.st_mode)) {
      ListDirectory(child, visited, watches, files);
    } else if (S_ISREG(child_info.st_mode) && IsManifestName(name)) {
      files->push_back(ListedFile{
          .relative = child,
          .stamp = {.device = child_info.st_dev,
                    .inode = child_info.st_ino,
                    .size = child_info.st_size,
                    .modified_ns =
                        child_info.st_mtim.tv_sec * 1'000'000'000LL + child_info.st_mtim.tv_nsec,
                    .changed_ns =
                        child_info.st_ctim.tv_sec * 1'000'000'000LL + child_info.st_ctim.tv_nsec}});
    }
  }
}

void DirSource::RefreshFile(const ListedFile& file) {
  FileState& state = files_[file.relative];
  if (state.read && state.stamp == file.stamp) return;
  std::string error;
  std::optional<std::string> content = ReadFile(path_ + "/" + file.relative, &error);
  if (!content.has_value()) {
    // Keep what it had; the problem stays until it can be read again.
    state.read = false;
    state.content_hash.clear();
    state.parse_problem = fmt::format("{}: cannot read: {}", file.relative, error);
    return;
  }
  state.read = true;
  state.stamp = file.stamp;
  std::string content_hash = ContentHash(*content);
  if (!state.content_hash.empty() && content_hash == state.content_hash) return;
  absl::StatusOr<std::vector<model::ManifestDocument>> parsed =
      model::ParseManifest(*content, file.relative);
  state.content_hash = std::move(content_hash);
  if (!parsed.ok()) {
    state.parse_problem = std::string(parsed.status().message());
    return;
  }
  state.parse_problem.clear();
  state.documents =
      std::make_shared<const std::vector<model::ManifestDocument>>(*std::move(parsed));
  state.parsed = next_parse_++;
  state.identities.clear();
  for (size_t index = 0; index < state.documents->size(); ++index) {
    const model::ManifestDocument& document = (*state.documents)[index];
    const rapidjson::Value& object = document.object;
    const rapidjson::Value* api_version = model::FindField(object, "apiVersion");
    const rapidjson::Value* kind_field = model::FindField(object, "kind");
    DocumentIdentity identity{
        .index = index, .line = document.line, .kind = {}, .key = {}, .what = {}};
    if (api_version != nullptr && kind_field != nullptr && api_version->IsString() &&
        kind_field->IsString()) {
      identity.kind =
          model::ObjectKindOf(model::StringOf(*api_version), model::StringOf(*kind_field));
      if (!identity.kind.has_value()) continue;  // a kind ProPsy does not use
    }
    identity.key = model::ReadObjectKey(object);
    if (identity.key.has_value() && !options_.namespaces.empty() &&
        std::find(options_.namespaces.begin(), options_.namespaces.end(),
                  identity.key->namespace_name) == options_.namespaces.end()) {
      continue;  // outside -namespace: as if the document were not there
    }
    if (identity.kind.has_value() && identity.key.has_value()) {
      identity.what =
          fmt::format("{} {}", model::ObjectKindName(*identity.kind), identity.key->ToString());
    }
    state.identities.push_back(std::move(identity));
  }
}

bool DirSource::ReloadDocuments(const std::string& relative, FileState& state) {
  std::string error;
  std::optional<std::string> content = ReadFile(path_ + "/" + relative, &error);
  absl::StatusOr<std::vector<model::ManifestDocument>> parsed =
      content.has_value() && ContentHash(*content) == state.content_hash
          ? model::ParseManifest(*content, relative)
          : absl::StatusOr<std::vector<model::ManifestDocument>>(
                absl::UnavailableError("changed since it was read"));
  if (!parsed.ok()) {
    state.read = false;
    return false;
  }
  state.documents =
      std::make_shared<const std::vector<model::ManifestDocument>>(*std::move(parsed));
  return true;
}

void DirSource::Rescan() {
  std::vector<ListedFile> listed;
  if (!ListTree(&listed)) {
    if (!stale_) {
      stale_ = true;
      stale_since_unix_ms_ = NowUnixMs();
    }
    if (!synced_) {
      spdlog::warn("{}: not a readable directory; waiting for it", Describe());
      return;  // nothing to report before the first scan
    }
    std::vector<std::string> problems = file_problems_;
    problems.push_back(
        fmt::format("{}: directory is missing or unreadable; keeping the last state", path_));
    Report(std::move(problems));
    return;
  }

  // Files no longer in the tree are forgotten, with their objects.
  std::set<std::string> present;
  for (const ListedFile& file : listed) present.insert(file.relative);
  bool keys_changed = std::erase_if(files_, [&present](const auto& entry) {
                        return !present.contains(entry.first);
                      }) > 0;

  // Which documents win their key: the first in path order; the others are
  // duplicates, reported and left out.
  struct Definition {
    size_t file = 0;  // index into `listed`
    int line = 0;
  };
  auto by_key = [](const std::pair<model::ObjectKind, const model::ObjectKey*>& a,
                   const std::pair<model::ObjectKind, const model::ObjectKey*>& b) {
    return std::tie(a.first, *a.second) < std::tie(b.first, *b.second);
  };
  std::map<std::pair<model::ObjectKind, const model::ObjectKey*>, Definition, decltype(by_key)>
      defined_at(by_key);
  std::vector<FileState*> states;
  std::vector<std::vector<bool>> wins(listed.size());
  std::vector<std::vector<std::string>> duplicate_problems(listed.size());
  for (size_t f = 0; f < listed.size(); ++f) {
    RefreshFile(listed[f]);
    FileState& file = files_[listed[f].relative];
    states.push_back(&file);
    for (const DocumentIdentity& identity : file.identities) {
      bool won = true;
      if (identity.kind.has_value() && identity.key.has_value()) {
        const int line = identity.line;
        auto [it, first] =
            defined_at.try_emplace({*identity.kind, &*identity.key}, Definition{f, line});
        if (!first) {
          won = false;
          duplicate_problems[f].push_back(
              fmt::format("{}:{}: {}: already defined at {}:{}; the first in path order wins",
                          listed[f].relative, line, identity.what, listed[it->second.file].relative,
                          it->second.line));
        }
      }
      wins[f].push_back(won);
    }
  }

  std::vector<std::string> problems;
  for (size_t f = 0; f < listed.size(); ++f) {
    FileState& file = *states[f];
    if (!file.parse_problem.empty()) problems.push_back(file.parse_problem);
    problems.insert(problems.end(), duplicate_problems[f].begin(), duplicate_problems[f].end());
    // Decoded again only when the file changed or won or lost a key.
    if ((file.parsed != file.stored || wins[f] != file.stored_wins) &&
        (file.documents != nullptr || ReloadDocuments(listed[f].relative, file))) {
      std::vector<std::pair<model::ObjectKind, model::ObjectKey>> won_keys;
      for (size_t d = 0; d < file.identities.size(); ++d) {
        const DocumentIdentity& identity = file.identities[d];
        if (wins[f][d] && identity.kind.has_value() && identity.key.has_value()) {
          won_keys.emplace_back(*identity.kind, *identity.key);
        }
      }
      keys_changed = keys_changed || won_keys != file.stored_keys;
      file.stored_keys = std::move(won_keys);
      file.object_problems.clear();
      for (size_t d = 0; d < file.identities.size(); ++d) {
        if (!wins[f][d]) continue;
        const DocumentIdentity& identity = file.identities[d];
        absl::Status status = store_.Upsert((*file.documents)[identity.index].object);
        if (status.ok()) continue;
        const std::string where = fmt::format("{}:{}", listed[f].relative, identity.line);
        file.object_problems.push_back(
            identity.what.empty()
                ? fmt::format("{}: {}", where, std::string(status.message()))
                : fmt::format("{}: {}: {}", where, identity.what, std::string(status.message())));
      }
      file.stored = file.parsed;
      file.documents.reset();
      file.stored_wins = wins[f];
    }
    problems.insert(problems.end(), file.object_problems.begin(), file.object_problems.end());
  }
  // Objects no file defines any more go; skipped when no file changed what
  // it defines (an edit of one file among thousands).
  if (keys_changed) {
    std::map<model::ObjectKind, std::vector<model::ObjectKey>> seen;
    for (const auto& [kind_and_key, definition] : defined_at) {
      seen[kind_and_key.first].push_back(*kind_and_key.second);
    }
    for (model::ObjectKind kind :
         {model::ObjectKind::kProPsyService, model::ObjectKind::kEndpointSlice,
          model::ObjectKind::kEndpoints, model::ObjectKind::kSecret}) {
      store_.RetainOnly(kind, seen[kind]);
    }
  }
  if (stale_) spdlog::info("{}: directory is back", Describe());
  stale_ = false;
  stale_since_unix_ms_ = 0;
  synced_ = true;
  file_problems_ = problems;
  Report(std::move(problems));
}

void DirSource::Report(std::vector<std::string> problems) {
  // Each distinct problem is logged when it appears, not at every rescan.
  std::set<std::string> current(problems.begin(), problems.end());
  for (const std::string& problem : current) {
    if (!logged_problems_.contains(problem)) spdlog::warn("{}: {}", Describe(), problem);
  }
  logged_problems_ = std::move(current);

  ClusterState state{
      .objects = store_.Snapshot(),
      .statuses = store_.Statuses(),
      .synced = synced_,
      .stale = stale_,
      .stale_since_unix_ms = stale_since_unix_ms_,
      .problems = std::move(problems),
  };
  if (reported_ && state.objects == last_reported_.objects &&
      state.statuses == last_reported_.statuses && state.problems == last_reported_.problems &&
      state.stale == last_reported_.stale) {
    return;
  }
  reported_ = true;
  last_reported_ = state;
  if (options_.log_endpoints_fallback) fallback_log_.Update(state.objects);
  on_change_(std::move(state));
}

}  // namespace propsy::sources
