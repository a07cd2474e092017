// gitsync/local_repo.h — read-only access to an existing local Git repository
// (a developer's checkout, a CI job's clone), for `bosun diff --revision`: it
// resolves a revision and reads the manifest files of its tree, without a
// checkout and without touching the network. The server's followed remote is
// gitsync::Mirror's job (gitsync/mirror.h), not this one's.
//
// Paths returned are from the repository root, as Mirror::ReadTree gives them,
// so the manifests of a local revision carry the same source paths as the ones
// the sync controller applied.
//
// Thread-safety: a LocalRepo is used from one thread at a time (libgit2
// repositories are not thread-safe). It owns its libgit2 handle.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/manifests.h"
#include "core/result.h"
#include "gitsync/mirror.h"

namespace bosun::gitsync {

class LocalRepo {
 public:
  // Opens the repository that holds `path`: a work tree or any folder inside
  // one (searched upwards, as `git` does), or a bare repository. kNotFound
  // when `path` does not exist or is in no Git repository ("PATH is not
  // inside a Git repository"), kIo when it cannot be read.
  static Result<std::unique_ptr<LocalRepo>> Open(const std::string& path);
  ~LocalRepo();
  LocalRepo(const LocalRepo&) = delete;
  LocalRepo& operator=(const LocalRepo&) = delete;

  // The work tree's root folder (no trailing slash), "" for a bare repository.
  const std::string& workdir() const;

  // Resolves a revision as `git rev-parse REV^{commit}` does ("HEAD",
  // "main", "origin/main", "v1.2", "HEAD~2", a full or abbreviated commit id)
  // to a 40-hex commit id. kNotFound when it names nothing, kInvalid when it
  // is ambiguous or not a commit.
  Result<std::string> Resolve(const std::string& spec) const;

  // The commit's metadata (signature fields left empty: `bosun diff` does not
  // check signatures). kNotFound for an unknown id.
  Result<CommitInfo> Commit(const std::string& id) const;

  // Every manifest file (IsManifestFile) under `path` at `commit`: "" or "."
  // for the whole tree, a folder, or one file; leading "./" and trailing "/"
  // are ignored. Sorted by path, paths from the repository root. kNotFound
  // when `path` is not in that commit's tree.
  Result<std::vector<TreeFile>> ReadTree(const std::string& commit, const std::string& path) const;

  // Whether git leaves `path` (relative to workdir()) out of the next commit:
  // the work tree's .gitignore rules (and .git/info/exclude, the user's
  // excludes file) ignore it and it is not tracked already.
  Result<bool> IsIgnored(const std::string& path) const;

  struct Impl;

 private:
  explicit LocalRepo(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bosun::gitsync
