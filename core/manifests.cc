#include "core/manifests.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <system_error>

#include "core/field_steps.h"
#include "core/kinds.h"
#include "core/parallel.h"

namespace bosun {
namespace fs = std::filesystem;

void SortDiagnostics(std::vector<Diagnostic>& diagnostics) {
  std::stable_sort(diagnostics.begin(), diagnostics.end(), [](const Diagnostic& a, const Diagnostic& b) {
    if (a.file != b.file) return a.file < b.file;
    if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
    return a.pos.column < b.pos.column;
  });
}

std::string Diagnostic::ToString() const {
  std::string out = file;
  if (pos.known()) out += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
  out += ": ";
  if (severity == Severity::kWarning) out += "warning: ";
  if (!field.empty()) out += field + ": ";
  out += message;
  return out;
}

Json Diagnostic::ToJson() const {
  return {{"severity", severity == Severity::kError ? "error" : "warning"},
          {"file", file},
          {"line", pos.line},
          {"column", pos.column},
          {"field", field},
          {"message", message}};
}

size_t DesiredSet::errors() const {
  return static_cast<size_t>(std::count_if(diagnostics.begin(), diagnostics.end(),
                                           [](const Diagnostic& d) { return d.severity == Severity::kError; }));
}

size_t DesiredSet::warnings() const { return diagnostics.size() - errors(); }

size_t DesiredSet::unknown_field_errors() const {
  return static_cast<size_t>(std::count_if(diagnostics.begin(), diagnostics.end(), [](const Diagnostic& d) {
    return d.unknown_field && d.severity == Severity::kError;
  }));
}

bool IsManifestFile(const std::string& path) {
  auto ends = [&](const char* s) {
    size_t n = std::char_traits<char>::length(s);
    return path.size() > n && path.compare(path.size() - n, n, s) == 0;
  };
  return ends(".yaml") || ends(".yml") || ends(".json");
}

namespace {

// The text of `folder`'s .bosunignore, "" when it has none.
Result<std::string> ReadIgnoreFile(const std::string& folder) {
  const fs::path file = fs::path(folder) / kIgnoreFileName;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::string();
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return Error(Code::kIo, file.string() + ": cannot read it");
  return text;
}

}  // namespace

Result<std::vector<std::string>> FindManifestFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& root : paths) {
    std::error_code ec;
    fs::file_status st = fs::status(root, ec);
    if (ec || !fs::exists(st)) return Error(Code::kNotFound, root + ": no such file or directory");
    if (!fs::is_directory(st)) {
      out.push_back(root);
      continue;
    }
    auto filter = ReadManifestFilter(root);
    if (!filter) return filter.error();
    fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
    if (ec) return Error(Code::kIo, root + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) return Error(Code::kIo, it->path().string() + ": " + ec.message());
      const fs::path& p = it->path();
      const std::string rel = p.lexically_relative(root).generic_string();
      // As the sync reads a commit: regular files only. A symbolic link is
      // a path in Git, not YAML; a submodule (a folder with its own .git)
      // is a commit of another repository.
      if (it->is_symlink(ec)) continue;
      if (it->is_directory(ec)) {
        // Nothing under a dot-folder, an ignored folder or a submodule is read.
        if (p.filename().string().starts_with(".") || filter->Ignored(rel, true) || fs::exists(p / ".git", ec)) {
          it.disable_recursion_pending();
          continue;
        }
        // Its own .bosunignore, before what it holds is looked at.
        auto text = ReadIgnoreFile(p.string());
        if (!text) return text.error();
        if (!text->empty()) filter->AddNested(rel, *text);
        continue;
      }
      if (it->is_regular_file(ec) && filter->Includes(rel)) out.push_back(p.string());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<ManifestFilter> ReadManifestFilter(const std::string& folder) {
  auto text = ReadIgnoreFile(folder);
  if (!text) return text.error();
  return ManifestFilter(*text);
}

Diagnostic DiagnosticAt(const Manifest& m, FieldError fe) {
  Diagnostic d;
  d.severity = fe.severity;
  d.file = m.file;
  if (m.positions) d.pos = m.positions->Find(fe.path);
  if (!d.pos.known()) d.pos = m.start;
  d.field = fe.path.str();
  d.message = std::move(fe.message);
  d.unknown_field = fe.unknown_field;
  return d;
}

namespace {

// LoadYaml's messages are lines of "FILE:LINE:COL: MESSAGE" (several for
// duplicate keys, which also name their field: "FIELD: duplicate key ...");
// each becomes a diagnostic, split back apart so they sort by position.
void AddLoadError(const std::string& file, const Error& e, std::vector<Diagnostic>* out) {
  std::string_view all = e.message();
  while (!all.empty()) {
    size_t nl = all.find('\n');
    std::string msg(all.substr(0, nl));
    all = nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);
    Diagnostic d;
    d.file = file;
    if (msg.rfind(file + ":", 0) == 0) {
      std::string rest = msg.substr(file.size() + 1);
      int line = 0, col = 0, used = 0;
      if (std::sscanf(rest.c_str(), "%d:%d: %n", &line, &col, &used) == 2 && used > 0) {
        d.pos = SourcePos{line, col};
        rest = rest.substr(static_cast<size_t>(used));
      } else if (rest.rfind(" ", 0) == 0) {
        rest = rest.substr(1);
      }
      msg = rest;
    }
    static constexpr std::string_view kDuplicate = ": duplicate key \"";
    if (size_t at = msg.find(kDuplicate); at != std::string::npos) {
      d.field = msg.substr(0, at);
      msg = msg.substr(at + 2);
    }
    d.message = std::move(msg);
    out->push_back(std::move(d));
  }
}

void ValidateDocs(const std::string& file, std::vector<Document>& docs, LoadedFile* out) {
  for (Document& doc : docs) {
    Manifest m;
    m.object = Object(std::move(doc.value));
    m.file = file;
    m.index = doc.index;
    m.start = doc.start;
    m.positions = doc.positions;
    const KindInfo* kind = m.object.json().is_object() ? KindRegistry::Builtin().Find(m.object.gvk()) : nullptr;
    if (std::optional<std::string> why = kind != nullptr ? NotFromManifests(*kind) : std::nullopt) {
      out->diagnostics.push_back(DiagnosticAt(m, {Severity::kError, FieldPath("kind"), std::move(*why)}));
    } else {
      for (FieldError& fe : ValidateObject(m.object)) out->diagnostics.push_back(DiagnosticAt(m, std::move(fe)));
    }
    // The sync's leave to delete and create the object again when the
    // repository changes an immutable field (reconciler/plan.h
    // kForceAnnotation): a manifest's word only, so the API does not check it.
    // So is whether it is pruned when it leaves the repository
    // (kPruneAnnotation), and which of its fields the cluster owns
    // (kIgnoreFieldsAnnotation).
    for (const char* yes_no : {"bosun.dev/force", "bosun.dev/prune"}) {
      if (auto v = m.object.annotation(yes_no); v && *v != "true" && *v != "false") {
        out->diagnostics.push_back(
            DiagnosticAt(m, {Severity::kError, FieldPath("metadata").Child("annotations").Child(yes_no),
                             "must be \"true\" or \"false\", not \"" + *v + "\""}));
      }
    }
    if (auto fields = m.object.annotation("bosun.dev/ignore-fields")) {
      for (std::string& why : OwnedFieldErrors(*fields)) {
        out->diagnostics.push_back(DiagnosticAt(
            m, {Severity::kError, FieldPath("metadata").Child("annotations").Child("bosun.dev/ignore-fields"),
                std::move(why)}));
      }
    }
    out->objects.push_back(std::move(m));
  }
}

template <typename LoadOne>
std::vector<LoadedFile> LoadEach(size_t n, LoadOne load_one) {
  std::vector<LoadedFile> results(n);
  ParallelFor(n, 2, [&](size_t i) {
    load_one(i, &results[i]);
    return true;
  });
  return results;
}

// "Kind ns/name" ("default" for a namespaced object without one).
std::string ObjectId(const Manifest& m, const KindInfo& kind) {
  const std::string ns = kind.NamespaceOf(m.object.namespace_());
  return kind.gvk.kind + " " + (ns.empty() ? "" : ns + "/") + m.object.name();
}

int NameLine(const Manifest& m) {
  return m.positions ? m.positions->Find(FieldPath("metadata.name")).line : 0;
}

Diagnostic AtName(const Manifest& m, std::string message) {
  Diagnostic d;
  d.file = m.file;
  d.pos = m.positions ? m.positions->Find(FieldPath("metadata.name")) : SourcePos{};
  d.field = "metadata.name";
  d.message = std::move(message);
  return d;
}

// The files' objects and diagnostics in one set, with the checks across files.
DesiredSet Assemble(std::vector<LoadedFile> results, std::optional<FieldValidation> mode) {
  const size_t n = results.size();
  DesiredSet set;
  set.files = n;
  for (auto& r : results) {
    set.bytes += r.bytes;
    std::move(r.objects.begin(), r.objects.end(), std::back_inserter(set.objects));
    std::move(r.diagnostics.begin(), r.diagnostics.end(), std::back_inserter(set.diagnostics));
  }

  std::map<std::string, const Manifest*> seen;
  const Manifest* sync_config = nullptr;
  const KindRegistry& reg = KindRegistry::Builtin();
  for (const Manifest& m : set.objects) {
    const KindInfo* info = reg.Find(m.object.gvk());
    if (info == nullptr || m.object.name().empty()) continue;
    auto [it, inserted] = seen.emplace(ObjectId(m, *info), &m);
    if (!inserted) {
      set.diagnostics.push_back(DuplicateObject(m, *info, *it->second));
    } else if (IsSyncConfig(*info)) {
      if (sync_config != nullptr) {
        set.diagnostics.push_back(SecondSyncConfig(m, *sync_config));
      } else {
        sync_config = &m;
      }
    }
  }
  set.field_validation = mode.value_or(FieldValidationOf(sync_config));
  ApplyFieldValidation(set.diagnostics, set.field_validation);
  SortDiagnostics(set.diagnostics);
  return set;
}

}  // namespace

Diagnostic DuplicateObject(const Manifest& m, const KindInfo& kind, const Manifest& first) {
  return AtName(m, "duplicate object: " + ObjectId(m, kind) + " is also defined at " + first.file + ":" +
                       std::to_string(NameLine(first)));
}

Diagnostic SecondSyncConfig(const Manifest& m, const Manifest& first) {
  return AtName(m, "a second SyncConfig (" + m.object.name() + "): the repository's settings are in SyncConfig " +
                       first.object.name() + " at " + first.file + ":" + std::to_string(NameLine(first)) +
                       "; keep one");
}

bool IsSyncConfig(const KindInfo& kind) {
  return kind.gvk.kind == "SyncConfig" && kind.gvk.group == "bosun.dev";
}

void ApplyFieldValidation(std::vector<Diagnostic>& diagnostics, FieldValidation mode) {
  if (mode == FieldValidation::kIgnore) {
    std::erase_if(diagnostics, [](const Diagnostic& d) { return d.unknown_field; });
    return;
  }
  for (Diagnostic& d : diagnostics) {
    if (d.unknown_field) d.severity = mode == FieldValidation::kStrict ? Severity::kError : Severity::kWarning;
  }
}

FieldValidation FieldValidationOf(const Manifest* sync_config, FieldValidation otherwise) {
  if (sync_config == nullptr) return otherwise;
  const Json& v = Object::Field(sync_config->object.spec(), "fieldValidation");
  if (!v.is_string()) return otherwise;
  return ParseFieldValidation(v.get_ref<const std::string&>()).value_or(otherwise);
}

DesiredSet LoadDesiredSet(const std::vector<std::string>& files, const LoadLimits& limits,
                          std::optional<FieldValidation> mode) {
  return Assemble(LoadEach(files.size(),
                           [&](size_t i, LoadedFile* out) {
                             const std::string& file = files[i];
                             std::error_code ec;
                             auto size = fs::file_size(file, ec);
                             if (!ec) out->bytes = size;
                             auto docs = LoadYamlFile(file, limits);
                             if (!docs) {
                               AddLoadError(file, docs.error(), &out->diagnostics);
                               return;
                             }
                             ValidateDocs(file, *docs, out);
                           }),
                  mode);
}

DesiredSet LoadDesiredSet(const std::vector<SourceFile>& files, const LoadLimits& limits,
                          std::optional<FieldValidation> mode) {
  return Assemble(LoadFiles(files, limits), mode);
}

LoadedFile LoadFile(const SourceFile& f, const LoadLimits& limits) {
  LoadedFile out;
  out.bytes = f.content.size();
  auto docs = LoadYaml(f.content, f.name, limits);
  if (!docs) {
    AddLoadError(f.name, docs.error(), &out.diagnostics);
    return out;
  }
  ValidateDocs(f.name, *docs, &out);
  return out;
}

std::vector<LoadedFile> LoadFiles(const std::vector<SourceFile>& files, const LoadLimits& limits) {
  return LoadEach(files.size(), [&](size_t i, LoadedFile* out) { *out = LoadFile(files[i], limits); });
}

}  // namespace bosun
