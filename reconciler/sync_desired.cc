// The incremental desired-set loader: see sync_desired_internal.h.
#include <algorithm>

#include "core/duration.h"
#include "core/log.h"
#include "core/parallel.h"
#include "reconciler/informer.h"
#include "reconciler/plan.h"
#include "reconciler/sync_desired_internal.h"

namespace bosun::reconciler {
namespace {

// One DesiredFile per source, in the sources' order: each file loaded and
// indexed on its own, on every core (as LoadFiles does); objects defined
// twice are found over the whole snapshot by Finish.
std::vector<std::shared_ptr<DesiredFile>> ParseFiles(const std::vector<SourceFile>& sources,
                                                     const std::vector<std::string>& blobs, const LoadLimits& limits) {
  std::vector<std::shared_ptr<DesiredFile>> out(sources.size());
  ParallelFor(sources.size(), 2, [&](size_t i) {
    LoadedFile loaded = LoadFile(sources[i], limits);
    auto f = std::make_shared<DesiredFile>();
    f->path = sources[i].name;
    f->blob = blobs[i];
    f->bytes = loaded.bytes;
    f->objects = std::move(loaded.objects);
    f->kinds.reserve(f->objects.size());
    f->keys.reserve(f->objects.size());
    for (const Manifest& m : f->objects) {
      f->kinds.push_back(ManifestKind(m));
      f->keys.push_back(ManifestKey(m));
    }
    f->diagnostics = std::move(loaded.diagnostics);
    out[i] = std::move(f);
    return true;
  });
  return out;
}

// Fills the index, the merged diagnostics (with the duplicate check of
// core/manifests.cc over every file) and the totals.
void Finish(DesiredSnapshot* s, FieldValidation otherwise) {
  std::vector<Diagnostic> duplicates;
  size_t n = 0;
  for (const auto& [path, file] : s->files) n += file->objects.size();
  s->by_key.reserve(n);
  s->kinds_and_objects.reserve(n);
  for (const auto& [path, file] : s->files) {
    s->bytes += file->bytes;
    s->objects += file->objects.size();
    s->diagnostics.insert(s->diagnostics.end(), file->diagnostics.begin(), file->diagnostics.end());
    for (size_t i = 0; i < file->objects.size(); ++i) {
      const Manifest& m = file->objects[i];
      const KindInfo* info = file->kinds[i];
      if (info == nullptr || file->keys[i].empty()) continue;
      s->kinds_and_objects.push_back({info, &m});
      // The checks of core/manifests.cc, over every file of the commit.
      auto [it, inserted] = s->by_key.emplace(file->keys[i], &m);
      if (!inserted) {
        duplicates.push_back(DuplicateObject(m, *info, *it->second));
      } else if (IsSyncConfig(*info)) {
        if (s->sync_config != nullptr) {
          duplicates.push_back(SecondSyncConfig(m, *s->sync_config));
        } else {
          s->sync_config = &m;
        }
      }
    }
  }
  s->namespaces = UsedNamespaces(s->kinds_and_objects);
  s->diagnostics.insert(s->diagnostics.end(), duplicates.begin(), duplicates.end());
  // The files keep their unknown fields as warnings: the next commit's
  // SyncConfig may take them otherwise.
  ApplyFieldValidation(s->diagnostics, FieldValidationOf(s->sync_config, otherwise));
  SortDiagnostics(s->diagnostics);
  for (const Diagnostic& d : s->diagnostics) {
    if (d.severity == Severity::kError) {
      ++s->errors;
      if (d.unknown_field) ++s->unknown_field_errors;
    } else {
      ++s->warnings;
    }
  }
}

}  // namespace

const Manifest* DesiredSnapshot::Find(const std::string& key) const {
  auto it = by_key.find(key);
  return it == by_key.end() ? nullptr : it->second;
}

const KindInfo* ManifestKind(const Manifest& m) {
  return KindRegistry::Builtin().Find(m.object.gvk());
}

std::string ManifestKey(const Manifest& m) {
  const KindInfo* info = ManifestKind(m);
  if (info == nullptr || m.object.name().empty()) return "";
  return Informer::KeyOf(*info, m.object);
}

DesiredLoader::DesiredLoader(gitsync::Mirror* mirror, std::string path, LoadLimits limits,
                             FieldValidation field_validation)
    : mirror_(mirror), path_(std::move(path)), limits_(limits), field_validation_(field_validation) {}

Result<std::shared_ptr<const DesiredSnapshot>> DesiredLoader::LoadFull(const std::string& commit, LoadStats* stats) {
  auto tree = mirror_->ReadTree(commit, path_);
  auto snap = std::make_shared<DesiredSnapshot>();
  snap->commit = commit;
  if (!tree) {
    if (tree.error().code() == Code::kNotFound && !path_.empty() && mirror_->Commit(commit).ok()) {
      snap->path_error = tree.error().message();
      last_ = snap;
      return std::shared_ptr<const DesiredSnapshot>(snap);
    }
    return tree.error();
  }
  std::vector<std::string> blobs;
  blobs.reserve(tree->size());
  for (const auto& f : *tree) blobs.push_back(f.blob);
  const size_t files_read = tree->size();
  for (auto& f : ParseFiles(gitsync::ToSourceFiles(std::move(*tree)), blobs, limits_)) {
    snap->files[f->path] = std::move(f);
  }
  Finish(snap.get(), field_validation_);
  if (stats != nullptr) {
    stats->incremental = false;
    stats->files_read = files_read;
    stats->files_total = snap->files.size();
  }
  last_ = snap;
  return std::shared_ptr<const DesiredSnapshot>(snap);
}

Result<std::shared_ptr<const DesiredSnapshot>> DesiredLoader::Load(const std::string& commit, LoadStats* stats) {
  if (last_ && last_->commit == commit) {
    if (stats != nullptr) *stats = LoadStats{true, 0, last_->files.size()};
    return last_;
  }
  if (!last_ || !last_->path_error.empty()) return LoadFull(commit, stats);
  auto changes = mirror_->Diff(last_->commit, commit, path_);
  if (!changes) {
    log::Warn("sync", "tree diff failed; reading the whole tree",
              {{"rev", commit.substr(0, 7)}, {"error", changes.error().message()}});
    return LoadFull(commit, stats);
  }
  auto snap = std::make_shared<DesiredSnapshot>();
  snap->commit = commit;
  snap->files = last_->files;
  std::vector<SourceFile> sources;
  std::vector<std::string> blobs;
  for (const gitsync::FileChange& c : *changes) {
    if (c.type == gitsync::FileChange::Type::kDeleted) {
      snap->files.erase(c.path);
      continue;
    }
    auto it = snap->files.find(c.path);
    if (it != snap->files.end() && it->second->blob == c.blob) continue;
    auto content = mirror_->ReadBlob(c.blob);
    if (!content) return content.error().Wrap(c.path);
    sources.push_back(SourceFile{c.path, std::move(*content)});
    blobs.push_back(c.blob);
  }
  // Every file gone may mean the followed path itself is gone: a full read
  // tells (and refuses such a commit rather than pruning everything).
  if (snap->files.empty() && sources.empty() && !path_.empty()) return LoadFull(commit, stats);
  for (auto& f : ParseFiles(sources, blobs, limits_)) snap->files[f->path] = std::move(f);
  Finish(snap.get(), field_validation_);
  if (stats != nullptr) {
    stats->incremental = true;
    stats->files_read = sources.size();
    stats->files_total = snap->files.size();
  }
  last_ = snap;
  return std::shared_ptr<const DesiredSnapshot>(snap);
}

SyncSettings SettingsFor(const DesiredSnapshot* snapshot, const SyncOptions& options) {
  SyncSettings s;
  s.prune = options.prune;
  s.self_heal = options.self_heal;
  s.interval = options.interval;
  s.history_limit = options.history_limit;
  s.field_validation = options.field_validation;
  s.from = "server defaults";
  const Manifest* m = snapshot != nullptr ? snapshot->sync_config : nullptr;
  if (m == nullptr) return s;
  s.from = "SyncConfig " + m->object.name() + " (" + m->file + ")";
  const Json& spec = m->object.spec();
  if (!spec.is_object()) return s;
  if (spec.contains("prune") && spec["prune"].is_boolean()) s.prune = spec["prune"].get<bool>();
  if (spec.contains("selfHeal") && spec["selfHeal"].is_boolean()) s.self_heal = spec["selfHeal"].get<bool>();
  if (spec.contains("autoRevert") && spec["autoRevert"].is_boolean()) s.auto_revert = spec["autoRevert"].get<bool>();
  if (spec.contains("force") && spec["force"].is_boolean()) s.force = spec["force"].get<bool>();
  if (spec.contains("allowEmpty") && spec["allowEmpty"].is_boolean()) s.allow_empty = spec["allowEmpty"].get<bool>();
  if (spec.contains("verify") && spec["verify"].is_string()) s.verify = spec["verify"].get<std::string>();
  s.ignore = IgnoreRulesOf(Object::Field(spec, "ignoreDifferences"));
  if (spec.contains("interval") && spec["interval"].is_string()) {
    auto d = ParseDuration(spec["interval"].get<std::string>());
    if (d && d->count() > 0) {
      s.interval = std::max<std::chrono::milliseconds>(std::chrono::seconds(1),
                                                       std::chrono::duration_cast<std::chrono::milliseconds>(*d));
    }
  }
  if (spec.contains("revisionHistoryLimit") && spec["revisionHistoryLimit"].is_number_integer()) {
    int64_t n = spec["revisionHistoryLimit"].get<int64_t>();
    if (n >= 0) s.history_limit = static_cast<size_t>(n);
  }
  s.field_validation = FieldValidationOf(m, options.field_validation);
  return s;
}

size_t WorkloadObjects(const DesiredSnapshot& snapshot) {
  size_t n = 0;
  for (const auto& [kind, m] : snapshot.kinds_and_objects) {
    if (!IsSettingsKind(kind->gvk)) ++n;
  }
  return n;
}

Json SettingsJson(const SyncSettings& s) {
  Json j = {{"prune", s.prune},
            {"selfHeal", s.self_heal},
            {"autoRevert", s.auto_revert},
            {"force", s.force},
            {"verify", s.verify},
            {"interval", FormatDuration(s.interval)},
            {"revisionHistoryLimit", s.history_limit},
            {"fieldValidation", FieldValidationName(s.field_validation)},
            {"ignoreDifferences", IgnoreRulesJson(s.ignore)},
            {"from", s.from}};
  if (s.allow_empty) j["allowEmpty"] = true;
  return j;
}

}  // namespace bosun::reconciler
