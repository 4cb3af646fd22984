#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "model/cluster_objects.h"
#include "model/manifest.h"
#include "sources/cluster_source.h"
#include "sources/endpoints_fallback_log.h"

namespace propsy::sources {

struct DirSourceOptions {
  // Events closer together than this are one change (editor save bursts,
  // `kubectl cp` of several files): the tree is rescanned once they stop.
  std::chrono::milliseconds quiet_period{5};
  // ... but never later than this after the first event of a burst.
  std::chrono::milliseconds max_delay{1000};
  // While the directory is missing, how often to look for it again.
  std::chrono::milliseconds missing_poll{1000};
  // Log which services use their core/v1 Endpoints (no EndpointSlice):
  // set where the source is an endpoint cluster.
  bool log_endpoints_fallback = false;
  // -namespace: objects of other namespaces are ignored as if absent (no
  // problem is reported for them); empty = every namespace.
  std::vector<std::string> namespaces;
};

// A `dir:PATH` cluster: every *.yaml, *.yml and *.json file under PATH
// (recursively; names starting with "." are skipped, symlinks are followed so
// Kubernetes ConfigMap mounts with their ..data symlink work), each holding
// any number of objects (ProPsyService, EndpointSlice, Endpoints, Secret;
// other kinds are ignored).
//
// Watching: inotify on every directory of the tree, a thread that polls it
// and a stop eventfd. Any event starts a quiet period, then the whole tree is
// rescanned in sorted path order into one long-lived ObjectStore (objects no
// file defines any more are dropped). A rescan reads and decodes only files
// whose stat (inode, size, times) changed, so one edited file among
// thousands costs little more than listing the tree.
//
// Invariants:
// - Bad input never loses good objects: a file that stops parsing keeps
//   contributing the objects of its last good parse; an object whose update
//   fails to decode keeps its last good version (ObjectStore).
// - Two definitions of one kind + namespace/name: the first path in sort
//   order (and the first document in a file) wins; the other is a problem.
// - If PATH disappears, the last state is kept and reported stale until
//   PATH is back.
// - The callback runs after the first successful scan (synced), then only
//   when the objects, the problems or staleness changed.
class DirSource : public ClusterSource {
 public:
  // Fails unless `path` is a readable directory.
  static absl::StatusOr<std::unique_ptr<DirSource>> Create(std::string path,
                                                           DirSourceOptions options = {});
  ~DirSource() override;
  DirSource(const DirSource&) = delete;
  DirSource& operator=(const DirSource&) = delete;

  absl::Status Start(Callback on_change) override;
  std::string Describe() const override { return "dir:" + path_; }

 private:
  // What stat says about a file: a change of any of it means the file must
  // be read again. A replaced file (rename over it) has a new inode.
  struct FileStamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    int64_t modified_ns = 0;
    int64_t changed_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  struct ListedFile {
    std::string relative;
    FileStamp stamp;
  };
  // A document of a file: its kind and key when it has them, and how
  // problems name it ("Kind namespace/name").
  struct DocumentIdentity {
    size_t index = 0;  // in the file's documents
    int line = 0;
    std::optional<model::ObjectKind> kind;  // unset: no readable apiVersion/kind
    std::optional<model::ObjectKey> key;
    std::string what;  // empty unless both kind and key are known
  };
  // A manifest file as last read.
  struct FileState {
    FileStamp stamp;
    bool read = false;  // `stamp` is what was read
    // Of the content last read (not the content itself: thousands of files
    // would be held twice, as text and as documents).
    std::string content_hash;
    // The newest content that parsed (may be older than the content when
    // that does not parse): its parse generation (0: none yet) and its
    // documents, kept only until they are in the store. Thousands of small
    // documents would otherwise stay in memory beside the objects decoded
    // from them; the rare later need (a duplicate elsewhere came or went)
    // reads the file again.
    uint64_t parsed = 0;
    std::shared_ptr<const std::vector<model::ManifestDocument>> documents;
    std::string parse_problem;  // of the content; empty when it parsed
    // What each document is, read once per content.
    std::vector<DocumentIdentity> identities;
    // What went into the store from this file: the documents and which of
    // them won their key, with the decode problems. Unchanged files are not
    // decoded again, so a rescan costs a stat per file plus the changed ones.
    uint64_t stored = 0;  // parse generation in the store
    std::vector<bool> stored_wins;
    std::vector<std::pair<model::ObjectKind, model::ObjectKey>> stored_keys;  // the won ones
    std::vector<std::string> object_problems;
  };

  DirSource(std::string path, DirSourceOptions options);

  void Run();
  // Returns false when stop was requested while waiting.
  bool WaitForQuiet();
  // Reads pending inotify events; true if there were any.
  bool DrainEvents();
  void Rescan();
  // Lists manifest files (relative paths, sorted) and (re)adds watches for
  // every directory reached; false when the root is not a readable directory.
  bool ListTree(std::vector<ListedFile>* files);
  void ListDirectory(const std::string& relative, std::set<std::pair<dev_t, ino_t>>* visited,
                     std::set<int>* watches, std::vector<ListedFile>* files);
  // Reads and parses `file` unless its stamp or content is unchanged.
  void RefreshFile(const ListedFile& file);
  // Reads `state`'s documents again; false (and the file is read anew at the
  // next rescan) when the content is no longer the one last parsed.
  bool ReloadDocuments(const std::string& relative, FileState& state);
  // Sends the state if it differs from the last one sent.
  void Report(std::vector<std::string> problems);

  const std::string path_;
  const DirSourceOptions options_;
  int inotify_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
  Callback on_change_;

  // Owned by the thread once started.
  model::ObjectStore store_;
  std::map<std::string, FileState> files_;  // by path relative to path_
  uint64_t next_parse_ = 1;
  std::set<int> watches_;  // inotify watch descriptors
  bool synced_ = false;
  bool stale_ = false;
  int64_t stale_since_unix_ms_ = 0;
  std::vector<std::string> file_problems_;  // of the last successful scan
  std::set<std::string> logged_problems_;   // so each is logged once
  bool reported_ = false;
  ClusterState last_reported_;
  EndpointsFallbackLog fallback_log_{Describe()};
};

}  // namespace propsy::sources
