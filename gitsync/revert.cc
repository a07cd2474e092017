// gitsync/revert.cc — Mirror::Revert (contract in revert.h): the revert
// commit made in memory on the branch head, its push fast-forward only, and
// the retry when someone else pushed first.
//
// "Only over the head it was made on" is checked three times on the way:
// libgit2's push negotiation tells the remote's current value of the branch
// (bosun stops when it is not the head the revert was made on — a branch that
// was moved *back* would otherwise take a fast-forward that resurrects what
// was removed); the server's receive-pack updates the ref only if it still
// has that value, and says "failed to update ref" / "stale info" otherwise;
// and for a local remote bosun moves the ref itself with
// git_reference_create_matching, a compare-and-swap under the ref's lock
// file. A refused update is a race only when a fetch shows the branch moved;
// otherwise the remote refused it for good (a protected branch, a hook).
#include "gitsync/revert.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/ascii.h"
#include "core/log.h"
#include "gitsync/mirror_internal.h"

namespace bosun::gitsync {
namespace {

bool IsHex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// The run of hex digits at `pos` (7 to 40 of them), lower-cased; "" when
// there is none.
std::string HexAt(const std::string& s, size_t pos) {
  size_t end = pos;
  while (end < s.size() && IsHex(s[end]) && end - pos < 40) ++end;
  if (end - pos < 7) return "";
  if (end < s.size() && std::isalnum(static_cast<unsigned char>(s[end]))) return "";
  return AsciiLower(s.substr(pos, end - pos));
}

// The commit id of the first "<trailer> <sha>" line of a message.
std::string TrailerSha(const std::string& message, const std::string& trailer) {
  for (size_t pos = 0; pos < message.size();) {
    size_t eol = message.find('\n', pos);
    if (eol == std::string::npos) eol = message.size();
    std::string line = message.substr(pos, eol - pos);
    if (line.size() > trailer.size() && line.compare(0, trailer.size(), trailer) == 0) {
      size_t v = trailer.size();
      while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
      std::string sha = HexAt(line, v);
      if (!sha.empty()) return sha;
    }
    pos = eol + 1;
  }
  return "";
}

constexpr size_t kReasonMaxBytes = 200;

// The revert commit while it is pushed: libgit2 1.5 pushes refs, not ids.
constexpr const char* kPushRef = "refs/bosun/revert";

using IndexPtr = GitPtr<git_index, git_index_free>;
using SignaturePtr = GitPtr<git_signature, git_signature_free>;
using ConflictIteratorPtr = GitPtr<git_index_conflict_iterator, git_index_conflict_iterator_free>;

std::string Short(const std::string& id) {
  return id.substr(0, 7);
}

// The subject as `git revert` quotes it: the message's first line (libgit2
// has already dropped leading blank lines).
std::string Subject(const git_commit* c) {
  const char* raw = git_commit_message(c);
  std::string message = raw != nullptr ? raw : "";
  return message.substr(0, message.find('\n'));
}

std::string RevertMessage(const std::string& subject, const std::string& reverted, const std::string& mainline_parent,
                          const std::string& reason) {
  std::string m = "Revert \"" + subject + "\"\n\nThis reverts commit " + reverted;
  if (!mainline_parent.empty()) m += ", reversing\nchanges made to " + mainline_parent;
  m += ".\n\nBosun-Reverts: " + reverted + "\n";
  std::string line = RevertReasonLine(reason);
  if (!line.empty()) m += "Bosun-Reason: " + line + "\n";
  return m;
}

// The message of a revert back to `back_to`: `commits` are the reverted
// commits on the first-parent line, newest first (id, subject), `total` how
// many there are.
std::string RangeRevertMessage(const std::string& subject, const std::string& reverted, const std::string& back_to,
                               const std::vector<std::pair<std::string, std::string>>& commits, size_t total,
                               const std::string& reason) {
  const size_t earlier = total - 1;
  std::string m = "Revert \"" + subject + "\" and " + std::to_string(earlier) + " earlier commit" +
                  (earlier == 1 ? "" : "s") + "\n\nThis reverts commit " + reverted +
                  " and the commits before it, back to\n" + back_to + ":\n";
  for (const auto& [id, line] : commits) m += "  " + id.substr(0, 7) + " " + line + "\n";
  if (total > commits.size()) m += "  … and " + std::to_string(total - commits.size()) + " more\n";
  m += "\nBosun-Reverts: " + reverted + "\nBosun-Reverts-To: " + back_to + "\n";
  std::string line = RevertReasonLine(reason);
  if (!line.empty()) m += "Bosun-Reason: " + line + "\n";
  return m;
}

// The paths of an index's conflicts, sorted.
std::vector<std::string> ConflictPaths(git_index* index) {
  std::set<std::string> paths;
  git_index_conflict_iterator* raw = nullptr;
  if (git_index_conflict_iterator_new(&raw, index) != 0) return {"(the conflicting paths cannot be listed)"};
  ConflictIteratorPtr it(raw);
  const git_index_entry* ancestor = nullptr;
  const git_index_entry* ours = nullptr;
  const git_index_entry* theirs = nullptr;
  while (git_index_conflict_next(&ancestor, &ours, &theirs, it.get()) == 0) {
    for (const git_index_entry* e : {ours, theirs, ancestor}) {
      if (e != nullptr && e->path != nullptr) {
        paths.insert(e->path);
        break;
      }
    }
  }
  git_error_clear();
  return {paths.begin(), paths.end()};
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The unsigned commit object that reverts `target` on `head`, or the paths
// that conflict. Under the mirror's lock.
struct Made {
  std::string content;
  std::vector<std::string> conflicts;
  std::string pushed_before = {};  // the revert already on the branch (nothing made)
  std::string back_to = {};        // a revert back to this commit
  size_t commits = 1;              // how many it reverts (first-parent line)
};

// The commits after `back_to` up to `target` on the first-parent line,
// newest first: at most `keep` of them (id, subject), and how many in all.
// Under the mirror's lock.
Result<std::pair<std::vector<std::pair<std::string, std::string>>, size_t>> FirstParentLine(
    Mirror::Impl& m, const git_oid* target, const git_oid* back_to, size_t keep, const std::string& what) {
  git_revwalk* raw = nullptr;
  if (git_revwalk_new(&raw, m.repo.get()) != 0) {
    return Error(Code::kIo, what + ": cannot walk the history: " + LastGitMessage());
  }
  RevwalkPtr walk(raw);
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL);
  if (git_revwalk_push(walk.get(), target) != 0 || git_revwalk_hide(walk.get(), back_to) != 0 ||
      git_revwalk_simplify_first_parent(walk.get()) != 0) {
    return Error(Code::kIo, what + ": cannot walk the history: " + LastGitMessage());
  }
  std::vector<std::pair<std::string, std::string>> kept;
  size_t total = 0;
  git_oid oid;
  while (git_revwalk_next(&oid, walk.get()) == 0) {
    if (++total > keep) continue;
    auto c = m.LookupCommit(OidHex(oid));
    if (!c) return c.error();
    kept.emplace_back(OidHex(oid), Subject(c->get()));
  }
  return std::make_pair(std::move(kept), total);
}

// The commit after `target` up to `head` (a descendant of it) whose
// Bosun-Reverts trailer names `target` (a revert bosun pushed before: a
// leader that pushed it and died before recording it), "" when there is
// none. Under the mirror's lock.
Result<std::string> PushedRevert(Mirror::Impl& m, const git_commit* target, const git_commit* head,
                                 const std::string& what) {
  git_revwalk* raw = nullptr;
  if (git_revwalk_new(&raw, m.repo.get()) != 0) {
    return Error(Code::kIo, what + ": cannot walk the history: " + LastGitMessage());
  }
  RevwalkPtr walk(raw);
  if (git_revwalk_push(walk.get(), git_commit_id(head)) != 0 ||
      git_revwalk_hide(walk.get(), git_commit_id(target)) != 0) {
    return Error(Code::kIo, what + ": cannot walk the history: " + LastGitMessage());
  }
  const std::string target_hex = OidHex(*git_commit_id(target));
  // Newest first: the newest revert of the target, unless a later commit
  // reverts that revert (the target's change is back: a new revert is due).
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL);
  std::vector<std::pair<std::string, std::string>> commits;  // id, message
  git_oid oid;
  while (git_revwalk_next(&oid, walk.get()) == 0) {
    auto c = m.LookupCommit(OidHex(oid));
    if (!c) return c.error();
    const char* message = git_commit_message(c->get());
    commits.emplace_back(OidHex(oid), message != nullptr ? message : "");
  }
  auto bosun_reverts = [](const std::string& message, const std::string& commit) {
    return TrailerSha(message, "Bosun-Reverts:") == commit;
  };
  // A revert of that revert may be anyone's (`git revert` says so in its message).
  auto reverts = [&](const std::string& message, const std::string& commit) {
    return bosun_reverts(message, commit) || message.find("This reverts commit " + commit) != std::string::npos;
  };
  for (size_t i = 0; i < commits.size(); ++i) {
    if (!bosun_reverts(commits[i].second, target_hex)) continue;
    for (size_t later = 0; later < i; ++later) {
      if (reverts(commits[later].second, commits[i].first)) return std::string();
    }
    return commits[i].first;
  }
  return std::string();
}

Result<Made> MakeRevert(Mirror::Impl& m, const std::string& target, const std::string& head,
                        const RevertOptions& options, const std::string& what) {
  git_repository* repo = m.repo.get();
  auto reverted = m.LookupCommit(target);
  if (!reverted) return reverted.error().Wrap(what);
  auto ours = m.LookupCommit(head);
  if (!ours) return ours.error().Wrap(what);
  const git_oid* target_id = git_commit_id(reverted->get());
  const git_oid* head_id = git_commit_id(ours->get());
  if (!git_oid_equal(target_id, head_id)) {
    int rc = git_graph_descendant_of(repo, head_id, target_id);
    if (rc < 0) return Error(Code::kIo, what + ": cannot walk the history of " + head + ": " + LastGitMessage());
    if (rc == 0) {
      return Error(Code::kNotFound, what + ": it is not in the history of the branch head " + Short(head) +
                                        " (was the branch rewritten?)");
    }
    // Pushed already (by a leader that died before it recorded it): that
    // revert is the answer; a second would revert nothing, or the fix.
    auto pushed = PushedRevert(m, reverted->get(), ours->get(), what);
    if (!pushed) return pushed.error();
    if (!pushed->empty()) {
      Made found{"", {}, *pushed};
      // A revert back to an earlier commit says so in its trailer: the
      // answer carries it, as the push that made it would have.
      auto c = m.LookupCommit(*pushed);
      const char* raw = c ? git_commit_message(c->get()) : nullptr;
      const std::string message = raw != nullptr ? raw : "";
      if (const std::string to = ParseRevertsTo(message); !to.empty()) {
        git_oid to_id;
        if (to.size() == 40 && git_oid_fromstr(&to_id, to.c_str()) == 0) {
          auto line = FirstParentLine(m, target_id, &to_id, 0, what);
          if (line) {
            found.back_to = to;
            found.commits = line->second;
          }
        }
      }
      return found;
    }
  }

  unsigned parents = git_commit_parentcount(reverted->get());
  std::string mainline_parent;
  if (parents > 1 && options.mainline == 0) {
    return Error(Code::kInvalid, what + ": it is a merge commit of " + std::to_string(parents) +
                                     " parents; say which parent's side to keep (mainline 1 = the branch it was "
                                     "merged into)");
  }
  if (options.mainline != 0) {
    if (parents < 2) return Error(Code::kInvalid, what + ": a mainline was given but it is not a merge commit");
    if (options.mainline > parents) {
      return Error(Code::kInvalid, what + ": it has no parent " + std::to_string(options.mainline) + " (it has " +
                                       std::to_string(parents) + ")");
    }
    mainline_parent = OidHex(*git_commit_parent_id(reverted->get(), options.mainline - 1));
  }

  // Back to options.back_to (resolved by Revert): when it is further back
  // than the parent a revert of the commit alone returns to, and an
  // ancestor (not rewritten away).
  CommitPtr back_to;
  if (!options.back_to.empty()) {
    const git_oid* own_parent = options.mainline != 0 ? git_commit_parent_id(reverted->get(), options.mainline - 1)
                                : parents == 1        ? git_commit_parent_id(reverted->get(), 0)
                                                      : nullptr;
    auto b = m.LookupCommit(options.back_to);
    if (!b) return b.error().Wrap(what + ": the commit to go back to");
    const git_oid* b_id = git_commit_id(b->get());
    if (own_parent == nullptr || !git_oid_equal(own_parent, b_id)) {
      int rc = git_graph_descendant_of(repo, target_id, b_id);
      if (rc < 0) return Error(Code::kIo, what + ": cannot walk the history: " + LastGitMessage());
      if (rc == 1) {
        back_to = std::move(*b);
      } else {
        log::Warn("gitsync", "the commit to revert back to is not an ancestor; reverting the commit alone",
                  {{"reverts", OidHex(*target_id)}, {"back_to", OidHex(*b_id)}});
      }
    }
  }

  git_merge_options merge = GIT_MERGE_OPTIONS_INIT;
  git_index* raw_index = nullptr;
  if (back_to) {
    // As git_revert_commit does for one commit: the reverted commit's tree
    // is the ancestor, the head's is ours, the older state's is theirs.
    git_tree *ancestor_raw = nullptr, *ours_raw = nullptr, *theirs_raw = nullptr;
    if (git_commit_tree(&ancestor_raw, reverted->get()) != 0) {
      return Error(Code::kIo, what + ": cannot read its tree: " + LastGitMessage());
    }
    TreePtr ancestor_tree(ancestor_raw);
    if (git_commit_tree(&ours_raw, ours->get()) != 0) {
      return Error(Code::kIo, what + ": cannot read the head's tree: " + LastGitMessage());
    }
    TreePtr ours_tree(ours_raw);
    if (git_commit_tree(&theirs_raw, back_to.get()) != 0) {
      return Error(Code::kIo, what + ": cannot read the tree to go back to: " + LastGitMessage());
    }
    TreePtr theirs_tree(theirs_raw);
    if (git_merge_trees(&raw_index, repo, ancestor_tree.get(), ours_tree.get(), theirs_tree.get(), &merge) != 0) {
      return Error(Code::kIo, what + ": the three-way merge failed: " + LastGitMessage());
    }
  } else if (git_revert_commit(&raw_index, repo, reverted->get(), ours->get(), options.mainline, &merge) != 0) {
    return Error(Code::kIo, what + ": the three-way merge failed: " + LastGitMessage());
  }
  IndexPtr index(raw_index);
  if (git_index_has_conflicts(index.get())) return Made{"", ConflictPaths(index.get())};

  git_oid tree_id;
  if (git_index_write_tree_to(&tree_id, index.get(), repo) != 0) {
    return Error(Code::kIo, what + ": cannot write the reverted tree: " + LastGitMessage());
  }
  if (git_oid_equal(&tree_id, git_commit_tree_id(ours->get()))) {
    // Not a failure of the revert (no "cannot revert" before it): the
    // callers say it as a revert that was not needed.
    const std::string what_undone =
        back_to ? "the commits since " + Short(OidHex(*git_commit_id(back_to.get()))) : std::string("it");
    return Error(Code::kAlreadyExists, "the branch head " + Short(head) + " already undoes " + what_undone +
                                           " (the revert would change nothing); nothing was pushed");
  }
  git_tree* raw_tree = nullptr;
  if (git_tree_lookup(&raw_tree, repo, &tree_id) != 0) {
    return Error(Code::kIo, what + ": cannot read the reverted tree: " + LastGitMessage());
  }
  TreePtr tree(raw_tree);

  git_signature* raw_sig = nullptr;
  if (git_signature_now(&raw_sig, options.author_name.c_str(), options.author_email.c_str()) != 0) {
    return Error(Code::kInvalid, what + ": the author \"" + options.author_name + " <" + options.author_email +
                                     ">\" cannot go into a commit: " + LastGitMessage());
  }
  SignaturePtr sig(raw_sig);
  std::string message;
  Made made;
  if (back_to) {
    auto line = FirstParentLine(m, target_id, git_commit_id(back_to.get()), 20, what);
    if (!line) return line.error();
    made.back_to = OidHex(*git_commit_id(back_to.get()));
    made.commits = line->second;
    message = RangeRevertMessage(Subject(reverted->get()), OidHex(*target_id), made.back_to, line->first, line->second,
                                 options.reason);
  } else {
    message = RevertMessage(Subject(reverted->get()), OidHex(*target_id), mainline_parent, options.reason);
  }
  const git_commit* parent = ours->get();
  GitBuf content;
  if (git_commit_create_buffer(&content.buf, repo, sig.get(), sig.get(), nullptr, message.c_str(), tree.get(), 1,
                               &parent) != 0) {
    return Error(Code::kIo, what + ": cannot make the revert commit: " + LastGitMessage());
  }
  made.content = content.str();
  return made;
}

// What became of one push.
struct Pushed {
  enum class Outcome { kPushed, kMoved, kRefused };
  Outcome outcome = Outcome::kPushed;
  // kPushed: the commit; kMoved: where the branch is now ("" unknown or
  // gone); kRefused: the remote's reason.
  std::string detail;
};

// The push callbacks' own state (RemoteContext::user).
struct PushState {
  git_oid base{};
  std::string refname;
  bool moved = false;
  std::string remote_at;
  bool refused = false;
  std::string status;
};

PushState* StateOf(void* payload) {
  return static_cast<PushState*>(static_cast<RemoteContext*>(payload)->user);
}

int OnPushNegotiation(const git_push_update** updates, size_t len, void* payload) {
  auto* ctx = static_cast<RemoteContext*>(payload);
  ctx->watch->Touch();
  PushState* st = StateOf(payload);
  for (size_t i = 0; i < len; i++) {
    if (st->refname != updates[i]->dst_refname) continue;
    if (!git_oid_equal(&updates[i]->src, &st->base)) {
      st->moved = true;
      st->remote_at = git_oid_is_zero(&updates[i]->src) ? "" : OidHex(updates[i]->src);
      git_error_set_str(GIT_ERROR_CALLBACK, "the remote branch moved");
      return GIT_EUSER;
    }
  }
  return 0;
}

int OnPushUpdateReference(const char* refname, const char* status, void* payload) {
  PushState* st = StateOf(payload);
  if (status != nullptr && st->refname == refname) {
    st->refused = true;
    st->status = status;
  }
  return 0;
}

int OnPushTransferProgress(unsigned int, unsigned int, size_t, void* payload) {
  auto* ctx = static_cast<RemoteContext*>(payload);
  ctx->watch->Touch();
  return ctx->watch->expired() ? -1 : 0;
}

int OnPushPackProgress(int, uint32_t, uint32_t, void* payload) {
  return OnPushTransferProgress(0, 0, 0, payload);
}

// Over the network: git_remote_upload with a refspec without "+". Under the
// mirror's lock.
Result<Pushed> PushToNetwork(Mirror::Impl& m, const git_oid& commit, const git_oid& base, const std::string& what) {
  git_repository* repo = m.repo.get();
  RemoteContext ctx;
  if (auto st = LoadCredentials(m, &ctx); !st) return st.error().Wrap(what);
  TransferWatch watch(std::chrono::duration_cast<std::chrono::milliseconds>(m.options.timeout));
  TransferWatch::Scope scope(&watch);
  ctx.watch = &watch;
  PushState state;
  state.base = base;
  state.refname = m.followed.refname;
  ctx.user = &state;

  git_reference* raw_ref = nullptr;
  if (git_reference_create(&raw_ref, repo, kPushRef, &commit, 1, "bosun: revert to push") != 0) {
    return Error(Code::kIo, what + ": cannot name the commit to push: " + LastGitMessage());
  }
  RefPtr push_ref(raw_ref);
  struct DropPushRef {
    git_reference* ref;
    ~DropPushRef() { git_reference_delete(ref); }
  } drop{push_ref.get()};

  auto origin = m.Origin(what + ": ");
  if (!origin) return origin.error();
  RemotePtr remote = std::move(*origin);
  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  SetRemoteCallbacks(&ctx, &callbacks);
  callbacks.push_negotiation = OnPushNegotiation;
  callbacks.push_update_reference = OnPushUpdateReference;
  callbacks.push_transfer_progress = OnPushTransferProgress;
  callbacks.pack_progress = OnPushPackProgress;
  git_proxy_options proxy = GIT_PROXY_OPTIONS_INIT;
  proxy.type = GIT_PROXY_AUTO;

  git_error_clear();
  if (int rc = git_remote_connect(remote.get(), GIT_DIRECTION_PUSH, &callbacks, &proxy, nullptr); rc != 0) {
    return ClassifyRemoteError(what + ": ", ctx, rc);
  }
  std::string spec = std::string(kPushRef) + ":" + m.followed.refname;  // no "+": never forced
  char* specs_raw[] = {spec.data()};
  git_strarray specs{specs_raw, 1};
  git_push_options push = GIT_PUSH_OPTIONS_INIT;
  push.callbacks = callbacks;
  push.proxy_opts = proxy;
  int rc = git_remote_upload(remote.get(), &specs, &push);
  git_remote_disconnect(remote.get());
  if (state.moved) return Pushed{Pushed::Outcome::kMoved, state.remote_at};
  // libgit2's own check: the remote's branch is not an ancestor of ours.
  if (rc == GIT_ENONFASTFORWARD) return Pushed{Pushed::Outcome::kMoved, ""};
  if (rc != 0) return ClassifyRemoteError(what + ": ", ctx, rc);
  if (state.refused) {
    // The hook's own words ("GitLab: Deploy keys are not allowed to push
    // code."), the last lines the remote printed, beside its status.
    std::string said;
    std::istringstream lines(ctx.remote_said);
    for (std::string line; std::getline(lines, line);) {
      if (size_t cr = line.rfind('\r'); cr != std::string::npos) line.erase(0, cr + 1);
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
      if (!line.empty()) said += (said.empty() ? "" : " / ") + line;
    }
    return Pushed{Pushed::Outcome::kRefused, state.status + (said.empty() ? "" : "; the remote said: " + said)};
  }
  return Pushed{};
}

// A local remote: the objects copied as for a fetch (mirror_local.cc, the
// other way round), then a compare-and-swap of the branch. Under the
// mirror's lock.
Result<Pushed> PushToLocal(Mirror::Impl& m, const std::string& path, const git_oid& commit, const git_oid& base,
                           const std::string& what) {
  if (!std::filesystem::exists(path)) {
    return Error(Code::kInvalid, what + ": not a Git repository: " + path + " does not exist");
  }
  git_repository* raw = nullptr;
  if (git_repository_open(&raw, path.c_str()) != 0) {
    return Error(Code::kInvalid, what + ": not a Git repository: " + LastGitMessage());
  }
  RepoPtr remote(raw);
  if (!git_repository_is_bare(remote.get())) {
    git_reference* head = nullptr;
    if (git_repository_head(&head, remote.get()) == 0) {
      RefPtr owner(head);
      if (m.followed.refname == git_reference_name(head)) {
        return Error(Code::kInvalid, what + ": " + path + " is a working clone with " + m.followed.label +
                                         " checked out, and git refuses to push there too "
                                         "(receive.denyCurrentBranch); follow a bare repository");
      }
    }
    git_error_clear();
  }
  git_remote_callbacks none = GIT_REMOTE_CALLBACKS_INIT;
  git_error_clear();
  if (FetchFromLocal(remote.get(), m.dir, {commit}, none) != 0) {
    return Error(Code::kIo, what + ": cannot copy the commit into " + path + ": " + LastGitMessage());
  }
  git_reference* ref = nullptr;
  int rc = git_reference_create_matching(&ref, remote.get(), m.followed.refname.c_str(), &commit, 1, &base,
                                         "push: bosun revert");
  if (rc == 0) {
    git_reference_free(ref);
    return Pushed{};
  }
  if (rc == GIT_EMODIFIED || rc == GIT_ENOTFOUND) {
    git_oid now;
    bool exists = git_reference_name_to_id(&now, remote.get(), m.followed.refname.c_str()) == 0;
    git_error_clear();
    return Pushed{Pushed::Outcome::kMoved, exists ? OidHex(now) : ""};
  }
  if (rc == GIT_ELOCKED) {
    return Error(Code::kUnavailable,
                 what + ": another update of " + m.followed.refname + " in " + path +
                     " holds its lock (or a stale .lock file was left behind): " + LastGitMessage());
  }
  return Error(Code::kIo, what + ": cannot update " + m.followed.refname + " in " + path + ": " + LastGitMessage());
}

// Writes the (signed) revert commit and pushes it over `head`; when pushed,
// the mirror's branch and Head() become the commit (kPushed's detail).
Result<Pushed> WriteAndPush(Mirror::Impl& m, const std::string& content, const std::string& signature,
                            const std::string& head, const std::string& what) {
  std::lock_guard<std::mutex> lock(m.mu);
  git_repository* repo = m.repo.get();
  git_oid id;
  if (git_commit_create_with_signature(&id, repo, content.c_str(), signature.empty() ? nullptr : signature.c_str(),
                                       nullptr) != 0) {
    return Error(Code::kIo, what + ": cannot write the revert commit: " + LastGitMessage());
  }
  git_oid base;
  git_oid_fromstr(&base, head.c_str());
  std::optional<std::string> local = LocalRemotePath(m.fetch_url);
  auto pushed = local ? PushToLocal(m, *local, id, base, what) : PushToNetwork(m, id, base, what);
  if (!pushed || pushed->outcome != Pushed::Outcome::kPushed) return pushed;
  for (const char* name : {m.followed.refname.c_str(), kHeadRef}) {
    git_reference* ref = nullptr;
    if (git_reference_create(&ref, repo, name, &id, 1, "bosun: revert pushed") != 0) {
      return Error(Code::kIo, "the revert was pushed to " + m.options.url + " (" + m.followed.label + ") as " +
                                  OidHex(id) + ", but the mirror cannot record it: " + LastGitMessage());
    }
    git_reference_free(ref);
  }
  return Pushed{Pushed::Outcome::kPushed, OidHex(id)};
}

}  // namespace

std::string RevertReasonLine(const std::string& reason) {
  std::string out;
  bool gap = false;
  for (char ch : reason) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c == 0x7f) {
      gap = !out.empty();
      continue;
    }
    if (gap) out.push_back(' ');
    gap = false;
    out.push_back(ch);
  }
  if (out.size() <= kReasonMaxBytes) return out;
  static constexpr const char kEllipsis[] = "\xe2\x80\xa6";  // "…"
  out.resize(Utf8CutPoint(out, kReasonMaxBytes - (sizeof kEllipsis - 1)));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + kEllipsis;
}

Result<RevertResult> Mirror::Revert(const std::string& commit, const RevertOptions& options) {
  InitLibgit2();
  Impl& m = *impl_;
  const std::string& url = m.options.url;
  std::string where = url + " (" + m.followed.label + ")";
  if (m.followed.kind != Followed::Kind::kBranch) {
    return Error(Code::kInvalid, "cannot push a revert: bosun follows " + m.followed.label + " of " + url +
                                     ", not a branch (follow a branch to have commits reverted)");
  }
  if (options.max_attempts < 1) return Error(Code::kInvalid, "cannot revert: max_attempts must be at least 1");

  std::string target;  // 40 hex, once the first fetch made sure the mirror is current
  RevertOptions opts = options;  // with back_to resolved
  std::string make_what = "cannot revert " + commit.substr(0, 12) + " on " + where;
  std::string push_what = "cannot push the revert of " + commit.substr(0, 12) + " to " + where;
  RevertResult result;
  // A mirror damaged while the server ran (a fetch of what is new does not
  // read the old packs) is made again first: a revert reads old commits.
  if (auto repaired = Repair(); !repaired) return repaired.error().Wrap("cannot revert " + commit.substr(0, 12));
  for (int attempt = 1; attempt <= options.max_attempts; attempt++) {
    result.attempts = attempt;
    auto head = Fetch();
    if (!head) return head.error().Wrap("cannot revert " + commit.substr(0, 12));
    if (target.empty()) {
      auto resolved = Resolve(commit);
      if (!resolved) return resolved.error().Wrap(make_what);
      target = *resolved;
      if (!opts.back_to.empty()) {
        // One the mirror does not have (rewritten away before it was
        // fetched here) is as one that is no ancestor: not used.
        auto back = Resolve(opts.back_to);
        if (!back) {
          log::Warn("gitsync", "the commit to revert back to is not in the mirror; reverting the commit alone",
                    {{"reverts", target}, {"back_to", opts.back_to}, {"error", back.error().message()}});
        }
        opts.back_to = back ? *back : std::string();
      }
      make_what = "cannot revert " + Short(target) + " on " + where;
      push_what = "cannot push the revert of " + Short(target) + " to " + where;
    }
    result.base = *head;

    Made made;
    {
      std::lock_guard<std::mutex> lock(m.mu);
      auto r = MakeRevert(m, target, *head, opts, make_what);
      if (!r) return r.error();
      made = std::move(*r);
    }
    result.back_to = made.back_to;
    result.commits = made.commits;
    if (!made.pushed_before.empty()) {
      result.commit = made.pushed_before;
      result.pushed_before = true;
      log::Info("gitsync", "the revert was pushed before", {{"reverts", target}, {"rev", result.commit}});
      return result;
    }
    if (!made.conflicts.empty()) {
      result.conflicts = made.conflicts;
      result.conflict_message = make_what + ": it conflicts with later changes at the branch head " + Short(*head) +
                                " in " + Join(made.conflicts) +
                                "; nothing was pushed (revert it by hand and resolve the conflict)";
      log::Warn("gitsync", "a revert conflicts; nothing pushed",
                {{"url", url}, {"ref", m.options.ref}, {"reverts", target}, {"paths", Join(made.conflicts)}});
      return result;
    }

    std::string signature;
    if (options.signer) {
      Result<std::string> signed_by = Error(Code::kInternal, "the signer threw an exception");
      try {
        signed_by = options.signer(made.content);
      } catch (...) {
      }
      if (!signed_by) return signed_by.error().Wrap(push_what + ": cannot sign the revert commit");
      signature = *signed_by;
      while (!signature.empty() && (signature.back() == '\n' || signature.back() == '\r')) signature.pop_back();
    }

    auto pushed = WriteAndPush(m, made.content, signature, *head, push_what);
    if (!pushed) return pushed.error();
    if (pushed->outcome == Pushed::Outcome::kPushed) {
      result.commit = pushed->detail;
      log::Info("gitsync", "pushed a revert",
                {{"url", url},
                 {"ref", m.options.ref},
                 {"reverts", target},
                 {"commits", std::to_string(result.commits)},
                 {"rev", result.commit},
                 {"attempts", std::to_string(attempt)}});
      return result;
    }
    if (pushed->outcome == Pushed::Outcome::kRefused) {
      // A race, or a refusal for good: a fetch tells which.
      auto now = Fetch();
      if (!now) {
        return Error(Code::kUnavailable, push_what + ": the remote refused the update (" + pushed->detail +
                                             ") and fetching again failed: " + now.error().message());
      }
      if (*now == *head) {
        return Error(Code::kForbidden, push_what + ": the remote refused the update although the branch did not " +
                                           "move: " + pushed->detail);
      }
      log::Info("gitsync", "the remote refused a revert because the branch moved; trying again on the new head",
                {{"url", url},
                 {"ref", m.options.ref},
                 {"reverts", target},
                 {"refused", pushed->detail},
                 {"was", *head},
                 {"now", *now},
                 {"attempt", std::to_string(attempt)}});
      continue;
    }
    log::Info("gitsync", "the branch moved while pushing a revert; trying again on the new head",
              {{"url", url},
               {"ref", m.options.ref},
               {"reverts", target},
               {"was", *head},
               {"now", pushed->detail.empty() ? "(unknown or gone)" : pushed->detail},
               {"attempt", std::to_string(attempt)}});
  }
  return Error(Code::kConflict, push_what + ": the branch kept moving: someone else pushed first on each of " +
                                    std::to_string(options.max_attempts) + " attempts; nothing was pushed");
}

bool IsBosunRevert(const std::string& message) {
  return !TrailerSha(message, "Bosun-Reverts:").empty();
}

std::string ParseRevertsTo(const std::string& message) {
  return TrailerSha(message, "Bosun-Reverts-To:");
}

std::string ParseReverts(const std::string& message) {
  if (std::string sha = TrailerSha(message, "Bosun-Reverts:"); !sha.empty()) return sha;
  const std::string phrase = "This reverts commit ";
  size_t p = message.find(phrase);
  if (p != std::string::npos) return HexAt(message, p + phrase.size());
  return "";
}

}  // namespace bosun::gitsync
