// core/manifests.h — a desired set: every manifest under some paths, loaded
// and validated, with every problem located as FILE:LINE:COL: FIELD: MESSAGE.
//
// This is what `bosun validate` runs and what the sync controller will run on
// each Git revision before it writes anything: the set is usable only when it
// has no errors (warnings are reported but do not block). An unknown field is
// an error unless the set's SyncConfig says `fieldValidation: Warn` or
// `Ignore` (ApplyFieldValidation).
//
// Loading runs on a small pool of threads (one per core); the result does not
// depend on the order files were read in: objects and diagnostics are sorted by
// file and position.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/field_path.h"
#include "core/kinds.h"
#include "core/manifest_filter.h"
#include "core/object.h"
#include "core/result.h"
#include "core/validation.h"
#include "core/yaml.h"

namespace bosun {

struct Diagnostic {
  Severity severity = Severity::kError;
  std::string file;
  SourcePos pos;
  std::string field;  // empty for file-level problems (syntax errors)
  std::string message;
  bool unknown_field = false;  // its severity is the reader's FieldValidation

  // "web/deploy.yaml:14:9: spec.template.spec.containers[0].image: required",
  // with "warning: " after the location for warnings.
  std::string ToString() const;
  // {"severity": "error"|"warning", "file", "line", "column", "field", "message"}
  // (`-o json` of `bosun validate` and `bosun diff`).
  Json ToJson() const;
};

// Sorts diagnostics by file, then line and column; the order of those at
// one position is kept.
void SortDiagnostics(std::vector<Diagnostic>& diagnostics);

struct Manifest {
  Object object;
  std::string file;  // as shown in messages (the path under the given root)
  int index = 0;     // document index within the file
  SourcePos start;
  std::shared_ptr<const SourceMap> positions;
};

struct DesiredSet {
  std::vector<Manifest> objects;
  std::vector<Diagnostic> diagnostics;
  size_t files = 0;
  size_t bytes = 0;
  // What its unknown fields were taken as (ApplyFieldValidation).
  FieldValidation field_validation = FieldValidation::kStrict;

  size_t errors() const;
  size_t warnings() const;
  // Of errors(): unknown fields (under Strict).
  size_t unknown_field_errors() const;
  bool ok() const { return errors() == 0; }
};

// A file's name (for messages) and its content: the input from Git, where
// there are no files on disk.
struct SourceFile {
  std::string name;
  std::string content;
};

// True for *.yaml, *.yml and *.json.
bool IsManifestFile(const std::string& path);

// Every manifest file under `paths`, sorted. A file is taken as given; a
// folder is walked recursively and what it holds is chosen by its
// ManifestFilter (core/manifest_filter.h: no dot-names, the .bosunignore
// files of the folder and of the folders under it) and, as the sync reads a
// commit, regular files only: not symbolic links, nor what a submodule (a
// folder with its own .git) holds.
// Fails when a path does not exist or cannot be read.
Result<std::vector<std::string>> FindManifestFiles(const std::vector<std::string>& paths);

// The ManifestFilter of a folder on disk: its .bosunignore, if it has one.
Result<ManifestFilter> ReadManifestFilter(const std::string& folder);

// Unknown fields under `mode`: each becomes an error (Strict) or a warning
// (Warn), or is dropped (Ignore). Other diagnostics are left as they are.
void ApplyFieldValidation(std::vector<Diagnostic>& diagnostics, FieldValidation mode);
// A repository's choice: its SyncConfig's spec.fieldValidation, `otherwise`
// when it says none (or there is no SyncConfig).
FieldValidation FieldValidationOf(const Manifest* sync_config, FieldValidation otherwise = FieldValidation::kStrict);

// Loads and validates files from disk. Unknown fields are taken as `mode`,
// or as the set's SyncConfig says when it is not given.
DesiredSet LoadDesiredSet(const std::vector<std::string>& files, const LoadLimits& limits = {},
                          std::optional<FieldValidation> mode = std::nullopt);
// Loads and validates files already in memory.
DesiredSet LoadDesiredSet(const std::vector<SourceFile>& files, const LoadLimits& limits = {},
                          std::optional<FieldValidation> mode = std::nullopt);

// The errors only the whole set shows (LoadDesiredSet makes both checks; a
// caller that keeps files apart, as the GitOps sync does, makes them itself):
// `m` defines the same object as `first` (the result would depend on file
// order), or is a second SyncConfig (a repository has one set of settings).
Diagnostic DuplicateObject(const Manifest& m, const KindInfo& kind, const Manifest& first);
// `fe` of manifest `m`, at the position of its field (or of the document).
Diagnostic DiagnosticAt(const Manifest& m, FieldError fe);
Diagnostic SecondSyncConfig(const Manifest& m, const Manifest& first);
bool IsSyncConfig(const KindInfo& kind);

// One file's objects and diagnostics, as LoadDesiredSet reads it.
struct LoadedFile {
  std::vector<Manifest> objects;
  std::vector<Diagnostic> diagnostics;
  size_t bytes = 0;
};

// Loads and validates one file on its own: LoadDesiredSet less the check for
// an object defined twice, which needs every file (a caller that keeps files
// apart, as the GitOps sync does, makes that check itself).
LoadedFile LoadFile(const SourceFile& file, const LoadLimits& limits = {});
// LoadFile for each file, on every core, in the order given.
std::vector<LoadedFile> LoadFiles(const std::vector<SourceFile>& files, const LoadLimits& limits = {});

}  // namespace bosun
