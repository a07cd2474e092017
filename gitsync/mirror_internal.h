// gitsync/mirror_internal.h — what the mirror_*.cc files share: the Impl,
// owning handles for libgit2 objects, error conversion, the network stream
// with its no-progress watchdog, one connection's credentials and errors,
// known_hosts matching, and the copy from a local remote. Private to gitsync.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <git2.h>

#include "core/manifest_filter.h"
#include "core/result.h"
#include "gitsync/mirror.h"

namespace bosun::gitsync {

// libgit2 objects owned by a unique_ptr, freed with their own free function.
template <typename T, void (*Free)(T*)>
struct GitFree {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using GitPtr = std::unique_ptr<T, GitFree<T, Free>>;

using RepoPtr = GitPtr<git_repository, git_repository_free>;
using ObjectPtr = GitPtr<git_object, git_object_free>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using TreeEntryPtr = GitPtr<git_tree_entry, git_tree_entry_free>;
using BlobPtr = GitPtr<git_blob, git_blob_free>;
using RefPtr = GitPtr<git_reference, git_reference_free>;
using RemotePtr = GitPtr<git_remote, git_remote_free>;
using DiffPtr = GitPtr<git_diff, git_diff_free>;
using RevwalkPtr = GitPtr<git_revwalk, git_revwalk_free>;
using ConfigPtr = GitPtr<git_config, git_config_free>;

// A git_buf that frees itself.
struct GitBuf {
  git_buf buf = GIT_BUF_INIT;
  GitBuf() = default;
  GitBuf(const GitBuf&) = delete;
  GitBuf& operator=(const GitBuf&) = delete;
  ~GitBuf() { git_buf_dispose(&buf); }
  std::string str() const { return buf.ptr ? std::string(buf.ptr, buf.size) : std::string(); }
};

// Initialises libgit2 and registers bosun's socket stream, once per process
// (thread-safe). Every entry point of Mirror calls it.
void InitLibgit2();

// libgit2's reason for the last failure on this thread ("unknown libgit2
// error" when it left none).
std::string LastGitMessage();

// The first line of a credentials file (a password, a token, a passphrase),
// its line end removed, into *out; nothing for an empty path. kInvalid
// naming `what` (the flag) and the file when it cannot be read.
Status ReadSecretFile(const std::string& path, const char* what, std::string* out);

std::string OidHex(const git_oid& oid);

// A manifest file of a tree: its path and blob id.
using TreeListing = std::vector<std::pair<std::string, git_oid>>;

// Every manifest file of `folder` (a tree of `repo`), as `prefix` + its path
// in the folder, sorted: the files the folder's ManifestFilter takes
// (core/manifest_filter.h: no dot-names, not excluded by the .bosunignore of
// the folder or of a folder under it).
Result<TreeListing> ListManifests(git_repository* repo, git_tree* folder, const std::string& prefix);

// The blob id of `folder`'s .bosunignore: zero when it has none (or for a
// null folder).
git_oid IgnoreFileId(const git_tree* folder);

// The text of `folder`'s .bosunignore: "" when it has none.
Result<std::string> IgnoreFileText(git_repository* repo, const git_tree* folder);

// The ManifestFilter of `folder`'s own .bosunignore (null: the empty filter).
Result<ManifestFilter> TreeManifestFilter(git_repository* repo, const git_tree* folder);

// What a Mirror follows, parsed from RemoteOptions::ref.
struct Followed {
  enum class Kind { kBranch, kTag, kRef, kCommit };
  Kind kind = Kind::kBranch;
  std::string refname;  // "refs/heads/main", "refs/tags/v1"; empty for kCommit
  std::string commit;   // 40 hex, for kCommit
  // For messages: "branch main", "tag v1", "ref refs/pull/1/head", "commit 1a2b…".
  std::string label;
};
Result<Followed> ParseFollowed(const std::string& ref);

struct Mirror::Impl {
  std::string dir;
  RemoteOptions options;
  std::string fetch_url;  // options.url with a local path made absolute
  Followed followed;
  mutable std::mutex mu;
  RepoPtr repo;
  bool warned_host_key = false;  // under mu

  // Reads a revision expression to a commit (under mu).
  Result<CommitPtr> LookupCommit(const std::string& spec) const;
  // The mirror's "origin", at fetch_url: the URL this process was started
  // with, whatever the mirror's config on disk says now (set back, with a
  // warning, when someone changed it). Under mu.
  Result<RemotePtr> Origin(const std::string& what);
  // Opens (or creates) the bare repository in `dir` and its origin, after
  // removing what an interrupted process left (stale lock files, half
  // written packs). Under mu, or before the Mirror is shared.
  Status OpenRepository();
  // What is wrong with the repository on disk, "" when nothing is: its
  // folder gone, a ref that cannot be read, or an object of the last fetched
  // commit (or of the followed ref) missing or unreadable. Under mu.
  std::string Damage() const;
};

// The ref that holds the last good commit of the followed ref. It survives a
// deleted branch and a restart, and keeps that commit's objects reachable.
inline constexpr const char* kHeadRef = "refs/bosun/head";

// ---------------------------------------------------------------------------
// Network watchdog (mirror_stream.cc).
//
// libgit2 1.5 has no network timeout: a remote that accepts the connection
// and then says nothing blocks a fetch forever. bosun registers its own
// GIT_STREAM_STANDARD stream (libgit2 builds its TLS stream and its SSH
// session on top of it), which connects with a deadline and counts bytes.
// While a Fetch runs, a TransferWatch is installed on its thread: every byte
// through the stream and every progress callback counts as progress, and
// when none comes for `timeout` a watchdog thread shuts the watch's sockets
// down, which ends any blocked read at once (ours, the TLS stream's, or
// libssh2's). The same happens when the caller's cancel flag turns true
// (polled every kCancelPoll): then cancelled() rather than expired().
class TransferWatch {
 public:
  static constexpr std::chrono::milliseconds kCancelPoll{50};

  // `cancel` (may be null) outlives the watch.
  explicit TransferWatch(std::chrono::milliseconds timeout, const std::atomic<bool>* cancel = nullptr);
  ~TransferWatch();  // stops the watchdog
  TransferWatch(const TransferWatch&) = delete;
  TransferWatch& operator=(const TransferWatch&) = delete;

  // Installs this watch as the current thread's while it lives.
  class Scope {
   public:
    explicit Scope(TransferWatch* watch);
    ~Scope();

   private:
    TransferWatch* previous_;
  };
  static TransferWatch* Current();

  void Touch();
  // Counts bytes read from the remote; false once more than the byte limit
  // (when one is set) have come since it was set: the read fails then.
  bool Received(size_t bytes);
  // A limit on the bytes read from now on (0: none), and whether it was
  // passed. Fetch sets one while the remote lists its refs: an endless list
  // (a broken proxy, a hostile server) would otherwise grow libgit2's memory
  // without bound, the watchdog never firing as bytes keep coming.
  void SetByteLimit(uint64_t limit);
  uint64_t byte_limit() const { return byte_limit_.load(); }
  bool over_limit() const { return over_limit_.load(); }
  bool expired() const { return expired_.load(); }
  // The cancel flag was seen (by the watchdog or by this call).
  bool cancelled() const { return cancelled_.load() || (cancel_ != nullptr && cancel_->load()); }
  // Expired or cancelled: the transfer must end.
  bool stopped() const { return expired_.load() || cancelled(); }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // Sockets of the streams opened under this watch.
  void AddSocket(int fd);
  void RemoveSocket(int fd);

 private:
  void Run();

  const std::chrono::milliseconds timeout_;
  const std::atomic<bool>* const cancel_;
  std::atomic<int64_t> last_progress_ns_;
  std::atomic<bool> expired_{false};
  std::atomic<uint64_t> byte_limit_{0};
  std::atomic<uint64_t> received_{0};  // since the limit was set
  std::atomic<bool> over_limit_{false};
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::set<int> sockets_;
  std::thread thread_;
};

// The most a remote may send while it lists its refs (TransferWatch::
// SetByteLimit): far above a real repository's (300,000 tags: ~25 MB).
inline constexpr uint64_t kMaxRefListBytes = 128ull << 20;

// Registers the stream with libgit2 (called by InitLibgit2).
void RegisterWatchedStream();

// ---------------------------------------------------------------------------
// One connection to the remote (mirror_fetch.cc): Fetch's, and the push of a
// revert (revert.cc). The secrets are read from their files for each
// connection (a rotated token works without a restart) and wiped when the
// context ends.
struct RemoteContext {
  Mirror::Impl* impl = nullptr;
  TransferWatch* watch = nullptr;  // must be set before connecting
  const ProgressFn* progress = nullptr;
  std::string password;
  std::string passphrase;
  std::string known_hosts;
  int ssh_port = 22;

  int userpass_attempts = 0;
  int key_attempts = 0;
  int username_attempts = 0;
  // Set by a callback that refused to go on; the reason is ours, clearer than
  // what libgit2 says after it.
  Code refused_code = Code::kOk;
  std::string refused_reason;
  // What the remote printed for a person (a hook's "remote: …" lines), its
  // last 512 bytes: a refused push says why with it.
  std::string remote_said;

  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_log = std::chrono::steady_clock::now();
  FetchProgress last;

  // What the caller's own callbacks need (they share this payload).
  void* user = nullptr;

  RemoteContext() = default;
  RemoteContext(const RemoteContext&) = delete;
  RemoteContext& operator=(const RemoteContext&) = delete;
  ~RemoteContext();

  // Records why a callback stopped the operation, for ClassifyRemoteError.
  int Refuse(Code code, const std::string& reason, int rc);
};

// Points `ctx` at the mirror and reads the credentials files of its options
// (kInvalid naming the file when one cannot be read).
Status LoadCredentials(Mirror::Impl& m, RemoteContext* ctx);

// Sets the credentials, certificate and sideband callbacks, with `ctx` as
// the payload of every callback.
void SetRemoteCallbacks(RemoteContext* ctx, git_remote_callbacks* callbacks);

// A failed libgit2 call on the connection as the error the contract promises
// (kUnavailable, kUnauthorized, kInvalid), "prefix" + the reason: libgit2's,
// the refusing callback's, the watchdog's, or "cancelled".
Error ClassifyRemoteError(const std::string& prefix, const RemoteContext& ctx, int rc);

// ---------------------------------------------------------------------------
// known_hosts (mirror_known_hosts.cc).

enum class HostKeyMatch { kKnown, kUnknown, kRevoked, kMismatch };

// Looks `host` (and `port`, 22 when default) up in an OpenSSH known_hosts
// text: plain, [host]:port, comma lists, wildcards and hashed (|1|…) names.
// kKnown when a line for the host lists exactly `key` (the raw key blob),
// kMismatch when lines for the host list only other keys, kUnknown when no
// line names the host, kRevoked when a @revoked line lists the key.
HostKeyMatch MatchKnownHost(const std::string& known_hosts, const std::string& host, int port, const std::string& key);

// ---------------------------------------------------------------------------
// Local remotes (mirror_local.cc).
//
// libgit2 1.5's local transport packs what a fetch needs with delta search on
// one thread: ten times slower than git for a large first fetch. A local
// remote's objects are copied by bosun instead; see mirror_local.cc.

// The directory of a local remote, as libgit2's local transport reads the
// URL: an absolute path (Open makes a local path absolute) or a file:// URL
// ("file:///p" or "file://localhost/p", percent-decoded). nullopt for any
// other URL.
std::optional<std::string> LocalRemotePath(const std::string& fetch_url);

// Copies into `mirror` every object reachable from `wants` (commits, tags,
// trees or blobs of the repository at `path`) that the mirror lacks, as new
// packs of its own: nothing is linked to or shared with the remote. Reports
// through `callbacks`: transfer_progress for the objects written (counts add
// up across the packs of one call), pack_progress while it looks for what to
// copy; a non-zero return from either stops the copy with that value.
// Returns 0, or a libgit2 error code with git_error_last() set (a want the
// remote does not have, an unreadable remote, a full disk). On error the
// mirror may hold some of the new objects, and nothing else changed.
int FetchFromLocal(git_repository* mirror, const std::string& path, const std::vector<git_oid>& wants,
                   const git_remote_callbacks& callbacks);

}  // namespace bosun::gitsync
