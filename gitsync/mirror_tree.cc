// gitsync/mirror_tree.cc — reading the manifests of a commit straight from
// the object database (no checkout), and the tree diff that tells which of
// them a new commit changed.
#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <thread>

#include "core/parallel.h"
#include "gitsync/mirror.h"
#include "gitsync/mirror_internal.h"

namespace bosun::gitsync {
namespace {

// From this many files on, ReadTree reads the blobs on every core.
constexpr size_t kParallelBlobs = 256;

// "", ".", "/" and "./" mean the whole tree; otherwise the path without a
// leading "./" or "/" and without trailing slashes. ".." is refused: paths
// are inside the repository.
Result<std::string> NormalizePath(const std::string& path) {
  std::string p = path;
  while (p.starts_with("./")) p.erase(0, 2);
  while (p.starts_with("/")) p.erase(0, 1);
  while (p.ends_with("/")) p.pop_back();
  if (p == ".") p.clear();
  for (size_t start = 0; start <= p.size();) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    if (p.compare(start, end - start, "..") == 0) {
      return Error(Code::kInvalid, "path \"" + path + "\" leaves the repository");
    }
    start = end + 1;
  }
  return p;
}

// Regular files only: a symlink named x.yaml points at a path, not at YAML,
// and a submodule's entry is a commit of another repository.
bool IsFile(git_filemode_t mode) {
  return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE;
}

struct WalkState {
  git_repository* repo = nullptr;
  std::string prefix;  // put before each path
  ManifestFilter* filter = nullptr;
  TreeListing files;
  std::optional<Error> error;
};

int CollectEntry(const char* dir, const git_tree_entry* entry, void* payload) {
  auto* state = static_cast<WalkState*>(payload);
  std::string rel = std::string(dir) + git_tree_entry_name(entry);
  if (git_tree_entry_type(entry) == GIT_OBJECT_TREE) {
    // A positive answer skips the folder: dot-folders and ignored ones.
    if (git_tree_entry_name(entry)[0] == '.' || state->filter->Ignored(rel, true)) return 1;
    // Its own .bosunignore, before the walk goes into it (the walk is
    // pre-order: a folder before what it holds).
    git_tree* raw = nullptr;
    if (git_tree_lookup(&raw, state->repo, git_tree_entry_id(entry)) != 0) {
      state->error = Error(Code::kIo, "cannot read folder \"" + rel + "\": " + LastGitMessage());
      return -1;
    }
    TreePtr sub(raw);
    auto text = IgnoreFileText(state->repo, sub.get());
    if (!text) {
      state->error = text.error().Wrap(rel);
      return -1;
    }
    if (!text->empty()) state->filter->AddNested(rel, *text);
    return 0;
  }
  if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB || !IsFile(git_tree_entry_filemode(entry))) return 0;
  if (state->filter->Includes(rel)) state->files.emplace_back(state->prefix + rel, *git_tree_entry_id(entry));
  return 0;
}

Result<TreePtr> TreeOf(const Mirror::Impl& impl, const std::string& commit) {
  if (commit.empty()) return TreePtr();  // the empty tree
  auto c = impl.LookupCommit(commit);
  if (!c) return c.error();
  git_tree* tree = nullptr;
  if (git_commit_tree(&tree, c->get()) != 0) {
    return Error(Code::kIo, "cannot read the tree of commit " + commit + ": " + LastGitMessage());
  }
  return TreePtr(tree);
}

// The folder at `prefix` of `root`: null when there is none or it is a
// file (or a submodule).
Result<TreePtr> FolderTree(git_repository* repo, git_tree* root, const std::string& prefix) {
  if (root == nullptr) return TreePtr();
  git_tree* out = nullptr;
  if (prefix.empty()) {
    if (git_tree_dup(&out, root) != 0) return Error(Code::kIo, "cannot read a tree: " + LastGitMessage());
    return TreePtr(out);
  }
  git_tree_entry* raw = nullptr;
  if (git_tree_entry_bypath(&raw, root, prefix.c_str()) != 0) return TreePtr();
  TreeEntryPtr entry(raw);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) return TreePtr();
  git_object* obj = nullptr;
  if (git_tree_entry_to_object(&obj, repo, entry.get()) != 0) {
    return Error(Code::kIo, "cannot read folder \"" + prefix + "\": " + LastGitMessage());
  }
  return TreePtr(reinterpret_cast<git_tree*>(obj));
}

}  // namespace

git_oid IgnoreFileId(const git_tree* folder) {
  git_oid id;
  std::memset(&id, 0, sizeof id);  // "none"
  if (folder == nullptr) return id;
  const git_tree_entry* entry = git_tree_entry_byname(folder, kIgnoreFileName);
  if (entry != nullptr && git_tree_entry_type(entry) == GIT_OBJECT_BLOB && IsFile(git_tree_entry_filemode(entry))) {
    git_oid_cpy(&id, git_tree_entry_id(entry));
  }
  return id;
}

Result<std::string> IgnoreFileText(git_repository* repo, const git_tree* folder) {
  const git_oid id = IgnoreFileId(folder);
  if (git_oid_is_zero(&id)) return std::string();
  git_blob* raw = nullptr;
  if (git_blob_lookup(&raw, repo, &id) != 0) {
    return Error(Code::kIo, std::string("cannot read ") + kIgnoreFileName + ": " + LastGitMessage());
  }
  BlobPtr blob(raw);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<size_t>(git_blob_rawsize(blob.get())));
}

Result<ManifestFilter> TreeManifestFilter(git_repository* repo, const git_tree* folder) {
  auto text = IgnoreFileText(repo, folder);
  if (!text) return text.error();
  return ManifestFilter(*text);
}

Result<TreeListing> ListManifests(git_repository* repo, git_tree* folder, const std::string& prefix) {
  auto filter = TreeManifestFilter(repo, folder);
  if (!filter) return filter.error();
  WalkState state;
  state.repo = repo;
  state.prefix = prefix;
  state.filter = &*filter;
  if (git_tree_walk(folder, GIT_TREEWALK_PRE, CollectEntry, &state) != 0) {
    if (state.error) return *state.error;
    return Error(Code::kIo, "cannot walk the tree: " + LastGitMessage());
  }
  std::sort(state.files.begin(), state.files.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return std::move(state.files);
}

Result<std::vector<TreeFile>> Mirror::ReadTree(const std::string& commit, const std::string& path) const {
  auto prefix = NormalizePath(path);
  if (!prefix) return prefix.error();
  std::lock_guard<std::mutex> lock(impl_->mu);
  git_repository* repo = impl_->repo.get();
  auto root = TreeOf(*impl_, commit);
  if (!root) return root.error();
  if (!*root) return Error(Code::kInvalid, "no commit given");

  TreeListing files;
  if (!prefix->empty()) {
    git_tree_entry* raw = nullptr;
    if (git_tree_entry_bypath(&raw, root->get(), prefix->c_str()) != 0) {
      return Error(Code::kNotFound, "path \"" + *prefix + "\" does not exist at commit " + commit);
    }
    TreeEntryPtr entry(raw);
    // One file: it is read when it is a manifest. A submodule holds nothing
    // of ours.
    if (git_tree_entry_type(entry.get()) == GIT_OBJECT_BLOB && IsFile(git_tree_entry_filemode(entry.get())) &&
        IsManifestFile(*prefix)) {
      files.emplace_back(*prefix, *git_tree_entry_id(entry.get()));
    }
  }
  auto folder = FolderTree(repo, root->get(), *prefix);
  if (!folder) return folder.error();
  if (*folder) {
    auto listed = ListManifests(repo, folder->get(), prefix->empty() ? "" : *prefix + "/");
    if (!listed) return listed.error().Wrap("commit " + commit);
    files = std::move(*listed);
  }

  // A first sync reads every blob (10,000 in bench_gitops): inflating them is
  // spread over the cores. A git_repository is used by one thread at a time
  // (libgit2's THREADING.md), so each thread past the first opens its own.
  std::vector<TreeFile> out(files.size());
  const size_t threads = files.size() >= kParallelBlobs ? std::max(1u, std::thread::hardware_concurrency()) : 1;
  // Each thread's first failure, with its file's index: the lowest is named.
  std::vector<std::optional<std::pair<size_t, Error>>> failed(threads);
  ParallelFor(threads, 2, [&](size_t t) {
    RepoPtr own;
    git_repository* r = repo;
    if (t > 0) {
      git_repository* raw = nullptr;
      if (git_repository_open_bare(&raw, impl_->dir.c_str()) != 0) {
        failed[t].emplace(t, Error(Code::kIo, "cannot open the mirror " + impl_->dir + ": " + LastGitMessage()));
        return true;
      }
      own.reset(raw);
      r = raw;
    }
    for (size_t i = t; i < files.size(); i += threads) {
      auto& [file, oid] = files[i];
      git_blob* raw = nullptr;
      if (git_blob_lookup(&raw, r, &oid) != 0) {
        failed[t].emplace(i, Error(Code::kIo, "cannot read " + file + " at commit " + commit + ": " + LastGitMessage()));
        return true;
      }
      BlobPtr blob(raw);
      out[i] = TreeFile{std::move(file), OidHex(oid),
                        std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                                    static_cast<size_t>(git_blob_rawsize(blob.get())))};
    }
    return true;
  });
  const std::pair<size_t, Error>* first = nullptr;
  for (auto& f : failed) {
    if (f && (first == nullptr || f->first < first->first)) first = &*f;
  }
  if (first != nullptr) return first->second;
  return out;
}

Result<std::vector<FileChange>> Mirror::Diff(const std::string& from, const std::string& to,
                                             const std::string& path) const {
  auto prefix = NormalizePath(path);
  if (!prefix) return prefix.error();
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto old_tree = TreeOf(*impl_, from);
  if (!old_tree) return old_tree.error();
  auto new_tree = TreeOf(*impl_, to);
  if (!new_tree) return new_tree.error();

  git_repository* repo = impl_->repo.get();
  auto old_folder = FolderTree(repo, old_tree->get(), *prefix);
  if (!old_folder) return old_folder.error();
  auto new_folder = FolderTree(repo, new_tree->get(), *prefix);
  if (!new_folder) return new_folder.error();
  auto filter = TreeManifestFilter(repo, new_folder->get());
  if (!filter) return filter.error();
  std::vector<FileChange> out;
  // A .bosunignore that changed, the folder's or one under it: files the
  // commit did not touch may have come in or gone out. Both listings tell.
  auto compare_listings = [&]() -> Result<std::vector<FileChange>> {
    const std::string base = prefix->empty() ? "" : *prefix + "/";
    TreeListing before, after;
    if (*old_folder) {
      auto listed = ListManifests(repo, old_folder->get(), base);
      if (!listed) return listed.error();
      before = std::move(*listed);
    }
    if (*new_folder) {
      auto listed = ListManifests(repo, new_folder->get(), base);
      if (!listed) return listed.error();
      after = std::move(*listed);
    }
    size_t i = 0, j = 0;
    while (i < before.size() || j < after.size()) {
      if (j == after.size() || (i < before.size() && before[i].first < after[j].first)) {
        out.push_back(FileChange{FileChange::Type::kDeleted, before[i++].first, ""});
      } else if (i == before.size() || after[j].first < before[i].first) {
        out.push_back(FileChange{FileChange::Type::kAdded, after[j].first, OidHex(after[j].second)});
        ++j;
      } else {
        if (!git_oid_equal(&before[i].second, &after[j].second)) {
          out.push_back(FileChange{FileChange::Type::kModified, after[j].first, OidHex(after[j].second)});
        }
        ++i;
        ++j;
      }
    }
    return std::move(out);
  };

  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  // Literal paths, not patterns: a folder named "a*" means that folder. The
  // pathspec lets libgit2 skip other folders; InFolder() below is the rule.
  opts.flags |= GIT_DIFF_DISABLE_PATHSPEC_MATCH;
  char* spec = prefix->data();
  if (!prefix->empty()) {
    opts.pathspec.strings = &spec;
    opts.pathspec.count = 1;
  }
  git_diff* raw = nullptr;
  if (git_diff_tree_to_tree(&raw, repo, old_tree->get(), new_tree->get(), &opts) != 0) {
    return Error(Code::kIo, "cannot compare " + (from.empty() ? std::string("the empty tree") : from) + " with " +
                                (to.empty() ? std::string("the empty tree") : to) + ": " + LastGitMessage());
  }
  DiffPtr diff(raw);
  for (size_t i = 0; i < git_diff_num_deltas(diff.get()); i++) {
    const git_diff_delta* d = git_diff_get_delta(diff.get(), i);
    for (const char* path : {d->old_file.path, d->new_file.path}) {
      std::string_view p = path != nullptr ? path : "";
      if (!InFolder(std::string(p), *prefix)) continue;
      const size_t slash = p.rfind('/');
      if ((slash == std::string_view::npos ? p : p.substr(slash + 1)) != kIgnoreFileName) continue;
      // One under a dot-folder is never read.
      const std::string_view rel = prefix->empty() ? p : p.substr(std::min(p.size(), prefix->size() + 1));
      const size_t last = rel.rfind('/');
      const std::string_view folder = last == std::string_view::npos ? std::string_view() : rel.substr(0, last);
      if (folder.starts_with(".") || folder.find("/.") != std::string_view::npos) continue;
      return compare_listings();
    }
  }

  // With no .bosunignore changed, those of the new tree are the old one's
  // too. Each is read once, for the folders that hold a changed file, a
  // parent's before its children's (ManifestFilter::AddNested).
  std::set<std::string> nested_read;
  std::optional<Error> nested_error;
  auto read_nested = [&](const std::string& rel) {
    for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
      std::string folder = rel.substr(0, slash);
      if (!nested_read.insert(folder).second || !*new_folder) continue;
      auto sub = FolderTree(repo, new_folder->get(), folder);
      if (!sub) {
        nested_error = sub.error();
        return;
      }
      if (!*sub) continue;  // gone in the new tree, and with it no .bosunignore of it
      auto text = IgnoreFileText(repo, sub->get());
      if (!text) {
        nested_error = text.error().Wrap(folder);
        return;
      }
      if (!text->empty()) filter->AddNested(folder, *text);
    }
  };

  // No rename detection: a renamed file is a deletion of the old path and an
  // addition of the new one, which is what the desired set needs (the
  // objects of the old path go, those of the new one come).
  auto add = [&](FileChange::Type type, const git_diff_file& file) {
    std::string p = file.path;
    if (!InFolder(p, *prefix)) return;
    // The followed path itself, a file, is taken when it is a manifest; a
    // file of the followed folder when the folder's filter takes it.
    if (p == *prefix) {
      if (!IsManifestFile(p)) return;
    } else {
      const std::string rel = prefix->empty() ? p : p.substr(prefix->size() + 1);
      read_nested(rel);
      if (!filter->Includes(rel)) return;
    }
    out.push_back(FileChange{type, std::move(p), type == FileChange::Type::kDeleted ? "" : OidHex(file.id)});
  };
  for (size_t i = 0; i < git_diff_num_deltas(diff.get()); i++) {
    const git_diff_delta* d = git_diff_get_delta(diff.get(), i);
    bool old_file = IsFile(static_cast<git_filemode_t>(d->old_file.mode));
    bool new_file = IsFile(static_cast<git_filemode_t>(d->new_file.mode));
    switch (d->status) {
      case GIT_DELTA_ADDED:
        if (new_file) add(FileChange::Type::kAdded, d->new_file);
        break;
      case GIT_DELTA_DELETED:
        if (old_file) add(FileChange::Type::kDeleted, d->old_file);
        break;
      case GIT_DELTA_MODIFIED:
      case GIT_DELTA_TYPECHANGE:
        // A file that became a symlink (or the reverse) is, for the desired
        // set, a file that went away (or came).
        if (old_file && new_file) {
          // A mode change alone (chmod +x) changes nothing a manifest says.
          if (!git_oid_equal(&d->old_file.id, &d->new_file.id)) add(FileChange::Type::kModified, d->new_file);
        } else if (new_file) {
          add(FileChange::Type::kAdded, d->new_file);
        } else if (old_file) {
          add(FileChange::Type::kDeleted, d->old_file);
        }
        break;
      default:
        break;
    }
  }
  if (nested_error) return *nested_error;
  std::stable_sort(out.begin(), out.end(), [](const FileChange& a, const FileChange& b) { return a.path < b.path; });
  return out;
}

}  // namespace bosun::gitsync
