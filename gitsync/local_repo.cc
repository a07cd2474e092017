#include "gitsync/local_repo.h"

#include <algorithm>
#include <filesystem>

#include <git2.h>

#include "gitsync/mirror_internal.h"

namespace bosun::gitsync {
namespace {

std::string Hex(const git_oid* id) {
  return OidHex(*id);
}

Person ToPerson(const git_signature* s) {
  Person p;
  if (s == nullptr) return p;
  p.name = s->name != nullptr ? s->name : "";
  p.email = s->email != nullptr ? s->email : "";
  p.time = s->when.time;
  p.offset_minutes = s->when.offset;
  return p;
}

}  // namespace

struct LocalRepo::Impl {
  RepoPtr repo;
  std::string workdir;
};

LocalRepo::LocalRepo(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LocalRepo::~LocalRepo() = default;

Result<std::unique_ptr<LocalRepo>> LocalRepo::Open(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Error(Code::kNotFound, path + ": no such file or directory");
  }
  InitLibgit2();
  git_repository* raw = nullptr;
  int rc = git_repository_open_ext(&raw, path.c_str(), 0, nullptr);
  if (rc != 0) {
    std::string why = LastGitMessage();
    if (rc == GIT_ENOTFOUND) {
      return Error(Code::kNotFound, path + " is not inside a Git repository");
    }
    if (rc == GIT_EOWNER) {
      return Error(Code::kIo, "cannot open the Git repository at " + path + ": " + why +
                                  " (add it to git's safe.directory, as git itself asks)");
    }
    return Error(Code::kIo, "cannot open the Git repository at " + path + ": " + why);
  }
  auto impl = std::make_unique<Impl>();
  impl->repo.reset(raw);
  if (const char* wd = git_repository_workdir(raw)) {
    impl->workdir = wd;
    while (impl->workdir.size() > 1 && impl->workdir.back() == '/') impl->workdir.pop_back();
  }
  return std::unique_ptr<LocalRepo>(new LocalRepo(std::move(impl)));
}

const std::string& LocalRepo::workdir() const {
  return impl_->workdir;
}

Result<std::string> LocalRepo::Resolve(const std::string& spec) const {
  if (spec.empty()) return Error(Code::kInvalid, "an empty revision names no commit");
  git_object* raw = nullptr;
  std::string expr = spec + "^{commit}";
  int rc = git_revparse_single(&raw, impl_->repo.get(), expr.c_str());
  if (rc == GIT_ENOTFOUND) {
    return Error(Code::kNotFound, "revision \"" + spec +
                                      "\" names no commit in this repository (try `git log` to see "
                                      "what it holds, or `git fetch` if it is on the remote only)");
  }
  if (rc == GIT_EAMBIGUOUS) {
    return Error(Code::kInvalid, "revision \"" + spec + "\" is ambiguous: give more digits of the commit id");
  }
  if (rc != 0) return Error(Code::kInvalid, "revision \"" + spec + "\": " + LastGitMessage());
  ObjectPtr obj(raw);
  return Hex(git_object_id(obj.get()));
}

Result<CommitInfo> LocalRepo::Commit(const std::string& id) const {
  git_oid oid;
  if (git_oid_fromstr(&oid, id.c_str()) != 0) return Error(Code::kInvalid, "\"" + id + "\" is not a commit id");
  git_commit* raw = nullptr;
  if (git_commit_lookup(&raw, impl_->repo.get(), &oid) != 0) {
    return Error(Code::kNotFound, "commit " + id + " is not in this repository");
  }
  CommitPtr c(raw);
  CommitInfo info;
  info.id = Hex(git_commit_id(c.get()));
  info.tree = Hex(git_commit_tree_id(c.get()));
  for (unsigned i = 0; i < git_commit_parentcount(c.get()); ++i)
    info.parents.push_back(Hex(git_commit_parent_id(c.get(), i)));
  info.author = ToPerson(git_commit_author(c.get()));
  info.committer = ToPerson(git_commit_committer(c.get()));
  if (const char* m = git_commit_message(c.get())) info.message = m;
  if (const char* s = git_commit_summary(c.get())) info.summary = s;
  return info;
}

Result<std::vector<TreeFile>> LocalRepo::ReadTree(const std::string& commit, const std::string& path) const {
  git_oid oid;
  if (git_oid_fromstr(&oid, commit.c_str()) != 0) return Error(Code::kInvalid, "\"" + commit + "\" is not a commit id");
  git_commit* craw = nullptr;
  if (git_commit_lookup(&craw, impl_->repo.get(), &oid) != 0) {
    return Error(Code::kNotFound, "commit " + commit + " is not in this repository");
  }
  CommitPtr c(craw);
  git_tree* traw = nullptr;
  if (git_commit_tree(&traw, c.get()) != 0)
    return Error(Code::kIo, "reading the tree of " + commit + ": " + LastGitMessage());
  TreePtr root(traw);

  std::string sub = CleanFolder(path);
  std::vector<TreeFile> out;
  std::string error;
  auto read_blob = [&](const git_oid* id, const std::string& file) {
    git_blob* braw = nullptr;
    if (git_blob_lookup(&braw, impl_->repo.get(), id) != 0) {
      error = "reading " + file + " at " + commit.substr(0, 7) + ": " + LastGitMessage();
      return;
    }
    BlobPtr blob(braw);
    TreeFile f;
    f.path = file;
    f.blob = Hex(id);
    f.content.assign(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<size_t>(git_blob_rawsize(blob.get())));
    out.push_back(std::move(f));
  };

  TreePtr start;
  if (sub.empty()) {
    start = std::move(root);
  } else {
    git_tree_entry* eraw = nullptr;
    if (git_tree_entry_bypath(&eraw, root.get(), sub.c_str()) != 0) {
      return Error(Code::kNotFound, "\"" + sub + "\" is not in the tree of commit " + commit.substr(0, 7));
    }
    TreeEntryPtr entry(eraw);
    if (git_tree_entry_type(entry.get()) == GIT_OBJECT_BLOB) {
      if (IsManifestFile(sub)) read_blob(git_tree_entry_id(entry.get()), sub);
      if (!error.empty()) return Error(Code::kIo, error);
      return out;
    }
    if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) {
      return Error(Code::kInvalid, "\"" + sub + "\" at " + commit.substr(0, 7) + " is neither a file nor a folder");
    }
    git_tree* sraw = nullptr;
    if (git_tree_lookup(&sraw, impl_->repo.get(), git_tree_entry_id(entry.get())) != 0) {
      return Error(Code::kIo, "reading " + sub + " at " + commit.substr(0, 7) + ": " + LastGitMessage());
    }
    start.reset(sraw);
  }

  // The same files the sync reads from a mirror (mirror_internal.h).
  auto listed = ListManifests(impl_->repo.get(), start.get(), sub.empty() ? "" : sub + "/");
  if (!listed) return listed.error().Wrap("commit " + commit.substr(0, 7));
  for (const auto& [file, id] : *listed) {
    read_blob(&id, file);
    if (!error.empty()) return Error(Code::kIo, error);
  }
  std::sort(out.begin(), out.end(), [](const TreeFile& a, const TreeFile& b) { return a.path < b.path; });
  return out;
}

Result<bool> LocalRepo::IsIgnored(const std::string& path) const {
  // Outside the work tree (a symlink's target): not git's to say.
  if (path.empty() || path == ".." || path.starts_with("../")) return false;
  int ignored = 0;
  if (git_ignore_path_is_ignored(&ignored, impl_->repo.get(), path.c_str()) != 0) {
    return Error(Code::kIo, "cannot tell whether git ignores " + path + ": " + LastGitMessage());
  }
  if (ignored == 0) return false;
  // The rules say nothing of a file already tracked (added with -f, or
  // before the rule): it is in the next commit all the same.
  git_index* index = nullptr;
  if (git_repository_index(&index, impl_->repo.get()) != 0) {
    return Error(Code::kIo, "cannot read the index of " + impl_->workdir + ": " + LastGitMessage());
  }
  const bool tracked = git_index_get_bypath(index, path.c_str(), 0) != nullptr;
  git_index_free(index);
  return !tracked;
}

}  // namespace bosun::gitsync
