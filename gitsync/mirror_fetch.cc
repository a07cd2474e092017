// gitsync/mirror_fetch.cc — Mirror::Fetch: one connection to the remote,
// its list of refs, a download of only what the followed ref needs, and an
// error a person can act on when any of it fails.
//
// Only the followed ref is fetched ("+refs/heads/main:refs/heads/main"), not
// every branch: a GitOps repository's feature branches are none of the
// cluster's business, and fetching them would slow every poll. The "+"
// makes a force-pushed branch move. A fixed commit that is not yet present
// is looked for on every branch and tag, since libgit2 1.5 cannot ask a
// server for a commit by id.
//
// A local remote (a path, file://) is connected to and listed by libgit2 as
// any other, but its objects are copied by mirror_local.cc rather than by
// libgit2's local transport, which is ten times slower than git on a large
// first fetch.
//
// The credentials, certificate and error handling of a connection are shared
// with the push of a revert (revert.cc) through mirror_internal.h.
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <utility>
#include <vector>

#include "core/ascii.h"
#include "core/log.h"
#include "crypto/tokens.h"
#include "gitsync/mirror.h"
#include "gitsync/mirror_internal.h"

namespace bosun::gitsync {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Fetches that last longer than this report their progress in the log.
constexpr std::chrono::seconds kLogEvery{5};

Status ReadWholeFile(const std::string& path, const char* what, std::string* out) {
  if (path.empty()) return Ok();
  std::ifstream in(path);
  if (!in) return Error(Code::kInvalid, std::string("cannot read ") + what + " " + path + ": " + strerror(errno));
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return Ok();
}

// "scheme://host:port" of a URL (lower case, the scheme's default port when
// none is given; scp-like user@host:path is ssh on 22), to tell whether a
// URL libgit2 asks credentials for is on the host they are for.
std::string Origin(const std::string& url) {
  std::string scheme = "ssh", authority;
  size_t sep = url.find("://");
  if (sep != std::string::npos) {
    scheme = AsciiLower(url.substr(0, sep));
    authority = url.substr(sep + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
  } else {
    authority = url.substr(0, url.find(':', url.find('@') == std::string::npos ? 0 : url.find('@')));
  }
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  if (scheme == "ssh+git" || scheme == "git+ssh") scheme = "ssh";
  std::string host = AsciiLower(authority), port;
  size_t colon = host.rfind(':');
  if (colon != std::string::npos && !host.ends_with("]")) {
    port = host.substr(colon + 1);
    host.erase(colon);
  }
  if (port.empty()) port = scheme == "https" ? "443" : scheme == "http" ? "80" : scheme == "git" ? "9418" : "22";
  return scheme + "://" + host + ":" + port;
}

// The port of an ssh:// URL (22 for scp-like URLs and when none is given):
// known_hosts names non-standard ports as "[host]:port".
int SshPort(const std::string& url) {
  const std::string origin = Origin(url);
  return std::atoi(origin.c_str() + origin.rfind(':') + 1);
}

// Whether libgit2's `asking` URL is on the configured URL's origin. libgit2
// writes an IPv6 host without its brackets (http://::1:8080/…) and leaves a
// default port out, so that form of the configured origin counts too.
bool SameOrigin(const std::string& asking, const std::string& configured) {
  if (Origin(asking) == Origin(configured)) return true;
  const std::string origin = Origin(configured);  // scheme://host:port
  const size_t sep = origin.find("://");
  const size_t colon = origin.rfind(':');
  std::string host = origin.substr(sep + 3, colon - sep - 3), port = origin.substr(colon + 1);
  if (host.size() < 2 || host.front() != '[' || host.back() != ']') return false;
  host = host.substr(1, host.size() - 2);
  const std::string scheme = origin.substr(0, sep);
  const bool default_port = (scheme == "https" && port == "443") || (scheme == "http" && port == "80");
  const std::string want = scheme + "://" + host + (default_port ? "" : ":" + port);
  const std::string got = AsciiLower(asking);
  return got == want || got.rfind(want + "/", 0) == 0;
}

std::string Base64(const unsigned char* data, size_t len) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    acc = (acc << 8) | data[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;  // unpadded, as ssh-keygen -l prints fingerprints
}

int OnCredentials(git_credential** out, const char* url, const char* user_from_url, unsigned int allowed,
                  void* payload) {
  auto* ctx = static_cast<RemoteContext*>(payload);
  ctx->watch->Touch();
  const RemoteOptions& o = ctx->impl->options;
  // Credentials go only to the host (scheme and port) they are for: not to
  // one an HTTP redirect points at, as git and curl do. (libgit2 names the
  // host a redirect went to here since Debian's fix of CVE-2026-53586, as
  // upstream 1.9 does; MirrorHttp.CredentialsAreNotSentToTheHostARedirect-
  // PointsAt checks the libgit2 it runs with.)
  if (url != nullptr && !SameOrigin(url, o.url)) {
    log::Warn("gitsync", "credentials withheld from a host the remote redirected to",
              {{"configured", Origin(o.url)}, {"asking", Origin(url)}});
    return ctx->Refuse(Code::kUnauthorized,
                       "the remote redirected to " + Origin(url) +
                           ", which asks for credentials; they are only sent to " + Origin(o.url) +
                           " (give the URL the redirect goes to with --repo, if it is trusted)",
                       GIT_EAUTH);
  }
  std::string user = user_from_url != nullptr && user_from_url[0] != '\0' ? user_from_url
                     : !o.username.empty()                                ? o.username
                                                                          : "git";
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) != 0 && !o.ssh_key_file.empty()) {
    if (ctx->key_attempts++ > 0) {
      // libssh2 1.10 signs with an RSA key by SHA-1 ("ssh-rsa"), which
      // OpenSSH 8.8 and later refuse even for an authorized key.
      std::string header;
      if (std::ifstream key(o.ssh_key_file); key) std::getline(key, header);
      std::ifstream pub(o.ssh_key_file + ".pub");
      std::string pub_line;
      if (pub) std::getline(pub, pub_line);
      const bool rsa = header.find("RSA") != std::string::npos || pub_line.rfind("ssh-rsa ", 0) == 0;
      return ctx->Refuse(Code::kUnauthorized,
                         "the server refused the SSH key " + o.ssh_key_file + " for user " + user +
                             (rsa ? " (an RSA key: this build signs with SHA-1, which OpenSSH 8.8 and later refuse; "
                                    "use an ed25519 or ECDSA key)"
                                  : ""),
                         GIT_EAUTH);
    }
    // Read again at each connection (a key rotated on disk is used): one
    // gone or unreadable since the start is said with its path and why.
    if (std::ifstream key(o.ssh_key_file); !key) {
      return ctx->Refuse(Code::kInvalid,
                         "cannot read --repo-ssh-key-file " + o.ssh_key_file + ": " + std::strerror(errno), GIT_EAUTH);
    }
    return git_credential_ssh_key_new(out, user.c_str(), nullptr, o.ssh_key_file.c_str(),
                                      ctx->passphrase.empty() ? nullptr : ctx->passphrase.c_str());
  }
  if ((allowed & GIT_CREDENTIAL_USERNAME) != 0) {
    if (ctx->username_attempts++ > 0) {
      return ctx->Refuse(Code::kUnauthorized, "the server refused user " + user, GIT_EAUTH);
    }
    return git_credential_username_new(out, user.c_str());
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 && (!o.password_file.empty() || !o.username.empty())) {
    if (ctx->userpass_attempts++ > 0) {
      return ctx->Refuse(Code::kUnauthorized, "the server refused the user name and password of user " + user,
                         GIT_EAUTH);
    }
    return git_credential_userpass_plaintext_new(out, user.c_str(), ctx->password.c_str());
  }
  std::string hint = (allowed & GIT_CREDENTIAL_SSH_KEY) != 0              ? " (--repo-ssh-key-file)"
                     : (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 ? " (--repo-username, --repo-password-file)"
                                                                          : "";
  return ctx->Refuse(Code::kUnauthorized, "the remote asks for credentials and none are configured" + hint, GIT_EAUTH);
}

int OnCertificate(git_cert* cert, int valid, const char* host, void* payload) {
  auto* ctx = static_cast<RemoteContext*>(payload);
  ctx->watch->Touch();
  // TLS: libgit2's verification against the system's CAs decides.
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) return GIT_PASSTHROUGH;
  auto* key = reinterpret_cast<git_cert_hostkey*>(cert);
  std::string fingerprint = (key->type & GIT_CERT_SSH_SHA256) != 0
                                ? "SHA256:" + Base64(key->hash_sha256, sizeof key->hash_sha256)
                                : "(no SHA-256 fingerprint)";
  const RemoteOptions& o = ctx->impl->options;
  if (o.ssh_known_hosts_file.empty()) {
    // Mirror::Open refused this unless the host key is not to be checked.
    if (!o.ssh_accept_any_host_key) {
      return ctx->Refuse(Code::kUnauthorized, "no known_hosts file to check the SSH host key against",
                         GIT_ECERTIFICATE);
    }
    if (!valid && !ctx->impl->warned_host_key) {
      ctx->impl->warned_host_key = true;
      log::Warn("gitsync", "accepting the SSH host key without checking it: no known_hosts file is configured",
                {{"url", o.url}, {"host", host}, {"fingerprint", fingerprint}});
    }
    return 0;
  }
  if ((key->type & GIT_CERT_SSH_RAW) == 0) {
    return ctx->Refuse(Code::kUnauthorized, "libgit2 gave no host key of " + std::string(host) + " to check",
                       GIT_ECERTIFICATE);
  }
  switch (MatchKnownHost(ctx->known_hosts, host, ctx->ssh_port, std::string(key->hostkey, key->hostkey_len))) {
    case HostKeyMatch::kKnown:
      return 0;
    case HostKeyMatch::kRevoked:
      return ctx->Refuse(
          Code::kUnauthorized,
          "the host key of " + std::string(host) + " (" + fingerprint + ") is revoked in " + o.ssh_known_hosts_file,
          GIT_ECERTIFICATE);
    case HostKeyMatch::kMismatch:
      return ctx->Refuse(Code::kUnauthorized,
                         "the host key " + std::string(host) + " offered (" + fingerprint +
                             ") is not among its keys in " + o.ssh_known_hosts_file +
                             " (list every key type of the server, as ssh-keyscan prints them; otherwise this may "
                             "be a man-in-the-middle)",
                         GIT_ECERTIFICATE);
    case HostKeyMatch::kUnknown:
      break;
  }
  return ctx->Refuse(Code::kUnauthorized,
                     "host " + std::string(host) + " (" + fingerprint + ") is not in " + o.ssh_known_hosts_file,
                     GIT_ECERTIFICATE);
}

std::string MiB(uint64_t bytes) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

int OnTransferProgress(const git_indexer_progress* stats, void* payload) {
  auto* ctx = static_cast<RemoteContext*>(payload);
  ctx->watch->Touch();
  ctx->last = FetchProgress{stats->received_objects, stats->total_objects, stats->received_bytes};
  if (ctx->progress != nullptr && *ctx->progress) {
    // An exception must not unwind through libgit2's C frames.
    try {
      (*ctx->progress)(ctx->last);
    } catch (...) {
      return ctx->Refuse(Code::kInternal, "the progress callback threw an exception", -1);
    }
  }
  auto now = SteadyClock::now();
  if (now - ctx->last_log >= kLogEvery) {
    ctx->last_log = now;
    log::Info("gitsync", "fetching",
              {{"url", ctx->impl->options.url},
               {"ref", ctx->impl->options.ref},
               {"objects", std::to_string(stats->received_objects) + "/" + std::to_string(stats->total_objects)},
               {"received", MiB(stats->received_bytes)}});
  }
  return ctx->watch->stopped() ? -1 : 0;
}

// A local remote (a path, file://) builds its pack in this process before
// any object "arrives"; building is progress too.
int OnPackProgress(int stage, uint32_t current, uint32_t total, void* payload) {
  (void)stage;
  (void)current;
  (void)total;
  auto* ctx = static_cast<RemoteContext*>(payload);
  ctx->watch->Touch();
  return ctx->watch->stopped() ? -1 : 0;
}

int OnSideband(const char* text, int len, void* payload) {
  auto* ctx = static_cast<RemoteContext*>(payload);
  ctx->watch->Touch();
  ctx->remote_said.append(text, static_cast<size_t>(len));
  if (ctx->remote_said.size() > 512) ctx->remote_said.erase(0, ctx->remote_said.size() - 512);
  if (log::GetLevel() > log::Level::kDebug) return ctx->watch->stopped() ? -1 : 0;
  std::string line(text, static_cast<size_t>(len));
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  log::Debug("gitsync", "remote says", {{"url", ctx->impl->options.url}, {"text", line}});
  return ctx->watch->stopped() ? -1 : 0;
}

bool Contains(const std::string& s, const char* needle) {
  return s.find(needle) != std::string::npos;
}

}  // namespace

RemoteContext::~RemoteContext() {
  crypto::Wipe(password);
  crypto::Wipe(passphrase);
}

int RemoteContext::Refuse(Code code, const std::string& reason, int rc) {
  refused_code = code;
  refused_reason = reason;
  git_error_set_str(GIT_ERROR_CALLBACK, reason.c_str());
  return rc;
}

Status LoadCredentials(Mirror::Impl& m, RemoteContext* ctx) {
  ctx->impl = &m;
  ctx->ssh_port = SshPort(m.fetch_url);
  for (auto st : {ReadSecretFile(m.options.password_file, "--repo-password-file", &ctx->password),
                  ReadSecretFile(m.options.ssh_passphrase_file, "--repo-ssh-key-passphrase-file", &ctx->passphrase),
                  ReadWholeFile(m.options.ssh_known_hosts_file, "--repo-known-hosts-file", &ctx->known_hosts)}) {
    if (!st) return st;
  }
  return Ok();
}

void SetRemoteCallbacks(RemoteContext* ctx, git_remote_callbacks* callbacks) {
  callbacks->credentials = OnCredentials;
  callbacks->certificate_check = OnCertificate;
  callbacks->sideband_progress = OnSideband;
  callbacks->payload = ctx;
}

// Turns a failed libgit2 call into the code the contract promises, keeping
// libgit2's reason (or ours, when a callback stopped it).
Error ClassifyRemoteError(const std::string& prefix, const RemoteContext& ctx, int rc) {
  if (ctx.watch->cancelled()) return Error(Code::kUnavailable, prefix + "cancelled");
  if (ctx.watch->expired()) {
    return Error(Code::kUnavailable, prefix + "no progress for " + std::to_string(ctx.impl->options.timeout.count()) +
                                         "s, gave up (the remote is slow or stalled)");
  }
  if (ctx.refused_code != Code::kOk) return Error(ctx.refused_code, prefix + ctx.refused_reason);
  std::string reason = LastGitMessage();
  if (ctx.watch->over_limit()) return Error(Code::kUnavailable, prefix + reason);
  const git_error* e = git_error_last();
  int klass = e != nullptr ? e->klass : GIT_ERROR_NONE;
  if (rc == GIT_EAUTH || Contains(reason, "401") || Contains(reason, "403") ||
      Contains(reason, "authentication replays") || Contains(reason, "authentication required")) {
    return Error(Code::kUnauthorized, prefix + reason);
  }
  if (rc == GIT_ECERTIFICATE || Contains(reason, "SSL certificate is invalid")) {
    // mbedTLS's flags, said for a person, with what to do.
    if (Contains(reason, "not correctly signed by the trusted CA")) {
      reason =
          "the server's TLS certificate is not signed by a CA this machine trusts (give the CA that signed it "
          "with --repo-ca-file; libgit2 here does not read SSL_CERT_FILE): " +
          reason;
    } else if (Contains(reason, "Common Name (CN) does not match")) {
      reason =
          "the server's TLS certificate is not for this host name (mbedTLS here reads no IP addresses in "
          "certificates: use the host name the certificate names): " +
          reason;
    } else if (Contains(reason, "validity has expired")) {
      reason = "the server's TLS certificate has expired: " + reason;
    }
    return Error(Code::kUnauthorized, prefix + reason);
  }
  if (Contains(reason, "404") || Contains(reason, "could not find repository") ||
      Contains(reason, "not a git repository") || klass == GIT_ERROR_REPOSITORY) {
    return Error(Code::kInvalid, prefix + "not a Git repository: " + reason);
  }
  return Error(Code::kUnavailable, prefix + reason);
}

std::string Mirror::Impl::Damage() const {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(fs::path(dir) / "objects", ec) || !fs::is_directory(fs::path(dir) / "refs", ec)) {
    return "its folder " + dir + " is gone";
  }
  // A fresh handle: the open one may hold a list of packs since removed.
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, dir.c_str()) != 0) return "it cannot be opened: " + LastGitMessage();
  RepoPtr fresh(raw);
  // The refs bosun writes and reads: the last good commit, the followed ref.
  std::vector<git_oid> commits;
  for (const std::string& name : {std::string(kHeadRef), followed.refname}) {
    if (name.empty()) continue;
    git_reference* ref = nullptr;
    const int rc = git_reference_lookup(&ref, fresh.get(), name.c_str());
    if (rc == GIT_ENOTFOUND) continue;
    if (rc != 0) return "ref " + name + " cannot be read: " + LastGitMessage();
    RefPtr owner(ref);
    // Usually both name the same commit: its tree is read once.
    if (git_reference_type(ref) == GIT_REFERENCE_DIRECT &&
        (commits.empty() || !git_oid_equal(&commits.front(), git_reference_target(ref)))) {
      commits.push_back(*git_reference_target(ref));
    }
  }
  // Every object of those commits' trees, read (a pack cut short or
  // overwritten reads as missing or fails its checksum).
  for (const git_oid& id : commits) {
    git_commit* raw_commit = nullptr;
    if (git_commit_lookup(&raw_commit, fresh.get(), &id) != 0) {
      return "commit " + OidHex(id) + " cannot be read: " + LastGitMessage();
    }
    CommitPtr commit(raw_commit);
    git_tree* raw_tree = nullptr;
    if (git_commit_tree(&raw_tree, commit.get()) != 0) {
      return "the tree of " + OidHex(id) + " cannot be read: " + LastGitMessage();
    }
    TreePtr tree(raw_tree);
    struct Walk {
      git_repository* repo;
      std::string problem;
    } walk{fresh.get(), ""};
    git_tree_walk(
        tree.get(), GIT_TREEWALK_PRE,
        [](const char* root, const git_tree_entry* entry, void* payload) -> int {
          auto* w = static_cast<Walk*>(payload);
          if (git_tree_entry_type(entry) == GIT_OBJECT_COMMIT) return 0;  // a submodule: not ours
          git_object* obj = nullptr;
          if (git_tree_entry_to_object(&obj, w->repo, entry) != 0) {
            w->problem = std::string(root) + git_tree_entry_name(entry) + " cannot be read: " + LastGitMessage();
            return -1;
          }
          git_object_free(obj);
          return 0;
        },
        &walk);
    if (!walk.problem.empty()) return walk.problem;
  }
  return "";
}

Result<std::string> Mirror::Fetch(const ProgressFn& progress, const std::atomic<bool>* cancel) {
  InitLibgit2();
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto fetched = FetchLocked(progress, cancel);
  if (fetched || fetched.error().code() == Code::kUnauthorized || (cancel != nullptr && cancel->load())) {
    return fetched;
  }
  // The mirror is a copy of the remote: one damaged on disk (a pack cut
  // short or overwritten, a ref file garbled, the folder removed) is made
  // again from the remote, instead of failing every fetch, restart or not,
  // with errors that read as the remote's.
  auto repaired = RepairLocked(progress, cancel, fetched.error().message());
  if (!repaired) return repaired.error();
  return *repaired ? **repaired : fetched;
}

Result<bool> Mirror::Repair(const std::atomic<bool>* cancel) {
  InitLibgit2();
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto repaired = RepairLocked({}, cancel, "reading it failed");
  if (!repaired) return repaired.error();
  return repaired->has_value();
}

Result<std::optional<std::string>> Mirror::RepairLocked(const ProgressFn& progress, const std::atomic<bool>* cancel,
                                                        const std::string& seen) {
  Impl& m = *impl_;
  const std::string damage = m.Damage();
  if (damage.empty()) return std::optional<std::string>();
  log::Warn("gitsync", "the local mirror is damaged; making it again from the remote",
            {{"url", m.options.url}, {"dir", m.dir}, {"damage", damage}, {"seen", seen}});
  m.repo.reset();
  std::error_code ec;
  std::filesystem::remove_all(m.dir, ec);
  Status st = Ok();
  if (ec) {
    st = Error(Code::kIo, ec.message());
  } else {
    st = m.OpenRepository();
  }
  if (!st) {
    return Error(Code::kIo, "cannot fetch " + m.options.url + " (" + m.followed.label + "): the local mirror " + m.dir +
                                " is damaged (" + damage + ") and cannot be made again: " + st.error().message());
  }
  log::Info("gitsync", "made the local mirror again; fetching", {{"url", m.options.url}, {"dir", m.dir}});
  auto fetched = FetchLocked(progress, cancel);
  if (!fetched) return fetched.error();
  return std::optional<std::string>(*fetched);
}

Result<std::string> Mirror::FetchLocked(const ProgressFn& progress, const std::atomic<bool>* cancel) {
  Impl& m = *impl_;
  git_repository* repo = m.repo.get();
  std::string prefix = "cannot fetch " + m.options.url + " (" + m.followed.label + "): ";
  if (cancel != nullptr && cancel->load()) return Error(Code::kUnavailable, prefix + "cancelled");
  git_oid old_head;
  bool had_head = git_reference_name_to_id(&old_head, repo, kHeadRef) == 0;

  auto set_head = [&](const git_oid& commit) -> Result<std::string> {
    git_reference* ref = nullptr;
    if (git_reference_create(&ref, repo, kHeadRef, &commit, 1, "bosun: fetch") != 0) {
      return Error(Code::kIo, prefix + "cannot record the fetched commit: " + LastGitMessage());
    }
    git_reference_free(ref);
    std::string id = OidHex(commit);
    if (!had_head || !git_oid_equal(&old_head, &commit)) {
      log::Info("gitsync", "fetched a new commit", {{"url", m.options.url}, {"ref", m.options.ref}, {"rev", id}});
    }
    return id;
  };
  // The commit a ref's target stands for: annotated tags are peeled.
  auto peel = [&](const git_oid& target) -> Result<git_oid> {
    git_object* obj = nullptr;
    if (git_object_lookup(&obj, repo, &target, GIT_OBJECT_ANY) != 0) {
      return Error(Code::kIo, prefix + "the fetched object " + OidHex(target) + " is missing: " + LastGitMessage());
    }
    ObjectPtr owner(obj);
    git_object* commit = nullptr;
    if (git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) != 0) {
      return Error(Code::kInvalid, prefix + "it points at " + git_object_type2string(git_object_type(obj)) + " " +
                                       OidHex(target) + ", not at a commit");
    }
    git_oid id = *git_object_id(commit);
    git_object_free(commit);
    return id;
  };

  git_oid fixed;
  if (m.followed.kind == Followed::Kind::kCommit) {
    git_oid_fromstr(&fixed, m.followed.commit.c_str());
    git_object* obj = nullptr;
    if (git_object_lookup(&obj, repo, &fixed, GIT_OBJECT_COMMIT) == 0) {
      git_object_free(obj);
      return set_head(fixed);  // a commit never changes: no network
    }
  }

  RemoteContext ctx;
  ctx.progress = &progress;
  if (auto st = LoadCredentials(m, &ctx); !st) return Error(st.error().code(), prefix + st.error().message());
  TransferWatch watch(std::chrono::duration_cast<std::chrono::milliseconds>(m.options.timeout), cancel);
  TransferWatch::Scope scope(&watch);
  ctx.watch = &watch;

  auto origin = m.Origin(prefix);
  if (!origin) return origin.error();
  RemotePtr remote = std::move(*origin);
  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  SetRemoteCallbacks(&ctx, &callbacks);
  callbacks.transfer_progress = OnTransferProgress;
  callbacks.pack_progress = OnPackProgress;
  git_proxy_options proxy = GIT_PROXY_OPTIONS_INIT;
  proxy.type = GIT_PROXY_AUTO;  // the *_proxy variables (not http.proxy: no user or system git config is read)

  // libgit2 says "unsupported URL protocol" for a local path that does not
  // exist; say what is wrong instead.
  std::optional<std::string> local_path = LocalRemotePath(m.fetch_url);
  if (local_path && !std::filesystem::exists(*local_path)) {
    return Error(Code::kInvalid, prefix + "not a Git repository: " + *local_path + " does not exist");
  }
  git_error_clear();
  // The ref list is read whole at the connect (a repository with 300,000
  // tags lists ~25 MB); the pack that follows is not limited.
  watch.SetByteLimit(kMaxRefListBytes);
  if (int rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, &proxy, nullptr); rc != 0) {
    return ClassifyRemoteError(prefix, ctx, rc);
  }

  // The remote's refs come with the connection; a missing followed ref is
  // known before anything is downloaded.
  git_oid target{};
  if (m.followed.kind != Followed::Kind::kCommit) {
    const git_remote_head** heads = nullptr;
    size_t count = 0;
    if (int rc = git_remote_ls(&heads, &count, remote.get()); rc != 0) return ClassifyRemoteError(prefix, ctx, rc);
    bool found = false;
    for (size_t i = 0; i < count && !found; i++) {
      if (m.followed.refname == heads[i]->name) {
        target = heads[i]->oid;
        found = true;
      }
    }
    if (!found) {
      git_remote_disconnect(remote.get());
      return Error(Code::kNotFound, prefix + "the remote has no " + m.followed.label + " (deleted or renamed?)" +
                                        (had_head ? "; keeping the last fetched commit" : ""));
    }
  }

  watch.SetByteLimit(0);

  // A target we already hold (nothing new, or a branch reset to an old
  // commit) needs no download.
  bool download = true;
  if (m.followed.kind != Followed::Kind::kCommit) {
    git_odb* odb = nullptr;
    if (git_repository_odb(&odb, repo) == 0) {
      download = git_odb_exists(odb, &target) == 0;
      git_odb_free(odb);
    }
  }
  if (download && local_path) {
    // What the forcing refspecs would fetch: the followed ref, or (for a
    // fixed commit) every branch and tag.
    std::vector<git_oid> wants;
    std::vector<std::pair<std::string, git_oid>> tips;
    if (m.followed.kind == Followed::Kind::kCommit) {
      const git_remote_head** heads = nullptr;
      size_t count = 0;
      if (int rc = git_remote_ls(&heads, &count, remote.get()); rc != 0) return ClassifyRemoteError(prefix, ctx, rc);
      for (size_t i = 0; i < count; i++) {
        std::string name = heads[i]->name;
        if ((!name.starts_with("refs/heads/") && !name.starts_with("refs/tags/")) || name.ends_with("^{}")) continue;
        tips.emplace_back(name, heads[i]->oid);
        wants.push_back(heads[i]->oid);
      }
    } else {
      wants.push_back(target);
    }
    git_error_clear();
    if (int rc = FetchFromLocal(repo, *local_path, wants, callbacks); rc != 0) {
      return ClassifyRemoteError(prefix, ctx, rc);
    }
    for (const auto& [name, oid] : tips) {
      git_reference* ref = nullptr;
      if (git_reference_create(&ref, repo, name.c_str(), &oid, 1, "bosun: fetch") != 0) {
        return Error(Code::kIo, prefix + "cannot update " + name + ": " + LastGitMessage());
      }
      git_reference_free(ref);
    }
  } else if (download) {
    std::string heads_spec = "+refs/heads/*:refs/heads/*";
    std::string tags_spec = "+refs/tags/*:refs/tags/*";
    std::string one_spec = "+" + m.followed.refname + ":" + m.followed.refname;
    char* specs_all[] = {heads_spec.data(), tags_spec.data()};
    char* specs_one[] = {one_spec.data()};
    git_strarray specs{};
    if (m.followed.kind == Followed::Kind::kCommit) {
      specs = {specs_all, 2};
    } else {
      specs = {specs_one, 1};
    }
    git_fetch_options fetch = GIT_FETCH_OPTIONS_INIT;
    fetch.callbacks = callbacks;
    fetch.proxy_opts = proxy;
    fetch.prune = GIT_FETCH_NO_PRUNE;
    fetch.update_fetchhead = 0;
    fetch.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    if (int rc = git_remote_download(remote.get(), &specs, &fetch); rc != 0) {
      return ClassifyRemoteError(prefix, ctx, rc);
    }
    if (m.followed.kind == Followed::Kind::kCommit) {
      if (int rc = git_remote_update_tips(remote.get(), &callbacks, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, "bosun: fetch");
          rc != 0) {
        return ClassifyRemoteError(prefix, ctx, rc);
      }
    }
  }
  if (download) {
    auto elapsed = SteadyClock::now() - ctx.started;
    if (elapsed >= kLogEvery) {
      log::Info("gitsync", "fetch done",
                {{"url", m.options.url},
                 {"ref", m.options.ref},
                 {"objects", std::to_string(ctx.last.received_objects)},
                 {"received", MiB(ctx.last.received_bytes)},
                 {"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count())}});
    }
  }
  git_remote_disconnect(remote.get());

  if (m.followed.kind == Followed::Kind::kCommit) {
    git_object* obj = nullptr;
    if (git_object_lookup(&obj, repo, &fixed, GIT_OBJECT_COMMIT) != 0) {
      return Error(Code::kNotFound, prefix + "no branch or tag of the remote contains that commit");
    }
    git_object_free(obj);
    return set_head(fixed);
  }
  // The local copy of the followed ref moves wherever the remote's went,
  // forward or not (a force-push): the remote is the truth.
  git_reference* ref = nullptr;
  if (git_reference_create(&ref, repo, m.followed.refname.c_str(), &target, 1, "bosun: fetch") != 0) {
    return Error(Code::kIo, prefix + "cannot update " + m.followed.refname + ": " + LastGitMessage());
  }
  git_reference_free(ref);
  auto commit = peel(target);
  if (!commit) return commit.error();
  return set_head(*commit);
}

}  // namespace bosun::gitsync
