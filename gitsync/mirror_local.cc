// gitsync/mirror_local.cc — fetching from a local remote (a path or file://)
// without libgit2's local transport.
//
// libgit2 1.5's local transport builds a pack of what the fetch needs with
// its packbuilder, searching deltas on one thread (git instead reuses the
// deltas its packs already hold): 2–9 s for a first fetch of ten thousand
// objects that `git clone` makes in well under one. The objects are on this
// machine, so bosun copies them itself, in two steps:
//
// 1. Bulk: when the fetch needs most of what the remote's pack files hold (a
//    first fetch), each of those packs is streamed through libgit2's indexer
//    into the mirror (git_odb_write_pack), deltas and all. The indexer checks
//    every object's id as it goes, as `git index-pack` does; nothing is
//    hard-linked or shared, so the mirror stays whole whatever later happens
//    to the remote (rewritten, gc'd, deleted).
// 2. The rest: the objects still missing (all of them for a small fetch;
//    loose objects, or objects of the remote's alternates, after a bulk
//    copy) go into one new pack written by libgit2's packbuilder with delta
//    search turned off, through the same indexer.
//
// Which objects are needed is found like a fetch negotiation: walk the
// remote's history from the wanted commits, hiding every commit the mirror
// already has (the tips of its refs, or their nearest ancestors the remote
// still has after a force-push); everything under the trees of the hidden
// commits at the walk's edge is in the mirror, and of the other commits,
// trees and blobs each one the mirror lacks is taken. (A tree the mirror
// merely holds is looked into all the same: see MarkEdges.)
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <git2/sys/config.h>
#include <git2/sys/repository.h>

#include "core/ascii.h"
#include "gitsync/mirror_internal.h"

namespace bosun::gitsync {
namespace {

using OdbPtr = GitPtr<git_odb, git_odb_free>;
using PackbuilderPtr = GitPtr<git_packbuilder, git_packbuilder_free>;
using RefIteratorPtr = GitPtr<git_reference_iterator, git_reference_iterator_free>;

struct WritepackFree {
  void operator()(git_odb_writepack* w) const { w->free(w); }
};
using WritepackPtr = std::unique_ptr<git_odb_writepack, WritepackFree>;

struct OidHash {
  size_t operator()(const git_oid& id) const {
    size_t h;
    std::memcpy(&h, id.id, sizeof h);  // already uniformly distributed
    return h;
  }
};
struct OidEqual {
  bool operator()(const git_oid& a, const git_oid& b) const { return git_oid_equal(&a, &b) != 0; }
};
using OidSet = std::unordered_set<git_oid, OidHash, OidEqual>;

// A bulk copy is worth it when the fetch needs at least this many objects and
// at least half of what the remote's packs hold: below that, packing just
// the needed objects is fast enough and copies nothing extra.
constexpr size_t kBulkMinObjects = 1000;

// Pack files are streamed to the indexer in pieces of this size.
constexpr size_t kChunk = 1 << 20;

// The walk reports progress (and so feeds the watchdog) every this many
// objects.
constexpr size_t kTickEvery = 1024;

int SetError(int klass, const std::string& message) {
  git_error_set_str(klass, message.c_str());
  return -1;
}

// ---------------------------------------------------------------------------
// A configuration that turns the packbuilder's delta search off.
//
// libgit2 1.5 has no switch for it; its packbuilder only searches deltas for
// objects no larger than the "big file threshold", which it reads (a typo in
// 1.5) from pack.deltaCacheSize; later versions read pack.bigFileThreshold.
// Both are 0 here. The remote's repository object gets this configuration
// instead of its own (only in this process: nothing is written), so the
// remote's settings cannot slow the copy down either.

int NoDeltaOpen(git_config_backend*, git_config_level_t, const git_repository*) {
  return 0;
}

void FreeEntry(git_config_entry* entry) {
  delete entry;
}

int NoDeltaGet(git_config_backend*, const char* key, git_config_entry** out) {
  static constexpr const char* kKeys[] = {"pack.deltacachesize", "pack.bigfilethreshold"};
  for (const char* k : kKeys) {
    if (strcasecmp(key, k) == 0) {
      *out = new git_config_entry{k, "0", 0, GIT_CONFIG_LEVEL_APP, FreeEntry, nullptr};
      return 0;
    }
  }
  return GIT_ENOTFOUND;
}

int NoDeltaReadOnly(git_config_backend*, const char*, const char*) {
  return SetError(GIT_ERROR_CONFIG, "bosun's pack configuration is read-only");
}
int NoDeltaSetMultivar(git_config_backend*, const char*, const char*, const char*) {
  return SetError(GIT_ERROR_CONFIG, "bosun's pack configuration is read-only");
}
int NoDeltaDel(git_config_backend*, const char*) {
  return SetError(GIT_ERROR_CONFIG, "bosun's pack configuration is read-only");
}

int EmptyNext(git_config_entry**, git_config_iterator*) {
  return GIT_ITEROVER;
}
void EmptyFree(git_config_iterator* it) {
  delete it;
}
int NoDeltaIterator(git_config_iterator** out, git_config_backend* backend) {
  auto* it = new git_config_iterator{};
  it->backend = backend;
  it->next = EmptyNext;
  it->free = EmptyFree;
  *out = it;
  return 0;
}

int NoDeltaLock(git_config_backend*) {
  return 0;
}
int NoDeltaUnlock(git_config_backend*, int) {
  return 0;
}
void NoDeltaFree(git_config_backend* backend) {
  delete backend;
}

git_config_backend* NewNoDeltaBackend();

int NoDeltaSnapshot(git_config_backend** out, git_config_backend*) {
  *out = NewNoDeltaBackend();
  (*out)->readonly = 1;
  return 0;
}

git_config_backend* NewNoDeltaBackend() {
  auto* b = new git_config_backend{};
  b->version = GIT_CONFIG_BACKEND_VERSION;
  b->open = NoDeltaOpen;
  b->get = NoDeltaGet;
  b->set = NoDeltaReadOnly;
  b->set_multivar = NoDeltaSetMultivar;
  b->del = NoDeltaDel;
  b->del_multivar = NoDeltaReadOnly;
  b->iterator = NoDeltaIterator;
  b->snapshot = NoDeltaSnapshot;
  b->lock = NoDeltaLock;
  b->unlock = NoDeltaUnlock;
  b->free = NoDeltaFree;
  return b;
}

int UseNoDeltaConfig(git_repository* repo) {
  git_config* raw = nullptr;
  if (int rc = git_config_new(&raw); rc != 0) return rc;
  ConfigPtr config(raw);
  git_config_backend* backend = NewNoDeltaBackend();
  if (int rc = git_config_add_backend(config.get(), backend, GIT_CONFIG_LEVEL_APP, nullptr, 0); rc != 0) {
    backend->free(backend);
    return rc;
  }
  return git_repository_set_config(repo, config.get());  // takes its own reference
}

// ---------------------------------------------------------------------------
// The remote's pack files.

struct PackFile {
  std::string name;  // "pack-<hash>.pack"
  std::string path;
  size_t objects = 0;
};

uint32_t BigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// The number of objects a pack holds, from its .idx: the last entry of the
// fan-out table (version 2: after an 8-byte header; version 1: at the start).
std::optional<size_t> IdxObjectCount(const std::string& idx_path) {
  std::ifstream in(idx_path, std::ios::binary);
  unsigned char head[8 + 256 * 4];
  if (!in.read(reinterpret_cast<char*>(head), sizeof head)) return std::nullopt;
  static constexpr unsigned char kV2Magic[] = {0xff, 't', 'O', 'c'};
  if (std::memcmp(head, kV2Magic, 4) == 0) {
    if (BigEndian32(head + 4) != 2) return std::nullopt;
    return BigEndian32(head + 8 + 255 * 4);
  }
  return BigEndian32(head + 255 * 4);
}

// The remote's packs (each with its .idx: a pack without one is still being
// written) that the mirror does not hold under the same name. Pack names are
// the hash of their content, so an equal name is an equal pack.
std::vector<PackFile> PacksToCopy(git_repository* remote, git_repository* mirror) {
  std::vector<PackFile> out;
  std::filesystem::path from = std::filesystem::path(git_repository_commondir(remote)) / "objects" / "pack";
  std::filesystem::path to = std::filesystem::path(git_repository_commondir(mirror)) / "objects" / "pack";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(from, ec)) {
    const std::filesystem::path& p = entry.path();
    if (p.extension() != ".pack" || !p.filename().string().starts_with("pack-")) continue;
    std::filesystem::path idx = p;
    idx.replace_extension(".idx");
    auto count = IdxObjectCount(idx.string());
    if (!count) continue;
    if (std::filesystem::exists(to / p.filename(), ec)) continue;
    out.push_back(PackFile{p.filename().string(), p.string(), *count});
  }
  std::sort(out.begin(), out.end(), [](const PackFile& a, const PackFile& b) { return a.name < b.name; });
  return out;
}

// ---------------------------------------------------------------------------

class LocalCopy {
 public:
  LocalCopy(git_repository* mirror, const git_remote_callbacks& callbacks) : mirror_(mirror), cb_(callbacks) {}

  int Run(const std::string& path, const std::vector<git_oid>& wants) {
    git_repository* raw_remote = nullptr;
    if (int rc = git_repository_open(&raw_remote, path.c_str()); rc != 0) return rc;
    remote_.reset(raw_remote);
    git_odb* raw_odb = nullptr;
    if (int rc = git_repository_odb(&raw_odb, mirror_); rc != 0) return rc;
    mirror_odb_.reset(raw_odb);
    raw_odb = nullptr;
    if (int rc = git_repository_odb(&raw_odb, remote_.get()); rc != 0) return rc;
    remote_odb_.reset(raw_odb);

    if (int rc = Enumerate(wants); rc != 0) return rc;
    if (needed_.empty()) return 0;

    std::vector<PackFile> packs = PacksToCopy(remote_.get(), mirror_);
    size_t packed = 0;
    for (const PackFile& p : packs) packed += p.objects;
    if (needed_.size() >= kBulkMinObjects && needed_.size() * 2 >= packed) {
      for (const PackFile& p : packs) {
        if (int rc = CopyPack(p); rc != 0) {
          // The rest is packed object by object below; only a stop asked
          // for by a callback (the watchdog) ends the fetch here.
          if (cancelled_) return rc;
        }
      }
      if (int rc = git_odb_refresh(mirror_odb_.get()); rc != 0) return rc;
      std::vector<git_oid> rest;
      for (const git_oid& id : needed_) {
        if (!MirrorHas(id)) rest.push_back(id);
      }
      needed_.swap(rest);
    }
    if (int rc = PackRest(); rc != 0) return rc;
    return git_odb_refresh(mirror_odb_.get());
  }

 private:
  bool MirrorHas(const git_oid& id) const {
    return git_odb_exists_ext(mirror_odb_.get(), &id, GIT_ODB_LOOKUP_NO_REFRESH) == 1;
  }
  bool RemoteHas(const git_oid& id) const {
    return git_odb_exists_ext(remote_odb_.get(), &id, GIT_ODB_LOOKUP_NO_REFRESH) == 1;
  }

  // Lets the watchdog know the walk is going, and stops when it expired.
  int Tick() {
    if (++ticks_ % kTickEvery != 0 || cb_.pack_progress == nullptr) return 0;
    int rc = cb_.pack_progress(GIT_PACKBUILDER_ADDING_OBJECTS, static_cast<uint32_t>(needed_.size()), 0, cb_.payload);
    if (rc != 0) return Cancelled(rc);
    return 0;
  }
  int Cancelled(int rc) {
    cancelled_ = true;
    if (git_error_last() == nullptr) git_error_set_str(GIT_ERROR_CALLBACK, "the fetch was cancelled");
    return rc;
  }

  // An object met on the walk: kSkip when the mirror has it for sure (it is
  // part of a commit the mirror has) or it was met before; kPresent when the
  // mirror has it but its content must still be looked at (a tree whose
  // objects it may lack); kNew when it is to be copied.
  enum class Visit { kSkip, kPresent, kNew };
  Visit See(const git_oid& id) {
    if (have_.count(id) != 0 || !seen_.insert(id).second) return Visit::kSkip;
    if (MirrorHas(id)) return Visit::kPresent;
    needed_.push_back(id);
    return Visit::kNew;
  }

  int Enumerate(const std::vector<git_oid>& wants) {
    git_revwalk* raw = nullptr;
    if (int rc = git_revwalk_new(&raw, remote_.get()); rc != 0) return rc;
    RevwalkPtr walk(raw);
    git_revwalk_sorting(walk.get(), GIT_SORT_TIME);
    std::vector<git_oid> other_wants;  // trees and blobs a ref or tag points at
    bool any_commit = false;
    for (const git_oid& want : wants) {
      if (int rc = AddWant(walk.get(), want, &any_commit, &other_wants); rc != 0) return rc;
    }
    std::vector<git_oid> commits;
    if (any_commit) {
      if (int rc = HideWhatTheMirrorHas(walk.get()); rc != 0) return rc;
      git_oid id;
      int rc;
      while ((rc = git_revwalk_next(&id, walk.get())) == 0) {
        if (int t = Tick(); t != 0) return t;
        commits.push_back(id);
      }
      if (rc != GIT_ITEROVER) return rc;
    }
    if (int rc = MarkEdges(commits); rc != 0) return rc;
    for (const git_oid& id : commits) {
      See(id);
      git_commit* commit = nullptr;
      if (int rc = git_commit_lookup(&commit, remote_.get(), &id); rc != 0) return rc;
      git_oid tree = *git_commit_tree_id(commit);
      git_commit_free(commit);
      if (int rc = AddTree(tree); rc != 0) return rc;
    }
    for (const git_oid& id : other_wants) {
      git_object_t type = GIT_OBJECT_INVALID;
      size_t size = 0;
      if (int rc = git_odb_read_header(&size, &type, remote_odb_.get(), &id); rc != 0) return rc;
      if (type == GIT_OBJECT_TREE) {
        if (int rc = AddTree(id); rc != 0) return rc;
      } else {
        See(id);
      }
    }
    return 0;
  }

  // A wanted object: a commit joins the walk; a tag is taken and peeled; a
  // tree or blob (a ref may point at one) is kept for after the walk.
  int AddWant(git_revwalk* walk, git_oid id, bool* any_commit, std::vector<git_oid>* others) {
    for (int depth = 0; depth < 64; depth++) {
      git_object* raw = nullptr;
      if (int rc = git_object_lookup(&raw, remote_.get(), &id, GIT_OBJECT_ANY); rc != 0) return rc;
      ObjectPtr obj(raw);
      switch (git_object_type(obj.get())) {
        case GIT_OBJECT_COMMIT:
          *any_commit = true;
          return git_revwalk_push(walk, &id);
        case GIT_OBJECT_TAG:
          See(id);
          id = *git_tag_target_id(reinterpret_cast<git_tag*>(obj.get()));
          break;
        default:
          others->push_back(id);
          return 0;
      }
    }
    return SetError(GIT_ERROR_TAG, "a chain of more than 64 tags at " + OidHex(id));
  }

  // Everything under the trees of the walk's edge, the commits the mirror
  // has that are parents of commits it lacks, is in the mirror: those
  // commits are reachable from its refs, and a fetch moves a ref only once
  // all its target holds has arrived. The same is not assumed of any tree
  // the mirror happens to hold: a bulk copy brings trees of other branches
  // whose objects may be loose in the remote and so not copied.
  int MarkEdges(const std::vector<git_oid>& commits) {
    OidSet walked(commits.begin(), commits.end());
    for (const git_oid& id : commits) {
      git_commit* raw = nullptr;
      if (int rc = git_commit_lookup(&raw, remote_.get(), &id); rc != 0) return rc;
      CommitPtr commit(raw);
      for (unsigned i = 0; i < git_commit_parentcount(commit.get()); i++) {
        const git_oid* parent_id = git_commit_parent_id(commit.get(), i);
        if (!walked.insert(*parent_id).second) continue;
        git_commit* parent = nullptr;
        if (int rc = git_commit_lookup(&parent, remote_.get(), parent_id); rc != 0) return rc;
        git_oid tree = *git_commit_tree_id(parent);
        git_commit_free(parent);
        if (int rc = MarkHave(tree); rc != 0) return rc;
      }
    }
    return 0;
  }

  int MarkHave(const git_oid& root) {
    if (!have_.insert(root).second) return 0;
    return WalkTree(root, [this](const git_oid& id) { return have_.insert(id).second; });
  }

  // A tree and everything under it that the mirror lacks.
  int AddTree(const git_oid& root) {
    if (See(root) == Visit::kSkip) return 0;
    return WalkTree(root, [this](const git_oid& id) { return See(id) != Visit::kSkip; });
  }

  // Depth-first over the trees under `root` (submodule commits skipped):
  // `visit(id)` is called for every entry once it is reached, and a subtree
  // is entered only when it returns true.
  template <typename Fn>
  int WalkTree(const git_oid& root, Fn visit) {
    std::vector<git_oid> stack{root};
    while (!stack.empty()) {
      git_oid id = stack.back();
      stack.pop_back();
      git_tree* raw = nullptr;
      if (int rc = git_tree_lookup(&raw, remote_.get(), &id); rc != 0) return rc;
      TreePtr tree(raw);
      size_t n = git_tree_entrycount(tree.get());
      for (size_t i = 0; i < n; i++) {
        const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
        git_object_t type = git_tree_entry_type(e);
        if (type == GIT_OBJECT_COMMIT) continue;  // a submodule: another repository's commit
        if (int t = Tick(); t != 0) return t;
        if (visit(*git_tree_entry_id(e)) && type == GIT_OBJECT_TREE) stack.push_back(*git_tree_entry_id(e));
      }
    }
    return 0;
  }

  // The commits the mirror has that the walk can stop at: the commits of its
  // refs, or, for one the remote no longer has (a force-push that was
  // gc'd), its nearest ancestors the remote still has.
  int HideWhatTheMirrorHas(git_revwalk* walk) {
    std::vector<git_oid> queue;
    git_reference_iterator* raw_it = nullptr;
    if (int rc = git_reference_iterator_new(&raw_it, mirror_); rc != 0) return rc;
    RefIteratorPtr it(raw_it);
    git_reference* ref = nullptr;
    while (git_reference_next(&ref, it.get()) == 0) {
      RefPtr owner(ref);
      git_object* peeled = nullptr;
      if (git_reference_peel(&peeled, ref, GIT_OBJECT_COMMIT) == 0) {
        queue.push_back(*git_object_id(peeled));
        git_object_free(peeled);
      }
    }
    git_error_clear();
    // Bounded: past this many commits, walking on costs more than it could
    // save (objects the mirror has are still not copied, only looked at).
    size_t budget = 10000;
    OidSet visited;
    while (!queue.empty() && budget > 0) {
      git_oid id = queue.back();
      queue.pop_back();
      if (!visited.insert(id).second) continue;
      budget--;
      if (int t = Tick(); t != 0) return t;
      if (RemoteHas(id)) {
        if (int rc = git_revwalk_hide(walk, &id); rc != 0) return rc;
        continue;
      }
      git_commit* commit = nullptr;
      if (git_commit_lookup(&commit, mirror_, &id) != 0) {
        git_error_clear();
        continue;
      }
      for (unsigned i = 0; i < git_commit_parentcount(commit); i++) queue.push_back(*git_commit_parent_id(commit, i));
      git_commit_free(commit);
    }
    return 0;
  }

  // Progress across all the packs of this fetch: counts and bytes add up.
  static int OnIndexerProgress(const git_indexer_progress* stats, void* payload) {
    auto* self = static_cast<LocalCopy*>(payload);
    if (self->cb_.transfer_progress == nullptr) return 0;
    git_indexer_progress all = *stats;
    all.total_objects += self->done_.total_objects;
    all.indexed_objects += self->done_.indexed_objects;
    all.received_objects += self->done_.received_objects;
    all.local_objects += self->done_.local_objects;
    all.total_deltas += self->done_.total_deltas;
    all.indexed_deltas += self->done_.indexed_deltas;
    all.received_bytes = self->bytes_;  // the indexer does not count them
    // The indexer reports each step several times over; pass on changes.
    if (std::memcmp(&all, &self->reported_, sizeof all) == 0) return 0;
    self->reported_ = all;
    int rc = self->cb_.transfer_progress(&all, self->cb_.payload);
    if (rc != 0) self->cancelled_ = true;
    return rc;
  }

  int OpenWritepack(WritepackPtr* out) {
    git_odb_writepack* raw = nullptr;
    if (int rc = git_odb_write_pack(&raw, mirror_odb_.get(), OnIndexerProgress, this); rc != 0) return rc;
    out->reset(raw);
    return 0;
  }

  int Commit(git_odb_writepack* wp, git_indexer_progress* stats) {
    if (int rc = wp->commit(wp, stats); rc != 0) return rc;
    done_.total_objects += stats->total_objects;
    done_.indexed_objects += stats->indexed_objects;
    done_.received_objects += stats->received_objects;
    done_.local_objects += stats->local_objects;
    done_.total_deltas += stats->total_deltas;
    done_.indexed_deltas += stats->indexed_deltas;
    return 0;
  }

  // One of the remote's pack files, through the indexer into the mirror.
  int CopyPack(const PackFile& pack) {
    std::ifstream in(pack.path, std::ios::binary);
    if (!in) return SetError(GIT_ERROR_OS, "cannot read " + pack.path + ": " + std::strerror(errno));
    WritepackPtr wp;
    if (int rc = OpenWritepack(&wp); rc != 0) return rc;
    git_indexer_progress stats{};
    std::vector<char> buf(kChunk);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      auto got = static_cast<size_t>(in.gcount());
      if (got == 0) break;
      bytes_ += got;
      if (int rc = wp->append(wp.get(), buf.data(), got, &stats); rc != 0) return rc;
    }
    if (in.bad()) return SetError(GIT_ERROR_OS, "cannot read " + pack.path + ": " + std::strerror(errno));
    return Commit(wp.get(), &stats);
  }

  static int Append(void* data, size_t size, void* payload) {
    auto* self = static_cast<LocalCopy*>(payload);
    self->bytes_ += size;
    return self->writepack_->append(self->writepack_.get(), data, size, &self->stats_);
  }

  // The objects still missing, packed without deltas into one new pack.
  int PackRest() {
    if (needed_.empty()) return 0;
    if (int rc = UseNoDeltaConfig(remote_.get()); rc != 0) return rc;
    git_packbuilder* raw = nullptr;
    if (int rc = git_packbuilder_new(&raw, remote_.get()); rc != 0) return rc;
    PackbuilderPtr pb(raw);
    if (cb_.pack_progress != nullptr) git_packbuilder_set_callbacks(pb.get(), cb_.pack_progress, cb_.payload);
    for (const git_oid& id : needed_) {
      if (int rc = git_packbuilder_insert(pb.get(), &id, nullptr); rc != 0) return rc;
    }
    if (int rc = OpenWritepack(&writepack_); rc != 0) return rc;
    stats_ = {};
    if (int rc = git_packbuilder_foreach(pb.get(), Append, this); rc != 0) return rc;
    int rc = Commit(writepack_.get(), &stats_);
    writepack_.reset();
    return rc;
  }

  git_repository* mirror_;
  const git_remote_callbacks& cb_;
  RepoPtr remote_;
  OdbPtr mirror_odb_;
  OdbPtr remote_odb_;
  OidSet seen_;  // met on the walk
  OidSet have_;  // under the trees of the walk's edge: in the mirror
  std::vector<git_oid> needed_;
  size_t ticks_ = 0;
  bool cancelled_ = false;
  git_indexer_progress done_{};      // the packs written so far
  git_indexer_progress reported_{};  // the last progress passed on
  uint64_t bytes_ = 0;               // written to the indexer, all packs
  WritepackPtr writepack_;           // PackRest's
  git_indexer_progress stats_{};
};

}  // namespace

std::optional<std::string> LocalRemotePath(const std::string& url) {
  if (url.starts_with("/")) return url;
  // As libgit2 reads a file:// URL: "file:///path" or "file://localhost/path",
  // percent-decoded.
  std::string rest;
  if (url.starts_with("file:///")) {
    rest = url.substr(7);
  } else if (url.starts_with("file://localhost/")) {
    rest = url.substr(16);
  } else {
    return std::nullopt;
  }
  return PercentDecode(rest);
}

int FetchFromLocal(git_repository* mirror, const std::string& path, const std::vector<git_oid>& wants,
                   const git_remote_callbacks& callbacks) {
  LocalCopy copy(mirror, callbacks);
  return copy.Run(path, wants);
}

}  // namespace bosun::gitsync
