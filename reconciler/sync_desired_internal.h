// reconciler/sync_desired_internal.h — the desired set at a commit, loaded
// incrementally: the parsed result of each manifest file is kept by path
// with its blob id, and moving to a new commit re-reads and re-parses only
// the files the tree diff says changed (DESIGN.md §4: "work is incremental").
// The result equals a full LoadDesiredSet of the commit's files; the check
// that spans files (an object defined twice) is redone over the merged set.
//
// Also: what a repository's SyncConfig says (SyncSettings).
//
// Thread-safety: a DesiredSnapshot is immutable once built and may be shared
// between threads; a DesiredLoader is used by one thread at a time.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/kinds.h"
#include "core/manifests.h"
#include "core/result.h"
#include "gitsync/mirror.h"
#include "reconciler/plan.h"
#include "reconciler/sync_controller.h"

namespace bosun::reconciler {

// One manifest file, parsed and validated on its own.
struct DesiredFile {
  std::string path;  // from the repository root
  std::string blob;
  size_t bytes = 0;
  std::vector<Manifest> objects;
  std::vector<const KindInfo*> kinds;   // per object: ManifestKind
  std::vector<std::string> keys;        // per object: ManifestKey
  std::vector<Diagnostic> diagnostics;  // this file's own (not "duplicate object")
};

struct DesiredSnapshot {
  std::string commit;
  std::map<std::string, std::shared_ptr<const DesiredFile>> files;  // by path
  // Every object of a known kind with a name, by Informer::Key; the first
  // definition of a duplicated one. Points into `files`.
  std::unordered_map<std::string, const Manifest*> by_key;
  // Every object of a known kind with a name, with its kind (file order;
  // a duplicated one twice). Points into `files`.
  std::vector<std::pair<const KindInfo*, const Manifest*>> kinds_and_objects;
  // The namespaces those objects are in ("default" for namespaced ones
  // without one).
  std::set<std::string> namespaces;
  std::vector<Diagnostic> diagnostics;  // every file's plus duplicates, sorted by file and position
  size_t errors = 0;
  size_t unknown_field_errors = 0;  // of `errors`: unknown fields under Strict
  size_t warnings = 0;
  size_t objects = 0;
  size_t bytes = 0;
  // Set when the followed path does not exist at the commit: nothing of such
  // a commit is applied (an empty set would prune everything).
  std::string path_error;

  bool ok() const { return errors == 0 && path_error.empty(); }
  // The set as it was applied: a live revision applied by an older bosun
  // (or under fieldValidation Warn) may have unknown fields that Strict
  // counts as errors now; what is live is still this set.
  bool applied_ok() const { return errors == unknown_field_errors && path_error.empty(); }
  // The first SyncConfig of the set (by path), nullptr when none.
  const Manifest* sync_config = nullptr;

  const Manifest* Find(const std::string& key) const;
};

struct LoadStats {
  bool incremental = false;
  size_t files_read = 0;   // read and parsed again
  size_t files_total = 0;  // in the snapshot
};

// The kind of a manifest (nullptr when bosun does not know it) and its key
// (Informer::Key; "" for an unknown kind or a missing name). Namespaced
// objects without a namespace are in "default", as PlanSync places them.
const KindInfo* ManifestKind(const Manifest& m);
std::string ManifestKey(const Manifest& m);

class DesiredLoader {
 public:
  // `mirror` outlives the loader; `path` is the followed folder ("" = all).
  // `field_validation`: what unknown fields are when a commit's SyncConfig
  // does not say (the server's default).
  DesiredLoader(gitsync::Mirror* mirror, std::string path, LoadLimits limits = {},
                FieldValidation field_validation = FieldValidation::kStrict);

  // The desired set at `commit`. Only files changed since the last loaded
  // commit are read again. Errors are the mirror's (a missing commit, an
  // unreadable object); invalid manifests are not errors but diagnostics.
  Result<std::shared_ptr<const DesiredSnapshot>> Load(const std::string& commit, LoadStats* stats = nullptr);
  // Makes `snapshot` the base of the next Load (e.g. the live revision's).
  void SetBase(std::shared_ptr<const DesiredSnapshot> snapshot) { last_ = std::move(snapshot); }

 private:
  Result<std::shared_ptr<const DesiredSnapshot>> LoadFull(const std::string& commit, LoadStats* stats);

  gitsync::Mirror* mirror_;
  std::string path_;
  LoadLimits limits_;
  FieldValidation field_validation_;
  std::shared_ptr<const DesiredSnapshot> last_;
};

// What governs syncing: the repository's SyncConfig where it says so, the
// server's options (SyncOptions) otherwise.
struct SyncSettings {
  bool prune = true;
  bool self_heal = true;
  bool auto_revert = true;
  bool force = false;  // replace objects whose update changes an immutable field (spec.force)
  bool allow_empty = false;  // a revision with nothing but SyncConfigs and Policies may prune all (spec.allowEmpty)
  std::vector<IgnoreRule> ignore;  // the fields the cluster owns (spec.ignoreDifferences)
  std::string verify = "none";
  std::chrono::milliseconds interval{60000};
  size_t history_limit = 0;
  FieldValidation field_validation = FieldValidation::kStrict;  // applied by the load (Finish)
  std::string from;  // "SyncConfig default (deploy/sync.yaml)" or "server defaults"
};
SyncSettings SettingsFor(const DesiredSnapshot* snapshot, const SyncOptions& options);
// The objects of a set other than bosun's own settings (SyncConfig, Policy).
size_t WorkloadObjects(const DesiredSnapshot& snapshot);
// As GitRepository.status.syncConfig shows it.
Json SettingsJson(const SyncSettings& settings);

}  // namespace bosun::reconciler
