// gitsync/mirror.h — a local mirror of the Git repository bosun follows
// (libgit2; DESIGN.md §4). Only gitsync's .cc files include git2.h.
//
// A Mirror is a bare repository under the data dir that fetches from one
// remote: a local path, file://, http(s):// or ssh:// (key auth). Credentials
// come from files named in RemoteOptions, never from the command line or the
// URL, and appear in no message. Manifests are read straight from the object
// database at a commit (no working checkout), and a new commit's changes are
// found by a tree diff so only changed files are read again.
//
// What is followed: a branch ("main" or "refs/heads/main"), a tag
// ("refs/tags/v1.2"), or a fixed commit (40 hex digits). Fetch returns the
// commit the followed ref points at after fetching; a branch that was
// rewritten (force-pushed) simply points somewhere new, and the caller can
// tell with IsAncestor. When the remote is down, slow or gone, Fetch fails
// with a message for a person ("cannot fetch https://host/repo.git (branch
// main): ...") and the mirror keeps what it had: Head() still answers with
// the last good commit, and every commit it ever fetched stays readable.
//
// Only the followed ref is fetched (not every branch); see README.md for
// what that costs and why, and for how the timeout works.
//
// Thread-safety: every method may be called from any thread; calls are
// serialized on one mutex (libgit2 repositories are not thread-safe).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/manifests.h"
#include "core/result.h"

namespace bosun::gitsync {

struct RemoteOptions {
  // A local path (absolute or relative), file://…, http://…, https://… or
  // ssh://… / user@host:path. Must not carry a password, nor (http, https)
  // any user part, which is often a token. Credentials are only ever sent
  // to this URL's host, scheme and port (not to where a redirect points).
  std::string url;
  // What to follow: a branch name, "refs/heads/X", "refs/tags/X", or a
  // 40-hex commit id. Default: "main".
  std::string ref = "main";
  // HTTP(S) basic auth: the user name, and a file holding the password or
  // token (first line, trailing newline ignored). Both optional.
  std::string username;
  std::string password_file;
  // SSH: a private key file (OpenSSH or PEM), its optional passphrase file,
  // and a known_hosts file the host key must be listed in. An ssh URL
  // without one is refused by Open, unless ssh_accept_any_host_key (then any
  // host key is accepted and a warning is logged once per Mirror). The user
  // is the URL's (ssh://git@host/…), else `username`, else "git".
  std::string ssh_key_file;
  std::string ssh_passphrase_file;
  std::string ssh_known_hosts_file;
  bool ssh_accept_any_host_key = false;
  // HTTPS: a PEM file of CA certificates to trust for the server, besides
  // the system's (/etc/ssl/certs): a private Git server behind an internal
  // CA. libgit2's TLS settings are the process's, so Open sets them for
  // every mirror of the process (bosun follows one repository).
  std::string ca_file;
  // A fetch that makes no progress for this long is abandoned: no byte in
  // either direction and no progress report from libgit2. Also the connect
  // timeout. A remote that trickles data slowly but steadily is not cut off.
  std::chrono::seconds timeout{60};
};

struct FetchProgress {
  uint64_t received_objects = 0;
  uint64_t total_objects = 0;
  uint64_t received_bytes = 0;
};
using ProgressFn = std::function<void(const FetchProgress&)>;

struct Person {
  std::string name;
  std::string email;
  int64_t time = 0;        // seconds since the epoch
  int offset_minutes = 0;  // the author's time zone
};

struct CommitInfo {
  std::string id;    // 40 hex
  std::string tree;  // 40 hex
  std::vector<std::string> parents;
  Person author;
  Person committer;
  std::string message;  // the whole message
  std::string summary;  // its first line
  // The raw signature (the gpgsig header: "-----BEGIN SSH SIGNATURE-----…"
  // or a PGP block) and the payload it signs (the commit object without
  // that header). Both empty for an unsigned commit.
  std::string signature;
  std::string signed_payload;
};

// A manifest file of a tree: its path from the repository root, the blob id
// (to skip re-parsing files that did not change), and its content.
struct TreeFile {
  std::string path;
  std::string blob;
  std::string content;
};

struct FileChange {
  enum class Type { kAdded, kModified, kDeleted };
  Type type;
  std::string path;  // from the repository root (for a rename: the new path; the
                     // old one comes as a separate kDeleted)
  std::string blob;  // the new blob; empty for kDeleted
};

struct RevertOptions;  // gitsync/revert.h
struct RevertResult;

class Mirror {
 public:
  // Opens (or creates) the bare mirror in `dir` for `options.url`. Does not
  // contact the remote. A local path is made absolute. A dir that mirrors
  // another URL is re-pointed at the new one; after a change of URL or ref,
  // Head() is kNotFound until the next Fetch (objects already fetched stay).
  // Fails with kInvalid for an empty URL, a URL with a password in it, an
  // invalid ref, or an unreadable credentials file; kIo when the dir cannot
  // be made.
  // One Mirror per `dir` at a time: two Mirrors (or processes) fetching
  // into one dir are not coordinated.
  static Result<std::unique_ptr<Mirror>> Open(const std::string& dir, const RemoteOptions& options);
  ~Mirror();
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  const RemoteOptions& options() const;

  // Fetches the followed ref and returns the commit it points at (an
  // annotated tag is peeled to its commit). A fixed commit id is fetched only
  // when it is not already present, then without any network access. Blocks
  // for the transfer; `progress` is called on this thread as objects arrive.
  // Errors, each "cannot fetch URL (branch X): reason":
  // kUnavailable (remote unreachable, refused, timed out, a network error),
  // kNotFound (the branch or tag does not exist on the remote — e.g. it was
  // deleted — or no branch or tag holds the fixed commit), kUnauthorized
  // (credentials missing or refused, SSH host key not in known_hosts, TLS
  // certificate not trusted), kInvalid (not a Git repository; a tag that
  // points at no commit), kIo (the mirror's own directory cannot be
  // written). On any error the mirror and Head() are as they were, but for
  // one: a mirror damaged on disk (its folder removed, a pack cut short or
  // overwritten, a ref file garbled: Impl::Damage) when a fetch fails is
  // removed and made again from the remote, and the fetch tried once more
  // (a warning says so); Head() is then the new fetch's, or none.
  // Stale lock files and half-written packs an interrupted process left are
  // removed when the mirror is opened.
  //
  // `cancel`, when given, is watched while the fetch runs (it must outlive
  // the call): once it reads true, the fetch stops within about 100 ms — its
  // sockets are shut down, which ends any blocked read, and a local copy
  // stops at its next progress report — and fails with kUnavailable
  // "cannot fetch URL (branch X): cancelled". A stopping sync controller
  // uses it so that leadership loss or shutdown never waits for a stalled
  // remote's time-out.
  Result<std::string> Fetch(const ProgressFn& progress = {}, const std::atomic<bool>* cancel = nullptr);

  // Looks at the mirror on disk and, when it is damaged (see Fetch), makes
  // it again from the remote (a fetch): true then, false when nothing was
  // wrong; the fetch's error when it could not be made again. For a reader
  // that failed on what a fetch did not touch (an object of an older commit
  // gone from a damaged pack).
  Result<bool> Repair(const std::atomic<bool>* cancel = nullptr);

  // The commit of the followed ref as of the last successful Fetch, without
  // touching the network; kNotFound before the first one.
  Result<std::string> Head() const;

  // Resolves any revision expression libgit2 understands (a commit id or a
  // unique prefix of one, "main~1", a fetched branch or tag) to a commit id.
  // kNotFound when it names nothing in the mirror, kInvalid when it is
  // ambiguous or names something that is not a commit.
  Result<std::string> Resolve(const std::string& spec) const;

  // A commit's metadata and raw signature; `id` as for Resolve. kNotFound
  // when the mirror does not have it.
  Result<CommitInfo> Commit(const std::string& id) const;

  // Every manifest file (core/manifests.h IsManifestFile) under `path`
  // ("" or "." = the whole tree; a directory, or one file; a leading "./"
  // and trailing "/" are ignored) at `commit`, sorted by path. Other files
  // (binaries, READMEs), symlinks and submodules are ignored. Large files
  // are returned as they are: the loader's size limit reports them.
  // kNotFound when `path` does not exist at that commit (or the commit is
  // unknown), kInvalid for a path with "..". No checkout: blobs are read
  // from the object database.
  Result<std::vector<TreeFile>> ReadTree(const std::string& commit, const std::string& path) const;

  // The manifest files under `path` that differ between two commits (either
  // may be "" for the empty tree), sorted by path. No rename detection: a
  // renamed file is a kDeleted of the old path and a kAdded of the new one.
  // A change of mode alone (chmod +x) is no change.
  Result<std::vector<FileChange>> Diff(const std::string& from, const std::string& to, const std::string& path) const;

  // A blob's content. kInvalid for an id that is not 40 hex, kNotFound when
  // the mirror does not have it.
  Result<std::string> ReadBlob(const std::string& blob) const;

  // True when `ancestor` is `commit` or one of its ancestors. A followed
  // branch whose new head does not descend from the old one was rewritten.
  // Errors as for Resolve.
  Result<bool> IsAncestor(const std::string& ancestor, const std::string& commit) const;

  // The commits reachable from `to` but not from `from` (the "from..to"
  // range), oldest first (topological: every commit after its parents);
  // `from` may be "" (all of `to`'s history). After a force-push (from =
  // the old head), the new head's commits that the old one does not share.
  Result<std::vector<std::string>> CommitsBetween(const std::string& from, const std::string& to) const;

  // Reverts `commit` on the followed branch of the remote: a `git revert`
  // commit on top of the branch head, pushed fast-forward only. See
  // gitsync/revert.h (include it to call this).
  Result<RevertResult> Revert(const std::string& commit, const RevertOptions& options);

  struct Impl;

 private:
  explicit Mirror(std::unique_ptr<Impl> impl);
  // Fetch's work, under impl_->mu (Fetch makes a damaged mirror again and
  // calls it once more).
  Result<std::string> FetchLocked(const ProgressFn& progress, const std::atomic<bool>* cancel);
  // Under impl_->mu: when the mirror is damaged (Impl::Damage), removes it,
  // creates it empty and fetches: the fetched commit; nullopt when nothing
  // was wrong. `seen` says what failed, for the log.
  Result<std::optional<std::string>> RepairLocked(const ProgressFn& progress, const std::atomic<bool>* cancel,
                                                  const std::string& seen);
  std::unique_ptr<Impl> impl_;
};

// The files of ReadTree as the desired-set loader takes them.
std::vector<SourceFile> ToSourceFiles(const std::vector<TreeFile>& files);
// The same, moving each file's path and content (a first sync's ~10 MB).
std::vector<SourceFile> ToSourceFiles(std::vector<TreeFile>&& files);

// What RemoteOptions::ref follows, as one name: "main" → "refs/heads/main";
// "refs/…" and a 40-hex commit id as they are. `--ref main` and `--ref
// refs/heads/main` follow the same branch.
std::string FullRefName(const std::string& ref);
// A folder of the repository as paths are compared: "./deploy/" → "deploy",
// "." → "" (the whole tree).
std::string CleanFolder(std::string folder);
// Whether `path` (from the repository root) is `folder` or inside it:
// "deploy/web" is in "deploy" (not in "dep"), and everything is in "".
bool InFolder(const std::string& path, const std::string& folder);

}  // namespace bosun::gitsync
