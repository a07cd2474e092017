// `bosun diff`: what syncing a set of manifests would change in the cluster —
// the pull-request preview. It loads the desired set (a folder on disk, a
// revision of a local Git repository, or the work tree), validates it as the
// sync controller would (its Policies included), lists the live objects
// through the API and prints the plan the controller would apply
// (reconciler/plan.h; pruning as the set's SyncConfig says, on by default).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli/client_flags.h"
#include "cli/gitops.h"
#include "cli/verbs.h"
#include "core/manifests.h"
#include "gitsync/local_repo.h"
#include "policies/policy.h"
#include "reconciler/informer.h"
#include "reconciler/plan.h"

namespace bosun::cli {
namespace {

namespace fs = std::filesystem;

struct DiffOptions {
  std::string revision;
  std::string path;
  std::string repo = ".";
  std::string subpath;
  bool subpath_given = false;
  std::string output;
  std::optional<FieldValidation> field_validation;
  ClientFlags client;
};

// Exit codes, as diff(1) has them the other way round: 0 nothing would
// change, 2 something would, 1 the comparison could not be made.
constexpr int kNoChanges = 0;
constexpr int kError = 1;
constexpr int kChanges = 2;

int Failed(const std::string& message) {
  std::fprintf(stderr, "bosun diff: %s\n", message.c_str());
  return kError;
}

// What was loaded and where it came from, for the summary line.
struct Loaded {
  DesiredSet set;
  std::string source;    // "revision 1a2b3c4 (\"Add web\")", "deploy/ on disk"
  std::string revision;  // the commit, for bosun.dev/revision ("" on disk)
  // The folder of the repository the set was read from ("deploy/web"), ""
  // for the whole repository or a folder outside any: managed objects from
  // files outside it are not this preview's to prune.
  std::string scope;
  // The SyncConfig the sync would read: the followed folder's, also when
  // the preview is of a folder inside it (nullopt: none).
  std::optional<Manifest> sync_config;
  // The Policies the sync would evaluate (docs/POLICIES.md): the followed
  // folder's, also when the preview is of a folder inside it.
  std::vector<Manifest> policies;
  // For a preview of a folder inside the followed one: every object of the
  // followed folder, which the sync evaluates the Policies on (empty: `set`
  // is all of it).
  std::vector<Manifest> whole;
  // Set when the folder asked for is outside the one the server follows:
  // the sync never reads it, so nothing of it reaches the cluster.
  bool outside_followed = false;
};

// Keeps, of the set read from the followed folder, the manifests (and
// their diagnostics) in `scope` when it is given; the SyncConfig is taken
// from the whole set first, as the sync reads it.
void TakeSet(Loaded* out, DesiredSet whole, const std::optional<std::string>& scope) {
  for (const Manifest& m : whole.objects) {
    const KindInfo* info = KindRegistry::Builtin().Find(m.object.gvk());
    if (info != nullptr && IsSyncConfig(*info)) {
      out->sync_config = m;
      break;
    }
  }
  for (const Manifest& m : whole.objects) {
    if (policies::IsPolicy(m)) out->policies.push_back(m);
  }
  if (scope) {
    out->whole = whole.objects;
    std::erase_if(whole.objects, [&](const Manifest& m) { return !gitsync::InFolder(m.file, *scope); });
    std::erase_if(whole.diagnostics,
                  [&](const Diagnostic& d) { return !d.file.empty() && !gitsync::InFolder(d.file, *scope); });
  }
  out->set = std::move(whole);
}

// Names files by their path from `root`, the way the sync controller names
// them (from the repository root), so the source-path marks compare equal.
void RenameFromRoot(DesiredSet* set, const fs::path& root) {
  auto rel = [&](const std::string& file) {
    std::error_code ec;
    fs::path abs = fs::weakly_canonical(fs::absolute(file, ec), ec);
    if (ec) return file;
    fs::path r = abs.lexically_relative(root);
    if (r.empty() || r.native().rfind("..", 0) == 0) return file;
    return r.generic_string();
  };
  std::map<std::string, std::string> renamed;  // as read → from the root
  for (Manifest& m : set->objects) {
    auto [it, added] = renamed.try_emplace(m.file);
    if (added) it->second = rel(m.file);
    m.file = it->second;
  }
  for (Diagnostic& d : set->diagnostics) {
    if (!d.file.empty()) d.file = rel(d.file);
    // A message naming another file ("is also defined at FILE:4") names it
    // the same way.
    if (const size_t at = d.message.find(" defined at "); at != std::string::npos) {
      const size_t from = at + 12;
      for (const auto& [was, now] : renamed) {
        if (was != now && d.message.compare(from, was.size() + 1, was + ":") == 0) {
          d.message.replace(from, was.size(), now);
          break;
        }
      }
    }
  }
}

using gitsync::CleanFolder;
using gitsync::InFolder;

// `file`'s path from `root`, '/'-separated ("deploy/web/cm.yaml"); it starts
// with ".." when `file` is outside `root`.
std::string FromRoot(const fs::path& root, const std::string& file) {
  std::error_code ec;
  return fs::weakly_canonical(fs::absolute(file, ec), ec).lexically_relative(root).generic_string();
}

// A folder on disk, named from `root`. In a Git work tree (`repo`), files
// git ignores are left out, as they can never reach the repository; those
// in `scope` (all, when nullopt) are named on stderr.
Result<DesiredSet> LoadFromDisk(const std::string& dir, const fs::path& root, const gitsync::LocalRepo* repo,
                                std::optional<FieldValidation> mode,
                                const std::optional<std::string>& scope = std::nullopt) {
  auto files = FindManifestFiles({dir});
  if (!files) return files.error();
  if (repo != nullptr) {
    std::vector<std::string> kept, ignored;
    for (std::string& f : *files) {
      const std::string rel = FromRoot(root, f);
      auto is = repo->IsIgnored(rel);
      if (!is) return is.error();
      if (!*is) {
        kept.push_back(std::move(f));
      } else if (!scope || InFolder(rel, *scope)) {
        ignored.push_back(std::move(f));
      }
    }
    if (!ignored.empty()) {
      std::string names;
      for (size_t i = 0; i < ignored.size() && i < 5; ++i) names += (i == 0 ? "" : ", ") + ignored[i];
      if (ignored.size() > 5) names += ", …";
      std::fprintf(stderr, "bosun diff: %zu file%s git ignores left out (never in a commit): %s\n", ignored.size(),
                   ignored.size() == 1 ? "" : "s", names.c_str());
    }
    *files = std::move(kept);
  }
  if (std::none_of(files->begin(), files->end(),
                   [&](const std::string& f) { return !scope || InFolder(FromRoot(root, f), *scope); })) {
    std::fprintf(stderr, "bosun diff: warning: no *.yaml, *.yml or *.json files under %s\n",
                 scope ? (root / *scope).c_str() : dir.c_str());
  }
  DesiredSet set = LoadDesiredSet(*files, {}, mode);
  RenameFromRoot(&set, root);
  return set;
}

// A preview of `scope`, a folder inside the one the server follows, reads
// the followed folder by its rules (the .bosunignore files from the
// followed folder down, as the sync reads them) and keeps what is in
// `scope`. nullopt when `scope` is the followed folder or outside it.
std::optional<std::string> FollowedAbove(const std::string& scope, const std::optional<std::string>& followed) {
  if (!followed || scope == *followed || !InFolder(scope, *followed)) return std::nullopt;
  return *followed;
}

// The folder of a preview of `scope` that the sync would read, when the
// server follows `followed`: `scope` itself when it is the followed folder
// or inside it (or the server follows no repository), the followed folder
// when that is inside `scope` (the sync reads nothing else of it), nullopt
// when the two do not meet. Says on stderr when it narrows the preview.
std::optional<std::string> ReadBySync(const std::string& scope, const std::optional<std::string>& followed) {
  if (!followed || InFolder(scope, *followed)) return scope;
  if (!InFolder(*followed, scope)) return std::nullopt;
  std::fprintf(stderr,
               "bosun diff: the server follows %s/: only that folder of %s is compared (the sync reads nothing else)\n",
               followed->c_str(), scope.empty() ? "the repository" : (scope + "/").c_str());
  return *followed;
}

// Where source paths are relative to for a folder on disk: the Git work
// tree holding it (`repo` then holds it open), else the folder itself.
fs::path RootFor(const std::string& dir, std::unique_ptr<gitsync::LocalRepo>* repo) {
  std::error_code ec;
  auto opened = gitsync::LocalRepo::Open(dir);
  if (opened && !(*opened)->workdir().empty()) {
    *repo = std::move(*opened);
    return fs::weakly_canonical((*repo)->workdir(), ec);
  }
  fs::path p = fs::weakly_canonical(fs::absolute(dir, ec), ec);
  if (fs::is_regular_file(p, ec)) p = p.parent_path();
  return p;
}

// `followed`: the folder the server follows, when it follows a repository.
Result<Loaded> Load(const DiffOptions& opt, const std::string& subpath_asked,
                    const std::optional<std::string>& followed) {
  Loaded out;
  if (!opt.path.empty()) {
    std::error_code ec;
    if (!fs::exists(opt.path, ec)) return Error(Code::kNotFound, opt.path + ": no such file or directory");
    std::unique_ptr<gitsync::LocalRepo> work_tree;
    const fs::path root = RootFor(opt.path, &work_tree);
    std::string dir = opt.path, shown = opt.path;
    if (work_tree) {
      std::string rel = FromRoot(root, opt.path);
      if (rel != "." && !rel.starts_with("..")) out.scope = rel;
      auto read = ReadBySync(out.scope, followed);
      out.source = opt.path + " on disk";
      if (!read) {
        out.outside_followed = true;
        return out;
      }
      if (*read != out.scope) {
        dir = (root / *read).string();
        shown = *read;
      }
      out.scope = *read;
    }
    if (!work_tree) {
      // Nothing says where in the repository these files would be: they
      // stand for all of it, and what is managed and not among them is
      // shown as pruned.
      std::fprintf(stderr,
                   "bosun diff: %s is not in a Git work tree: it is compared as the whole of what the server "
                   "follows%s, and managed objects not in it are shown as pruned (for a folder of the repository, "
                   "run bosun diff --path in a clone)\n",
                   opt.path.c_str(), followed && !followed->empty() ? (" (" + *followed + ")").c_str() : "");
    }
    auto above = work_tree ? FollowedAbove(out.scope, followed) : std::nullopt;
    auto set = above ? LoadFromDisk((root / *above).string(), root, work_tree.get(), opt.field_validation, out.scope)
                     : LoadFromDisk(dir, root, work_tree.get(), opt.field_validation);
    if (!set) return set.error();
    TakeSet(&out, std::move(*set), above ? std::optional<std::string>(out.scope) : std::nullopt);
    out.source = shown + " on disk";
    return out;
  }
  const std::optional<std::string> read = ReadBySync(subpath_asked, followed);
  if (!read) {
    // Outside the followed folder, but not there at all: a mistyped
    // --subpath is an error, not "nothing the sync reads".
    if (auto r = gitsync::LocalRepo::Open(opt.repo); r && !subpath_asked.empty()) {
      if (opt.revision.empty()) {
        std::error_code ec;
        if (!(*r)->workdir().empty() && !fs::exists(fs::path((*r)->workdir()) / subpath_asked, ec)) {
          return Error(Code::kNotFound, "the work tree has no " + subpath_asked + " (give --subpath, or --path DIR)");
        }
      } else if (auto c = (*r)->Resolve(opt.revision)) {
        if (auto t = (*r)->ReadTree(*c, subpath_asked); !t && t.error().code() == Code::kNotFound) return t.error();
      }
    }
    out.source =
        opt.revision.empty() ? subpath_asked + " in the work tree" : "revision " + opt.revision + ", " + subpath_asked;
    out.outside_followed = true;
    return out;
  }
  const std::string& subpath = *read;
  auto repo = gitsync::LocalRepo::Open(opt.repo);
  if (!repo && repo.error().code() == Code::kNotFound) {
    return Error(Code::kNotFound,
                 repo.error().message() + " (run bosun diff in a clone, point --repo at one, or give --path DIR)");
  }
  if (!repo) return repo.error();
  if (opt.revision.empty()) {
    if ((*repo)->workdir().empty()) {
      return Error(Code::kInvalid, opt.repo + " is a bare repository: give --revision REV (or --path DIR)");
    }
    fs::path dir = fs::path((*repo)->workdir()) / subpath;
    std::error_code ec;
    if (!subpath.empty() && !fs::exists(dir, ec)) {
      return Error(Code::kNotFound, "the work tree has no " + subpath + " (give --subpath, or --path DIR)");
    }
    const fs::path root = fs::weakly_canonical((*repo)->workdir(), ec);
    auto above = FollowedAbove(subpath, followed);
    auto set = above ? LoadFromDisk((root / *above).string(), root, repo->get(), opt.field_validation, subpath)
                     : LoadFromDisk(dir.string(), root, repo->get(), opt.field_validation);
    if (!set) return set.error();
    TakeSet(&out, std::move(*set), above ? std::optional<std::string>(subpath) : std::nullopt);
    out.source = subpath.empty() ? "the work tree " + (*repo)->workdir() : subpath + " in the work tree";
    out.scope = subpath;
    return out;
  }
  auto commit = (*repo)->Resolve(opt.revision);
  if (!commit) return commit.error();
  auto above = FollowedAbove(subpath, followed);
  auto files = (*repo)->ReadTree(*commit, above ? *above : subpath);
  if (!files) return files.error();
  if (std::none_of(files->begin(), files->end(),
                   [&](const gitsync::TreeFile& f) { return InFolder(f.path, subpath); })) {
    // A folder inside the followed one that the commit does not have at all:
    // an error, as for the work tree (not a preview of nothing).
    if (above) {
      if (auto t = (*repo)->ReadTree(*commit, subpath); !t && t.error().code() == Code::kNotFound) return t.error();
    }
    std::fprintf(stderr, "bosun diff: warning: no *.yaml, *.yml or *.json files under %s at %s\n",
                 subpath.empty() ? "the repository root" : subpath.c_str(), ShortSha(*commit).c_str());
  }
  TakeSet(&out, LoadDesiredSet(gitsync::ToSourceFiles(*files), {}, opt.field_validation),
          above ? std::optional<std::string>(subpath) : std::nullopt);
  out.revision = *commit;
  out.source = "revision " + ShortSha(*commit);
  if (auto info = (*repo)->Commit(*commit)) out.source += " (\"" + info->summary + "\")";
  if (!subpath.empty()) out.source += ", " + subpath;
  out.scope = subpath;
  return out;
}

// Whether the sync of this set prunes, as the sync controller decides it:
// the set's SyncConfig's spec.prune, else the server's default (on).
// `from` says which, for the output.
// The SyncConfig's boolean spec.`field`, or `otherwise` (the server's
// default); *from says which.
bool SyncConfigFlag(const Loaded& loaded, const char* field, bool otherwise, std::string* from) {
  if (const auto& m = loaded.sync_config) {
    const Json& value = Object::Field(m->object.spec(), field);
    if (value.is_boolean()) {
      *from = "SyncConfig " + m->object.name() + " (" + m->file + ")";
      return value.get<bool>();
    }
  }
  *from = "the server's default";
  return otherwise;
}

// The SyncConfig's spec.ignoreDifferences, as the sync reads it.
std::vector<reconciler::IgnoreRule> SyncConfigIgnore(const Loaded& loaded) {
  if (!loaded.sync_config) return {};
  return reconciler::IgnoreRulesOf(Object::Field(loaded.sync_config->object.spec(), "ignoreDifferences"));
}

std::string Ref(const reconciler::PlannedChange& c) {
  return c.kind->gvk.kind + " " + (c.ns.empty() ? "" : c.ns + "/") + c.name;
}

Json ChangeJson(const reconciler::PlannedChange& c) {
  Json j = {{"action", reconciler::ActionName(c.action)},
            {"apiVersion", c.kind->gvk.ApiVersion()},
            {"kind", c.kind->gvk.kind},
            {"namespace", c.ns},
            {"name", c.name},
            {"path", c.path}};
  if (c.action == reconciler::PlannedChange::Action::kReplace) {
    j["immutable"] = Json::array();
    for (const Diagnostic& d : c.immutable) j["immutable"].push_back(d.field);
  }
  // Field changes, a Secret's without their values.
  auto changes = [&](const std::vector<reconciler::FieldChange>& fields) {
    Json list = Json::array();
    for (const auto& f : fields) {
      Json d = reconciler::FieldChangeToJson(f);
      if (IsSecretField(c.kind->gvk.kind, f.field)) {
        d.erase("from");
        d.erase("to");
      }
      list.push_back(std::move(d));
    }
    return list;
  };
  if (c.action == reconciler::PlannedChange::Action::kUpdate ||
      c.action == reconciler::PlannedChange::Action::kReplace) {
    j["diff"] = changes(c.diff);
  }
  if (!c.ignored.empty()) j["ignored"] = changes(c.ignored);
  return j;
}

// A preview of one folder of the repository ("deploy/web" while the server
// follows "deploy") says nothing of the objects the rest of the repository
// makes: the managed live objects whose source path is outside `scope` and
// that the set does not name are dropped from `live`, so they are neither
// pruned nor kept. Returns how many.
size_t LeaveOutOfScope(std::vector<Object>* live, const DesiredSet& set, const std::string& scope) {
  if (scope.empty()) return 0;
  const KindRegistry& reg = KindRegistry::Builtin();
  auto key = [&](const Object& o) -> std::string {
    const KindInfo* k = reg.Find(o.gvk());
    return k == nullptr ? "" : reconciler::Informer::KeyOf(*k, o);
  };
  std::set<std::string> named;
  for (const Manifest& m : set.objects) named.insert(key(m.object));
  const size_t before = live->size();
  std::erase_if(*live, [&](const Object& o) {
    if (o.label(reconciler::kManagedByLabel) != std::optional<std::string>(reconciler::kManagedByValue)) return false;
    std::string path = o.annotation(reconciler::kSourcePathAnnotation).value_or("");
    if (path.empty() || InFolder(path, scope)) return false;
    return named.count(key(o)) == 0;
  });
  return before - live->size();
}

// What of `set` the sync would refuse for a namespace that does not exist;
// `live` is ListLive's (every live object of the set's kinds).
Result<reconciler::MissingNamespaces> MissingNamespacesOf(state::Client& client, const DesiredSet& set,
                                                          const std::vector<Object>& live) {
  const KindRegistry& reg = KindRegistry::Builtin();
  std::set<std::string> live_keys;
  for (const Object& o : live) {
    if (const KindInfo* k = reg.Find(o.gvk())) live_keys.insert(reconciler::Informer::KeyOf(*k, o));
  }
  std::vector<std::pair<const KindInfo*, const Manifest*>> refs;
  for (const Manifest& m : set.objects) refs.push_back({reg.Find(m.object.gvk()), &m});
  return reconciler::FindMissingNamespaces(
      refs, [&](const std::string& ns) { return reconciler::GetNamespaceState(client, ns); },
      [&](const KindInfo& kind, const Manifest& m) -> Result<bool> {
        return live_keys.count(reconciler::Informer::Key(kind, m.object.namespace_(), m.object.name())) != 0;
      });
}

int RunDiff(DiffOptions opt) {
  if (!opt.revision.empty() && !opt.path.empty()) {
    return Failed("give --revision REV (a commit of the repository) or --path DIR (files on disk), not both");
  }
  if (!opt.path.empty() && opt.subpath_given) {
    return Failed(
        "--subpath is for --revision and the work tree; with --path, point --path at the folder itself, in a clone "
        "of the repository (a folder outside a Git work tree stands for the whole of what the server follows)");
  }
  auto client = MakeClient(opt.client);
  if (!client) return Failed(client.error().message());

  // The folder the server follows: by default the one a pull request
  // changes; for a preview of a folder inside it, the one whose rules apply.
  std::optional<std::string> followed;
  auto repo = GetGitRepository(**client);
  if (repo) {
    const Json& p = Object::Field(repo->spec(), "path");
    followed = CleanFolder(p.is_string() ? p.get<std::string>() : "");
  } else if (repo.error().code() != Code::kNotFound) {
    return Failed(repo.error().message());
  }
  std::string subpath = CleanFolder(opt.subpath_given || !followed ? opt.subpath : *followed);

  auto loaded = Load(opt, subpath, followed);
  if (!loaded) return Failed(loaded.error().message());
  if (loaded->outside_followed) {
    // A pull request that changes only files the sync never reads changes
    // nothing in the cluster.
    const std::string why =
        loaded->source + " is outside the folder the server follows (" + *followed + "/): the sync never reads it";
    if (opt.output == "json") {
      Json out = {{"source", loaded->source},
                  {"valid", true},
                  {"diagnostics", Json::array()},
                  {"created", 0},
                  {"updated", 0},
                  {"deleted", 0},
                  {"unchanged", 0},
                  {"changes", Json::array()},
                  {"followed", *followed},
                  {"outsideFollowed", true},
                  {"note", why}};
      std::printf("%s\n", out.dump(4, ' ', false, Json::error_handler_t::replace).c_str());
    } else {
      std::printf("No changes: %s.\n", why.c_str());
    }
    return kNoChanges;
  }
  const DesiredSet& set = loaded->set;
  for (const Diagnostic& d : set.diagnostics) std::fprintf(stderr, "%s\n", d.ToString().c_str());
  Json diagnostics = Json::array();
  for (const Diagnostic& d : set.diagnostics) diagnostics.push_back(d.ToJson());
  // A revision the sync would refuse: why, on stderr and as the error; with
  // -o json, for CI, what is wrong and where on stdout too.
  auto refused = [&](const std::string& what) {
    const std::string why = what + ": bosun would refuse this revision and change nothing";
    if (opt.output == "json") {
      Json out = {{"source", loaded->source},
                  {"revision", loaded->revision},
                  {"valid", false},
                  {"error", why},
                  {"diagnostics", diagnostics}};
      std::printf("%s\n", out.dump(4, ' ', false, Json::error_handler_t::replace).c_str());
    }
    return Failed(why);
  };
  // The repository's Policies, as the sync evaluates them (after the
  // manifests, before the namespaces): an invalid Policy or an enforced
  // violation refuses the revision; warnings are printed and go on. With
  // invalid manifests too, on the objects that loaded: the refusal lists
  // both, as the sync's record does.
  std::vector<const Manifest*> policy_docs;
  for (const Manifest& m : loaded->policies) policy_docs.push_back(&m);
  // On the whole followed folder, as the sync: a Policy change that
  // breaks another folder is this preview's refusal too.
  std::vector<policies::Subject> subjects;
  for (const Manifest& m : loaded->whole.empty() ? set.objects : loaded->whole) {
    subjects.push_back({&m, policies::RelativePath(m.file, followed.value_or(""))});
  }
  const policies::PolicySet pset = policies::ParsePolicies(policy_docs, set.field_validation);
  policies::Verdict verdict;
  if (pset.ok()) verdict = policies::Evaluate(pset.policies, subjects);
  {
    // A malformed Policy is also the manifests' own error: said once.
    std::set<std::string> said;
    for (const Diagnostic& d : set.diagnostics) said.insert(d.ToString());
    std::vector<Diagnostic> found;
    for (const Diagnostic& d : pset.diagnostics) {
      if (said.insert(d.ToString()).second) found.push_back(d);
    }
    for (const Diagnostic& d : verdict.Diagnostics()) found.push_back(d);
    SortDiagnostics(found);
    for (const Diagnostic& d : found) {
      std::fprintf(stderr, "%s\n", d.ToString().c_str());
      diagnostics.push_back(d.ToJson());
    }
  }
  const size_t policy_errors = pset.errors();
  const std::string policy_refusal = !pset.ok() ? std::to_string(policy_errors) + " error" +
                                                      (policy_errors == 1 ? "" : "s") + " in the repository's Policies"
                                     : verdict.refused() ? verdict.Summary()
                                                         : "";
  if (!set.ok()) {
    size_t e = set.errors();
    // Every error at once: also the objects the sync would refuse for a
    // namespace that does not exist (best effort; the namespaces are looked
    // up first, then only the objects in those that lack).
    const KindRegistry& reg = KindRegistry::Builtin();
    std::vector<std::pair<const KindInfo*, const Manifest*>> refs;
    for (const Manifest& m : set.objects) refs.push_back({reg.Find(m.object.gvk()), &m});
    auto missing = reconciler::FindMissingNamespaces(
        refs, [&](const std::string& ns) { return reconciler::GetNamespaceState(**client, ns); },
        [&](const KindInfo& kind, const Manifest& m) -> Result<bool> {
          auto got = (*client)->Get(kind, m.object.namespace_(), m.object.name());
          if (got) return true;
          if (got.error().code() == Code::kNotFound) return false;
          return got.error();
        });
    if (missing && !missing->empty()) {
      for (const Diagnostic& d : missing->diagnostics) {
        std::fprintf(stderr, "%s\n", d.ToString().c_str());
        diagnostics.push_back(d.ToJson());
      }
      e += missing->diagnostics.size();
    }
    std::string why = std::to_string(e) + (e == 1 ? " error" : " errors") + " in the manifests of " + loaded->source;
    if (const size_t u = set.unknown_field_errors(); u > 0) {
      why += " (" + std::to_string(u) + " unknown field" + (u == 1 ? "" : "s") +
             ": --field-validation=warn, or spec.fieldValidation: Warn in the SyncConfig, takes them as warnings)";
    }
    if (!policy_refusal.empty()) why += "; and " + policy_refusal;
    return refused(why);
  }
  if (!policy_refusal.empty()) return refused(policy_refusal);

  auto live = reconciler::ListLive(**client, set.objects);
  if (!live) return Failed(live.error().message());
  auto missing = MissingNamespacesOf(**client, set, *live);
  if (!missing) return Failed(missing.error().message());
  if (!missing->empty()) {
    for (const Diagnostic& d : missing->diagnostics) {
      std::fprintf(stderr, "%s\n", d.ToString().c_str());
      diagnostics.push_back(d.ToJson());
    }
    return refused(missing->Summary());
  }
  // Only a preview of a folder inside the followed one leaves the rest of the
  // repository out. Of the followed folder itself, a managed object from a
  // file outside it (made while the server followed another folder) is one
  // the sync prunes: shown deleted, as the sync will do.
  const bool part_of_followed = !followed || (loaded->scope != *followed && InFolder(loaded->scope, *followed));
  const size_t outside = part_of_followed ? LeaveOutOfScope(&*live, set, loaded->scope) : 0;
  reconciler::PlanOptions po;
  po.revision = loaded->revision;
  std::string prune_from;
  po.prune = SyncConfigFlag(*loaded, "prune", true, &prune_from);
  std::string force_from;
  po.force = SyncConfigFlag(*loaded, "force", false, &force_from);
  po.ignore = SyncConfigIgnore(*loaded);
  reconciler::Plan plan = reconciler::PlanSync(set.objects, *live, po);
  // Updates the API would refuse (an immutable field changed, without
  // force): the sync would fail the revision with these.
  if (auto immutable = plan.ImmutableErrors(); !immutable.empty()) {
    std::set<std::string> objects;
    for (const Diagnostic& d : immutable) {
      std::fprintf(stderr, "%s\n", d.ToString().c_str());
      diagnostics.push_back(d.ToJson());
    }
    for (const auto& c : plan.changes) {
      if (c.action == reconciler::PlannedChange::Action::kUpdate && !c.immutable.empty()) objects.insert(Ref(c));
    }
    const size_t n = objects.size();
    return refused(std::to_string(n) + (n == 1 ? " object changes" : " objects change") + " immutable fields (" +
                   reconciler::ImmutableAdvice(n) + ")");
  }
  // The followed folder emptied (its files moved elsewhere): the sync refuses
  // a revision that would delete every object, unless its SyncConfig allows it.
  std::string allow_empty_from;
  if (followed && !part_of_followed && po.prune && plan.deleted > 0 &&
      !SyncConfigFlag(*loaded, "allowEmpty", false, &allow_empty_from) &&
      std::none_of(set.objects.begin(), set.objects.end(),
                   [](const Manifest& m) { return !reconciler::IsSettingsKind(m.object.gvk()); })) {
    Diagnostic d;
    d.file = *followed;
    d.message = reconciler::NoManifestsMessage(*followed, static_cast<size_t>(plan.deleted));
    std::fprintf(stderr, "%s\n", d.ToString().c_str());
    diagnostics.push_back(d.ToJson());
    return refused("no manifests (NoManifests)");
  }
  // The managed objects no longer in the set that stay (prune off, their
  // bosun.dev/prune, a Namespace in use): not a change, but shown, as nothing
  // else would say they are left behind.
  const std::vector<reconciler::PlannedChange>& kept = plan.kept;

  if (opt.output == "json") {
    Json out = {{"source", loaded->source},
                {"revision", loaded->revision},
                {"valid", true},
                {"diagnostics", diagnostics},
                {"created", plan.created},
                {"updated", plan.updated},
                {"deleted", plan.deleted},
                {"unchanged", plan.unchanged},
                {"prune", po.prune},
                {"replaced", plan.replaced},
                {"force", po.force},
                {"pruneFrom", prune_from},
                {"changes", Json::array()},
                {"kept", Json::array()},
                {"scope", loaded->scope},
                {"outOfScope", outside}};
    for (const auto& c : plan.changes) {
      if (c.action != reconciler::PlannedChange::Action::kUnchanged || !c.ignored.empty()) {
        out["changes"].push_back(ChangeJson(c));
      }
    }
    for (const auto& c : kept) {
      Json k = ChangeJson(c);
      k["action"] = "kept";
      k["reason"] = reconciler::KeptName(c.kept);
      out["kept"].push_back(std::move(k));
    }
    std::printf("%s\n", out.dump(4, ' ', false, Json::error_handler_t::replace).c_str());
    return plan.empty() ? kNoChanges : kChanges;
  }

  size_t ignoring = 0;
  for (const auto& c : plan.changes) {
    using A = reconciler::PlannedChange::Action;
    if (c.action == A::kUnchanged && c.ignored.empty()) continue;
    std::string where = c.path.empty() ? "" : " (" + c.path + ")";
    std::printf("%s %s%s%s\n", ChangeMark(reconciler::ActionName(c.action)), Ref(c).c_str(), where.c_str(),
                c.action == A::kUnchanged ? ": unchanged" : "");
    if (!c.ignored.empty()) ++ignoring;
    for (const auto& f : c.ignored) {
      std::printf("    kept %s\n", FormatIgnoredChange(c.kind->gvk.kind, reconciler::FieldChangeToJson(f)).c_str());
    }
    if (c.action == A::kReplace) {
      std::vector<std::string> fields;
      for (const Diagnostic& d : c.immutable) fields.push_back(d.field);
      std::printf(
          "    %s (force, from %s)\n", ReplacedBecause(fields).c_str(),
          c.object.annotation(reconciler::kForceAnnotation) ? "its bosun.dev/force annotation" : force_from.c_str());
    }
    if (c.action != A::kUpdate && c.action != A::kReplace) continue;
    for (const auto& f : c.diff) {
      for (const std::string& line : FormatFieldChangeLines(c.kind->gvk.kind, reconciler::FieldChangeToJson(f))) {
        std::printf("    %s\n", line.c_str());
      }
    }
  }
  size_t pruning_off = 0;
  for (const auto& c : kept) {
    std::string where = c.path.empty() ? "" : " (was " + c.path + ")";
    std::printf("= %s%s: kept, no longer in the repository (%s)\n", Ref(c).c_str(), where.c_str(),
                reconciler::KeptBecause(reconciler::KeptName(c.kept)).c_str());
    if (c.kept == reconciler::PlannedChange::Kept::kPruneOff) ++pruning_off;
  }
  if (pruning_off > 0) {
    std::printf("%zu managed %s no longer in the repository %s kept: %s sets prune: false.\n", pruning_off,
                pruning_off == 1 ? "object" : "objects", pruning_off == 1 ? "is" : "are", prune_from.c_str());
  }
  if (ignoring > 0) {
    std::printf("%zu %s fields the cluster owns (%s, ignoreDifferences): their live values are kept.\n", ignoring,
                ignoring == 1 ? "object has" : "objects have", reconciler::kIgnoreFieldsAnnotation);
  }
  if (outside > 0) {
    std::printf("%zu managed %s from files outside %s %s not compared: this preview covers %s only.\n", outside,
                outside == 1 ? "object" : "objects", loaded->scope.c_str(), outside == 1 ? "is" : "are",
                loaded->scope.c_str());
  }
  if (plan.empty()) {
    std::printf("No changes: the cluster matches %s (%d %s).\n", loaded->source.c_str(), plan.unchanged,
                plan.unchanged == 1 ? "object" : "objects");
    return kNoChanges;
  }
  std::string replace = plan.replaced > 0 ? std::to_string(plan.replaced) + " to replace, " : "";
  std::printf("\n%d to create, %d to update, %s%d to delete, %d unchanged (%s).\n", plan.created, plan.updated,
              replace.c_str(), plan.deleted, plan.unchanged, loaded->source.c_str());
  return kChanges;
}

}  // namespace

void AddDiff(CLI::App& app, int* exit_code) {
  auto opt = std::make_shared<DiffOptions>();
  CLI::App* cmd = app.add_subcommand(
      "diff",
      "What syncing these manifests would change in the cluster: `+` created, `~` updated (with each\n"
      "field: `~ spec.replicas: 3 → 5`), `-` deleted (managed objects no longer in the repository;\n"
      "with prune: false in the SyncConfig, or bosun.dev/prune: \"false\" on the object, they are listed\n"
      "as `=` kept instead, which is no change). Fields the cluster owns (bosun.dev/ignore-fields,\n"
      "the SyncConfig's ignoreDifferences) are listed as `kept` with their live and repository values.\n"
      "The manifests are validated first, as the sync does. Secret values are never shown.\n"
      "Sources: --path DIR (files on disk), --revision REV (a commit of the local repository --repo),\n"
      "or by default the work tree of --repo; --subpath defaults to the folder the server follows.\n"
      "In a Git work tree, files git ignores are left out, and a subfolder of what the server follows\n"
      "is compared alone: objects from the rest of the repository are counted, not deleted.\n"
      "Exit status: 0 nothing would change, 2 something would, 1 error (invalid manifests, no server,\n"
      "a usage error such as an unknown flag: never 2, which means changes).\n"
      "In CI, for a pull request: bosun diff --revision HEAD --server URL --token-file FILE");
  cmd->add_option("--revision", opt->revision, "A revision of the local repository: HEAD, a branch, a tag, a commit");
  cmd->add_option("--path", opt->path, "A folder (or file) of manifests on disk instead of a Git revision");
  cmd->add_option("--repo", opt->repo, "The local Git repository (any folder inside its work tree)")
      ->capture_default_str();
  cmd->add_option("--subpath", opt->subpath,
                  "The folder of the repository holding the manifests (default: the one the server follows)")
      ->each([opt](const std::string&) { opt->subpath_given = true; });
  AddFieldValidationOption(cmd, "--field-validation", &opt->field_validation);
  cmd->add_option("-o,--output", opt->output, "Output format: json (default: text)")
      ->check(CLI::IsMember({"", "json"}));
  AddClientFlags(cmd, &opt->client);
  cmd->callback([opt, exit_code] { *exit_code = RunDiff(*opt); });
}

}  // namespace bosun::cli
